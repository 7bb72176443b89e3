/**
 * The two-host world of the handshake and teardown acceptance tests: uTP hosts A (the dialer)
 * and B (the acceptor) on the simulated network, a tap that records every datagram and drops
 * the ones a test chooses, the connection traces of both hosts, and the checks the scenarios
 * share. Every assertion message names the seed.
 */

import { expect } from 'aegir/chai'
import { decodePacket, PacketType, stringifyPacket } from '../../src/engine/packet.ts'
import { SimNetwork } from './network.ts'
import { UtpHost } from './utp-host.ts'
import type { SimAddress } from './network.ts'
import type { Transfer, TransferInit } from './utp-host.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'
import type { EndpointConnection } from '../../src/engine/endpoint.ts'
import type { Packet } from '../../src/engine/packet.ts'

export const A: SimAddress = { host: '10.0.0.1', port: 4000 }
export const B: SimAddress = { host: '10.0.0.2', port: 5000 }
/** one-way delay of every link */
export const DELAY = 25_000
export const RTT = 2 * DELAY
export const MS = 1_000
export const S = 1_000_000
/** longest a connection lingers after closing (connection.ts MAX_LINGER_US), plus a margin */
export const LINGER_BOUND = 12 * S

/** One datagram as the network tap saw it */
export interface Wire {
  t: number
  from: string
  to: string
  p: Packet
  dropped: boolean
}

export interface World {
  seed: number
  net: SimNetwork
  a: UtpHost
  b: UtpHost
  /** every uTP datagram handed to the network, dropped ones included */
  wire: Wire[]
  /** connection trace lines of both hosts */
  logs: string[]
  /** whether {@link dump} lists data packets and their trace lines */
  dumpData: boolean
  /** decides which datagrams the tap drops */
  drop?(w: Wire): boolean
  /** an assertion message naming the seed */
  msg(what: string): string
}

export interface WorldInit {
  config?: Partial<ConnectionConfig>
  /** transfer the acceptor attaches to each accepted connection */
  onIncoming?(entry: EndpointConnection): TransferInit | undefined
  /** default true */
  listen?: boolean
  /** put host B on the network (default true) */
  attachB?: boolean
  maxHalfOpen?: number
  /** failure dumps list data packets and their trace lines (default true) */
  dumpData?: boolean
}

function formatLog (formatter: string, args: any[]): string {
  let i = 0
  return formatter.replace(/%[sdo]/g, () => String(args[i++]))
}

export function world (seed: number, init: WorldInit = {}): World {
  const net = new SimNetwork({ seed })
  const logs: string[] = []
  const logFor = (name: string) => (remote: { address: string, port: number }, recvId: number) => {
    const write = (formatter: string, ...args: any[]): void => {
      logs.push(`${net.now} ${name}#${recvId} ${formatLog(formatter, args)}`)
    }
    return Object.assign(write, { trace: write, enabled: true })
  }
  const a = new UtpHost({ address: A, prng: net.prng.fork(), config: init.config, connectionLog: logFor('A') })
  const b = new UtpHost({
    address: B,
    prng: net.prng.fork(),
    config: init.config,
    onIncoming: init.onIncoming,
    maxHalfOpen: init.maxHalfOpen,
    connectionLog: logFor('B')
  })
  net.attach(A, a)
  if (init.attachB ?? true) {
    net.attach(B, b)
  }
  if (init.listen ?? true) {
    b.listen()
  }
  net.connect(A.host, B.host, { delayUs: DELAY })
  const w: World = {
    seed,
    net,
    a,
    b,
    wire: [],
    logs,
    dumpData: init.dumpData ?? true,
    msg: (what) => `${what} (seed ${seed})`
  }
  net.tap = (now, from, to, bytes) => {
    const p = decodePacket(bytes)
    if (p instanceof Error) {
      return undefined
    }
    const entry: Wire = { t: now, from: from.host, to: to.host, p, dropped: false }
    entry.dropped = w.drop?.(entry) ?? false
    w.wire.push(entry)
    return entry.dropped ? 'drop' : undefined
  }
  return w
}

/** A readable dump of the end of the wire and of the connection traces, for a failing assertion */
export function dump (w: World): string {
  const line = (e: Wire): string => `${e.t} ${e.from}->${e.to} ${stringifyPacket(e.p)}${e.dropped ? ' DROPPED' : ''}`
  if (w.dumpData) {
    return `\nwire:\n${w.wire.map(line).slice(-60).join('\n')}\nlog:\n${w.logs.slice(-60).join('\n')}`
  }
  const wire = w.wire.filter(e => e.p.type !== PacketType.Data || e.dropped).map(line)
  const logs = w.logs.filter(l => !l.includes('type=ST_DATA'))
  return `\nwire (no data):\n${wire.slice(-40).join('\n')}\nlog (no data):\n${logs.slice(-60).join('\n')}`
}

/** Every datagram of `type` that `from` sent, dropped or not */
export function sent (w: World, from: SimAddress, type: number): Wire[] {
  return w.wire.filter(e => e.from === from.host && e.p.type === type)
}

/** A bidirectional transfer: A sends `aSends` bytes, B (the acceptor) `bSends`, both then end unless told not to */
export function bulk (seed: number, aSends: number, bSends: number, endWhenDone = true): { aInit: TransferInit, bInit: TransferInit } {
  return {
    aInit: { send: aSends, sendSeed: seed + 1, recvSeed: seed + 2, endWhenDone },
    bInit: { send: bSends, sendSeed: seed + 2, recvSeed: seed + 1, endWhenDone }
  }
}

/** Every byte arrived once, in order */
export function expectDelivered (w: World, t: Transfer, size: number, side: string): void {
  expect(t.corruptAt, w.msg(`${side}: received stream differs at byte ${String(t.corruptAt)}`)).to.equal(undefined)
  expect(t.received, w.msg(`${side}: bytes received`)).to.equal(size)
}

export function expectClosed (w: World, t: Transfer | undefined, reason: string, side: string): void {
  expect(t?.closed?.reason, w.msg(`${side}: close reason (${t?.closed?.message ?? 'still open'})${dump(w)}`)).to.equal(reason)
}

/** Runs past any lingering, then checks that neither endpoint holds anything */
export function expectForgotten (w: World): void {
  w.net.runTo(w.net.now + LINGER_BOUND)
  for (const [name, host] of [['A', w.a], ['B', w.b]] as const) {
    expect(host.endpoint.size, w.msg(`endpoint ${name} still holds connections${dump(w)}`)).to.equal(0)
    expect(host.endpoint.halfOpen, w.msg(`endpoint ${name} still counts half-open connections`)).to.equal(0)
    expect(host.endpoint.pollTimeout(), w.msg(`endpoint ${name} still has a deadline`)).to.equal(undefined)
  }
}
