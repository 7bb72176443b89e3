/**
 * The three stacks compared on the emulated link, behind one interface for the workers: our
 * `UtpSocket`, libutp through `utp-native` (4 MiB kernel buffers, as in the loopback bench) and
 * TCP through `node:net` (the namespace's default congestion control, cubic).
 *
 * The data sender is the accepting side and the receiver dials, then says hello (one byte): a
 * libutp connection that dials never retransmits on selective ACKs when its random initial seq_nr
 * is 32,768 or more (see test/interop/libutp.spec.ts), which would turn every loss into a 1 s
 * timeout in half the runs; and libutp's accepting side cannot send before it has heard from the
 * dialler. Every stack is run the same way.
 */

import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { UtpSocket } from '../../../src/index.ts'
import { nativeSocket } from '../../lib/utp-native.ts'
import type { UtpConnection } from '../../../src/index.ts'
import type { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { UtpNativeConnection } from 'utp-native'

export type Stack = 'utp' | 'libutp' | 'tcp'

export const STACKS: readonly Stack[] = ['utp', 'libutp', 'tcp']

export interface StackOptions {
  /** our uTP's LEDBAT target delay, ms (libutp's is fixed at 100 ms) */
  targetDelayMs?: number
  /** kernel UDP socket buffers of the uTP stacks, bytes */
  udpBufferSize: number
}

export interface Connection {
  stream: Duplex
  /** our engine's counters (retransmissions, timeouts...); undefined for the other stacks */
  stats(): Record<string, number> | undefined
}

export interface Listening {
  port: number
  accepted: Promise<Connection>
}

const noStats = (): undefined => undefined

async function nextConnection<T> (server: EventEmitter): Promise<T> {
  return new Promise(resolve => { server.once('connection', resolve) })
}

export async function listen (stack: Stack, host: string, options: StackOptions): Promise<Listening> {
  if (stack === 'utp') {
    const socket = new UtpSocket({ udpBufferSize: options.udpBufferSize, targetDelay: options.targetDelayMs })
    await socket.bind(0, host)
    socket.listen()
    const accepted = nextConnection<UtpConnection>(socket).then(conn => ({ stream: conn, stats: () => ({ ...conn.stats }) }))
    return { port: socket.address().port, accepted }
  }
  if (stack === 'libutp') {
    const socket = await nativeSocket(options.udpBufferSize, true, host)
    const accepted = nextConnection<UtpNativeConnection>(socket).then(conn => ({ stream: conn, stats: noStats }))
    return { port: socket.address().port, accepted }
  }
  const server = createServer()
  server.listen(0, host)
  await once(server, 'listening')
  const address = server.address()
  if (address == null || typeof address === 'string') {
    throw new Error('TCP server has no port')
  }
  const accepted = nextConnection<Socket>(server).then(conn => ({ stream: conn, stats: noStats }))
  return { port: address.port, accepted }
}

export async function dial (stack: Stack, host: string, port: number, options: StackOptions): Promise<Connection> {
  if (stack === 'utp') {
    const socket = new UtpSocket({ udpBufferSize: options.udpBufferSize, targetDelay: options.targetDelayMs })
    await socket.bind(0)
    const conn = await socket.connect(port, host)
    return { stream: conn, stats: () => ({ ...conn.stats }) }
  }
  if (stack === 'libutp') {
    const socket = await nativeSocket(options.udpBufferSize, false, '0.0.0.0')
    const conn = socket.connect(port, host)
    await once(conn, 'connect')
    return { stream: conn, stats: noStats }
  }
  const socket = connect(port, host)
  await once(socket, 'connect')
  return { stream: socket, stats: noStats }
}
