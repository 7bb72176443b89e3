import { InvalidConfigError } from './errors.ts'

/** Settings of one uTP connection. Every duration is in microseconds. */
export interface ConnectionConfig {
  /**
   * Largest datagram this connection sends (uTP header included), in bytes. The default fits a
   * 1500-byte Ethernet MTU under IPv6 and IPv4 (1500 - 40 - 8). Range 150..65507.
   */
  packetSize: number
  /**
   * Probe the path for larger datagrams than `packetSize` (RFC 8899 style, with probes that carry
   * no data), up to `maxPacketSize` and the cap the owner gives for the path (the outgoing
   * interface's MTU). Only between peers that both announce it in the handshake.
   */
  pathMtuProbing: boolean
  /** Largest datagram path MTU probing may settle on, bytes. Range 150..65507. */
  maxPacketSize: number
  /**
   * Receive buffer in bytes: unread plus out-of-order data never exceeds it, and the advertised
   * window (`wnd_size`) is what is left of it. The default, 4 MiB, is taken only as data waits:
   * an idle connection holds none of it. 1 MiB held 64 KiB loopback packets to 16 in flight.
   */
  recvBufferSize: number
  /**
   * Bytes of written data (queued or unacknowledged) above which `write()` asks the caller to
   * wait; never less than 64 packets of the current packet size (path MTU probing may raise it)
   */
  sendBufferSize: number
  /** LEDBAT target queuing delay (BEP 29 / RFC 6817: 100 ms) */
  targetDelay: number
  /**
   * LEDBAT gain: the most the window grows per RTT, in packets, while a queue exists (RFC 6817
   * GAIN times MSS; the RFC requires at most 1). With no measurable queue at all it grows twice as
   * fast. libutp grows by 3000 bytes per RTT, about 2 packets, whatever the queue.
   */
  gain: number
  /** Lower bound of the retransmission timeout (libutp: 1 s; RFC 6298 allows less) */
  minRto: number
  /** Upper bound of the retransmission timeout after backoff */
  maxRto: number
  /** Retransmission timeouts in a row without progress before the connection fails with `timed-out` */
  maxRetransmits: number
  /** How long a dial may take before it fails (SYN retransmitted with backoff until then) */
  connectTimeout: number
  /** How long an accepted connection may stay half-open (SYN seen, nothing else) before it is reclaimed */
  handshakeTimeout: number
  /** Close with `timed-out` when nothing arrives for this long; 0 disables */
  idleTimeout: number
  /** Send a keep-alive when nothing was sent for this long; 0 disables. Keep it under NAT UDP timeouts (often 30 s) */
  keepAliveInterval: number
  /** Longest an ACK is held back to be coalesced with others */
  delayedAck: number
  /**
   * Resend the oldest unacknowledged packet after about two RTTs without ACK progress, rather
   * than wait for the retransmission timeout (RFC 8985 tail loss probe)
   */
  tailLossProbe: boolean
}

export const defaultConnectionConfig: Readonly<ConnectionConfig> = Object.freeze({
  packetSize: 1452,
  pathMtuProbing: true,
  maxPacketSize: 65_507,
  recvBufferSize: 4 * 1024 * 1024,
  sendBufferSize: 1024 * 1024,
  targetDelay: 100_000,
  gain: 1,
  minRto: 250_000,
  maxRto: 30_000_000,
  maxRetransmits: 8,
  connectTimeout: 10_000_000,
  handshakeTimeout: 10_000_000,
  idleTimeout: 60_000_000,
  keepAliveInterval: 15_000_000,
  delayedAck: 5_000,
  tailLossProbe: true
})

type BooleanKey = 'tailLossProbe' | 'pathMtuProbing'
type NumericKey = Exclude<keyof ConnectionConfig, BooleanKey>

const BOUNDS: Record<NumericKey, [number, number]> = {
  packetSize: [150, 65_507],
  maxPacketSize: [150, 65_507],
  recvBufferSize: [4096, 1 << 30],
  sendBufferSize: [1, 1 << 30],
  targetDelay: [1_000, 10_000_000],
  gain: [0.01, 100],
  minRto: [1_000, 60_000_000],
  maxRto: [1_000, 600_000_000],
  maxRetransmits: [1, 100],
  connectTimeout: [1_000, 600_000_000],
  handshakeTimeout: [1_000, 600_000_000],
  idleTimeout: [0, Number.MAX_SAFE_INTEGER],
  keepAliveInterval: [0, Number.MAX_SAFE_INTEGER],
  delayedAck: [0, 1_000_000]
}

/** Fills defaults and checks every bound, throwing {@link InvalidConfigError} on the first violation */
export function resolveConnectionConfig (init: Partial<ConnectionConfig> = {}): Readonly<ConnectionConfig> {
  const config: ConnectionConfig = { ...defaultConnectionConfig }
  for (const key of ['tailLossProbe', 'pathMtuProbing'] as const) {
    const value = init[key]
    if (value === undefined) {
      continue
    }
    if (typeof value !== 'boolean') {
      throw new InvalidConfigError(`${key} must be a boolean, got ${String(value)}`)
    }
    config[key] = value
  }
  for (const key of Object.keys(BOUNDS) as NumericKey[]) {
    const value = init[key]
    if (value === undefined) {
      continue
    }
    const [min, max] = BOUNDS[key]
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new InvalidConfigError(`${key} must be a number in [${min}, ${max}], got ${String(value)}`)
    }
    config[key] = value
  }
  if (config.minRto > config.maxRto) {
    throw new InvalidConfigError(`minRto (${config.minRto}) must not exceed maxRto (${config.maxRto})`)
  }
  if (config.idleTimeout > 0 && config.keepAliveInterval >= config.idleTimeout) {
    throw new InvalidConfigError(`keepAliveInterval (${config.keepAliveInterval}) must be shorter than idleTimeout (${config.idleTimeout})`)
  }
  return Object.freeze(config)
}
