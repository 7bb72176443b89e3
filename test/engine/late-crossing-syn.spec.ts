/**
 * Simultaneous open where the SYN that loses the crossing arrives late (reordered behind the
 * packets after it) and the winner's first packet after it connects (its ACK of the SYN-ACK, which
 * confirms the loser's replacement connection) is lost. Found by fuzzing (helper 59): the late SYN
 * was accepted as a new connection, whose SYN-ACK reached the loser's lost dial, which took it for
 * proof of a forged crossing and reset the real connection.
 */

import { expect } from 'aegir/chai'
import { Endpoint } from '../../src/engine/endpoint.ts'
import { decodePacket, PacketType } from '../../src/engine/packet.ts'
import { Prng } from '../sim/prng.ts'
import type { EndpointConnection, RemoteAddress } from '../../src/engine/endpoint.ts'

const LATENCY = 10_000
/** the applications speak this long after their connection is up, µs: the first packet confirming the loser's replacement is late */
const APP_DELAY = 100_000
const ADDRESSES: RemoteAddress[] = [{ address: '192.0.2.1', port: 1000 }, { address: '198.51.100.2', port: 2000 }]

interface Datagram {
  at: number
  to: number
  bytes: Uint8Array
}

/** A transmit's header and payload as one datagram */
function datagramOf (tr: { header: Uint8Array, payload: Uint8Array }): Uint8Array {
  const bytes = new Uint8Array(tr.header.byteLength + tr.payload.byteLength)
  bytes.set(tr.header)
  bytes.set(tr.payload, tr.header.byteLength)
  return bytes
}

/** Hands the endpoints what the wire holds for time `t`, then runs their timers, flushing after each */
function advance (endpoints: Endpoint[], wire: Datagram[], t: number, flush: () => void): void {
  while (wire.length > 0 && wire[0].at <= t) {
    const d = wire.shift() as Datagram
    endpoints[d.to].handle(t, ADDRESSES[1 - d.to], d.bytes)
    flush()
  }
  for (const endpoint of endpoints) {
    endpoint.handleTimeout(t)
  }
  flush()
}

interface Outcome {
  held: EndpointConnection[]
  received: string[]
  unmerged: number
}

/** Both sides listen and dial at t=0; the losing SYN comes `delay` µs late (or on time, and a copy of it that late); each side says hello and ends {@link APP_DELAY} after its connection is up */
function crossing (seed: number, delay: number, duplicate = false): Outcome {
  const endpoints = [0, 1].map(side => {
    const prng = new Prng(seed * 2 + side)
    const endpoint = new Endpoint({ randomBytes: b => { prng.fill(b) } })
    endpoint.listening = true
    return endpoint
  })
  const held = [endpoints[0].connect(0, ADDRESSES[1]), endpoints[1].connect(0, ADDRESSES[0])]
  const loser = held[0].connection.recvId < held[1].connection.recvId ? 1 : 0
  const wire: Datagram[] = []
  const received = ['', '']
  const ended = [false, false]
  /** when each application speaks: {@link APP_DELAY} after its connection is up */
  const speaksAt = [Infinity, Infinity]
  let loserSynDelayed = false
  let winnerAckLost = false
  let unmerged = 0
  let t = 0
  const deliver = (side: number): void => {
    for (let ev = endpoints[side].pollEvent(); ev != null; ev = endpoints[side].pollEvent()) {
      if (ev.type === 'merged' && held[side] === ev.dial) {
        held[side] = ev.connection
      } else if (ev.type === 'unmerged') {
        unmerged++
        // as UtpSocket does: the application goes back to the dial, the replacement is reset
        if (held[side] === ev.connection) {
          held[side] = ev.dial
          ev.connection.connection.reset(t)
          endpoints[side].wake(ev.connection)
        }
      } else if (ev.type === 'connection' && ev.connection === held[side]) {
        for (let chunk = ev.connection.connection.read(t); chunk != null; chunk = ev.connection.connection.read(t)) {
          received[side] += new TextDecoder().decode(chunk)
        }
      }
    }
  }
  const transmit = (side: number): void => {
    for (let tr = endpoints[side].pollTransmit(t); tr != null; tr = endpoints[side].pollTransmit(t)) {
      const bytes = datagramOf(tr)
      const p = decodePacket(bytes)
      if (p instanceof Error) {
        throw p
      }
      let at = t + LATENCY
      if (side === loser && p.type === PacketType.Syn && !loserSynDelayed) {
        loserSynDelayed = true
        if (duplicate) {
          // on time, and a copy `delay` late: the winner sees the crossing and resends its SYN
          wire.push({ at: at + delay, to: 1 - side, bytes })
        } else {
          at += delay
        }
      }
      if (side !== loser && p.type !== PacketType.Syn && !winnerAckLost && held[side].connection.isInitiator && held[side].connection.state >= 2) {
        winnerAckLost = true
        continue
      }
      wire.push({ at, to: 1 - side, bytes })
      wire.sort((x, y) => x.at - y.at)
    }
  }
  const flush = (): void => {
    for (let round = 0; round < 10; round++) {
      for (const side of [0, 1]) {
        deliver(side)
        transmit(side)
      }
    }
  }
  flush()
  while (t < 30_000_000) {
    let next = wire[0]?.at ?? Infinity
    for (const endpoint of endpoints) {
      next = Math.min(next, endpoint.pollTimeout() ?? Infinity)
    }
    for (const side of [0, 1]) {
      if (!ended[side] && speaksAt[side] > t) {
        next = Math.min(next, speaksAt[side])
      }
    }
    if (next === Infinity) {
      break
    }
    t = next
    advance(endpoints, wire, t, flush)
    for (const side of [0, 1]) {
      const c = held[side].connection
      if (speaksAt[side] === Infinity && c.state >= 2) {
        speaksAt[side] = t + APP_DELAY
      }
      if (!ended[side] && t >= speaksAt[side] && c.isWritable) {
        ended[side] = true
        c.write(t, new TextEncoder().encode(`hello from ${side}`))
        c.end(t)
        endpoints[side].wake(held[side])
        flush()
      }
    }
  }
  return { held, received, unmerged }
}

describe('a late SYN that lost a simultaneous open', () => {
  // a copy that comes late follows a crossing the winner saw: its SYN went out twice, which
  // leaves no RTT sample (Karn), and the window fell to its 5 ms floor
  for (const [delay, duplicate] of [[15_000, false], [30_000, false], [500_000, false], [25_000, true]] as const) {
    it(`${duplicate ? 'a copy of it ' : ''}comes ${delay / 1000} ms late: both applications keep the one connection, and it carries their data`, () => {
      const { held, received, unmerged } = crossing(1, delay, duplicate)
      const [a, b] = held.map(h => h.connection)
      expect(a.sendId).to.equal(b.recvId)
      expect(b.sendId).to.equal(a.recvId)
      expect(unmerged).to.equal(0)
      expect(a.reason).to.equal('closed')
      expect(b.reason).to.equal('closed')
      expect(received).to.deep.equal(['hello from 1', 'hello from 0'])
    })
  }

  /**
   * A dials B; `gap` µs after A's dial connected, B (or a B restarted on the same address) dials
   * A. Returns B's dial once it has connected or closed
   */
  function dialBack (gap: number, restart: boolean): EndpointConnection {
    let seed = 7
    const endpoint = (): Endpoint => {
      const prng = new Prng(seed++)
      const e = new Endpoint({ randomBytes: b => { prng.fill(b) } })
      e.listening = true
      return e
    }
    const endpoints = [endpoint(), endpoint()]
    const wire: Datagram[] = []
    let t = 0
    const flush = (): void => {
      for (const side of [0, 1]) {
        for (let tr = endpoints[side].pollTransmit(t); tr != null; tr = endpoints[side].pollTransmit(t)) {
          wire.push({ at: t + LATENCY, to: 1 - side, bytes: datagramOf(tr) })
        }
        while (endpoints[side].pollEvent() != null) {}
      }
      wire.sort((x, y) => x.at - y.at)
    }
    const first = endpoints[0].connect(t, ADDRESSES[1])
    flush()
    let dialsAt = Infinity
    let second: EndpointConnection | undefined
    while (t < 30_000_000) {
      let next = Math.min(wire[0]?.at ?? Infinity, second == null ? dialsAt : Infinity)
      for (const e of endpoints) {
        next = Math.min(next, e.pollTimeout() ?? Infinity)
      }
      t = next
      advance(endpoints, wire, t, flush)
      if (dialsAt === Infinity && first.connection.state >= 2) {
        dialsAt = t + gap
      }
      if (second == null && t >= dialsAt) {
        if (restart) {
          endpoints[1] = endpoint()
        }
        second = endpoints[1].connect(t, ADDRESSES[0])
        flush()
      }
      if (second != null && (second.connection.isClosed || second.connection.state >= 2)) {
        return second
      }
    }
    throw new Error('the dial back never connected nor closed')
  }

  for (const [gap, restart] of [[50_000, false], [100_000, false], [50_000, true]] as const) {
    it(`is not a peer dialling back ${gap / 1000} ms after our dial connected${restart ? ', restarted' : ''}: its first SYN connects`, () => {
      // the window is two handshake round trips (40 ms here): a dial-back (AutoNAT, a peer that
      // restarted) waited for its third SYN, 3 s, when the window was 2 s
      const back = dialBack(gap, restart)
      expect(back.connection.isClosed).to.equal(false)
      expect(back.connection.stats.timeouts).to.equal(0)
    })
  }
})
