/**
 * Checks the socket's options up front, each named in the units the caller used: a bad value
 * would otherwise surface late (a stream option when the first peer connects, and then out of the
 * event loop), silently (a buffer size the kernel refused, a mistyped mode read as `true`), or in
 * the engine's microseconds.
 */

import { resolveConnectionConfig } from '../engine/config.ts'
import { InvalidConfigError } from '../engine/errors.ts'
import type { UtpSocketOptions } from './utp-socket.ts'
import type { ConnectionConfig } from '../engine/config.ts'

const MS = 1000

/** the options in bytes, which the engine takes as they are */
const BYTE_OPTIONS = ['packetSize', 'maxPacketSize', 'recvBufferSize', 'sendBufferSize'] as const

/** the options given in ms, which the engine takes in µs */
const MILLISECOND_OPTIONS = ['targetDelay', 'connectTimeout', 'idleTimeout', 'keepAliveInterval'] as const

/** The engine configuration the options ask for; throws {@link InvalidConfigError} on a bad option */
export function socketEngineConfig (options: UtpSocketOptions): Partial<ConnectionConfig> {
  checkOptions(options)
  const config: Partial<ConnectionConfig> = { ...options.engine }
  if (options.pathMtuProbing != null) {
    config.pathMtuProbing = options.pathMtuProbing !== false
  }
  for (const key of BYTE_OPTIONS) {
    const value = options[key]
    if (value != null) {
      config[key] = value
    }
  }
  for (const key of MILLISECOND_OPTIONS) {
    const value = options[key]
    if (value != null) {
      config[key] = value * MS
    }
  }
  try {
    resolveConnectionConfig(config)
  } catch (err: any) {
    const key = MILLISECOND_OPTIONS.find(k => typeof err?.message === 'string' && err.message.includes(k))
    if (err instanceof InvalidConfigError && key != null) {
      throw new InvalidConfigError(`${err.message} (in µs; the socket options ${MILLISECOND_OPTIONS.join(', ')} are in ms)`)
    }
    throw err
  }
  return config
}

function checkOptions (options: UtpSocketOptions): void {
  if (options.type != null && options.type !== 'udp4' && options.type !== 'udp6') {
    throw new InvalidConfigError(`type must be 'udp4' or 'udp6', got ${String(options.type)}`)
  }
  for (const key of MILLISECOND_OPTIONS) {
    const value = options[key]
    if (value != null && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) {
      throw new InvalidConfigError(`${key} must be a number of ms, at least 0, got ${String(value)}`)
    }
  }
  if (options.udpBufferSize != null && !isPositiveInteger(options.udpBufferSize)) {
    throw new InvalidConfigError(`udpBufferSize must be a positive integer (bytes), got ${String(options.udpBufferSize)}`)
  }
  if (options.maxHalfOpen != null && !isPositiveInteger(options.maxHalfOpen)) {
    throw new InvalidConfigError(`maxHalfOpen must be a positive integer, got ${String(options.maxHalfOpen)}`)
  }
  if (options.pathMtuProbing != null && typeof options.pathMtuProbing !== 'boolean' && options.pathMtuProbing !== 'all-paths') {
    throw new InvalidConfigError(`pathMtuProbing must be true, false or 'all-paths', got ${String(options.pathMtuProbing)}`)
  }
  for (const key of ['probeUnreachable', 'simultaneousOpen'] as const) {
    if (options[key] != null && typeof options[key] !== 'boolean') {
      throw new InvalidConfigError(`${key} must be true or false, got ${String(options[key])}`)
    }
  }
  const stream = options.connection
  if (stream?.allowHalfOpen != null && typeof stream.allowHalfOpen !== 'boolean') {
    throw new InvalidConfigError(`connection.allowHalfOpen must be true or false, got ${String(stream.allowHalfOpen)}`)
  }
  checkTimeoutMs('connection.orphanTimeout', stream?.orphanTimeout, '0: no limit')
  if (stream?.readableHighWaterMark != null && !(Number.isInteger(stream.readableHighWaterMark) && stream.readableHighWaterMark >= 0)) {
    throw new InvalidConfigError(`connection.readableHighWaterMark must be an integer, at least 0 (bytes), got ${String(stream.readableHighWaterMark)}`)
  }
}

/** A timeout of a layer above the engine, ms: unset, or at least 0 (Infinity allowed; `zero` says what 0 means) */
export function checkTimeoutMs (name: string, value: unknown, zero: string): void {
  if (value != null && (typeof value !== 'number' || Number.isNaN(value) || value < 0)) {
    throw new InvalidConfigError(`${name} must be a number of ms, at least 0 (${zero}), got ${String(value)}`)
  }
}

function isPositiveInteger (n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n > 0
}
