/**
 * Simultaneous open: two endpoints dial each other at the same moment (NAT hole punching). Each
 * side may see the other's SYN, or only one side does because a NAT dropped the first SYN that
 * reached it. Whatever gets through, both must end with exactly one connection, one initiator and
 * one acceptor, that carries data both ways.
 */

import { expect } from 'aegir/chai'
import { ConnState } from '../../src/engine/connection.ts'
import { Endpoint } from '../../src/engine/endpoint.ts'
import { encodePacket, PacketType } from '../../src/engine/packet.ts'
import { concatBytes, readAll, seededRandomBytes } from './helpers.ts'
import type { EndpointConnection, EndpointEvent, RemoteAddress } from '../../src/engine/endpoint.ts'

const A: RemoteAddress = { address: '198.51.100.1', port: 1000 }
const B: RemoteAddress = { address: '198.51.100.2', port: 2000 }
const STEP_US = 10_000

interface Side {
  name: 'a' | 'b'
  endpoint: Endpoint
  self: RemoteAddress
  /** what the application holds: its dial, replaced when the dial merges */
  dial: EndpointConnection
  events: EndpointEvent[]
}

interface Run {
  a: Side
  b: Side
  now: number
}

/**
 * Both dial at once. With `natDrops`, each side sits behind a NAT that drops whatever arrives
 * from the peer before its own side has sent something there (port-restricted cone); `bFirst`
 * decides whose packets go first in each lock-step round of {@link STEP_US}.
 */
function crossDial (seed: number, listening: boolean, natDrops: boolean, bFirst = false): Run {
  const make = (name: 'a' | 'b', self: RemoteAddress, peer: RemoteAddress, s: number): Side => {
    const endpoint = new Endpoint({ randomBytes: seededRandomBytes(s) })
    endpoint.listening = listening
    return { name, endpoint, self, dial: endpoint.connect(0, peer), events: [] }
  }
  const run: Run = { a: make('a', A, B, seed * 2 + 1), b: make('b', B, A, seed * 2 + 2), now: 0 }
  const hasSent = { a: false, b: false }
  const order = bFirst ? [[run.b, run.a], [run.a, run.b]] as const : [[run.a, run.b], [run.b, run.a]] as const
  for (let round = 0; round < 400; round++) {
    run.now += STEP_US
    for (const [from, to] of order) {
      from.endpoint.handleTimeout(run.now)
      for (let t = from.endpoint.pollTransmit(run.now); t != null; t = from.endpoint.pollTransmit(run.now)) {
        hasSent[from.name] = true
        if (natDrops && !hasSent[to.name]) {
          continue
        }
        to.endpoint.handle(run.now, from.self, concatBytes([t.header, t.payload]))
      }
      for (let ev = to.endpoint.pollEvent(); ev != null; ev = to.endpoint.pollEvent()) {
        to.events.push(ev)
        if (ev.type === 'merged' && ev.dial === to.dial) {
          to.dial = ev.connection
        }
      }
    }
    // the acceptor counts as connected at once (it may send first); the initiator on the SYN-ACK
    if (run.a.dial.connection.state !== ConnState.SynSent && run.b.dial.connection.state !== ConnState.SynSent) {
      return run
    }
  }
  throw new Error(`seed ${seed}: no connection after 400 rounds (a state ${run.a.dial.connection.state}, b state ${run.b.dial.connection.state})`)
}

function pump (run: Run): void {
  for (let round = 0; round < 50; round++) {
    run.now += STEP_US
    for (const [from, to] of [[run.a, run.b], [run.b, run.a]] as const) {
      from.endpoint.handleTimeout(run.now)
      for (let t = from.endpoint.pollTransmit(run.now); t != null; t = from.endpoint.pollTransmit(run.now)) {
        to.endpoint.handle(run.now, from.self, concatBytes([t.header, t.payload]))
      }
      for (let ev = to.endpoint.pollEvent(); ev != null; ev = to.endpoint.pollEvent()) {
        to.events.push(ev)
      }
    }
  }
}

function expectOneConnection (run: Run, seed: number): void {
  const label = `seed ${seed}`
  expect(run.a.endpoint.size, `${label}: connections on a`).to.equal(1)
  expect(run.b.endpoint.size, `${label}: connections on b`).to.equal(1)
  expect(run.a.dial.connection.isInitiator, `${label}: exactly one initiator`).to.not.equal(run.b.dial.connection.isInitiator)
  expect(run.a.dial.connection.recvId, `${label}: ids pair up`).to.equal(run.b.dial.connection.sendId)
  expect(run.b.dial.connection.recvId, `${label}: ids pair up`).to.equal(run.a.dial.connection.sendId)
  const merged = [...run.a.events, ...run.b.events].filter(ev => ev.type === 'merged')
  expect(merged, `${label}: one side merged`).to.have.lengthOf(1)
  expect([...run.a.events, ...run.b.events].filter(ev => ev.type === 'incoming'), `${label}: no listener saw it`).to.have.lengthOf(0)
  const toB = new TextEncoder().encode(`from a ${seed}`)
  const toA = new TextEncoder().encode(`from b ${seed}`)
  run.a.dial.connection.write(run.now, toB)
  run.b.dial.connection.write(run.now, toA)
  run.a.endpoint.wake(run.a.dial)
  run.b.endpoint.wake(run.b.dial)
  pump(run)
  expect(readAll(run.b.dial.connection, run.now), `${label}: a -> b`).to.deep.equal(toB)
  expect(readAll(run.a.dial.connection, run.now), `${label}: b -> a`).to.deep.equal(toA)
}

describe('simultaneous open', () => {
  it('both SYNs arrive: one connection, whichever SYN wins (200 seeds, listening or not)', () => {
    for (let seed = 0; seed < 200; seed++) {
      const run = crossDial(seed, seed % 2 === 0, false, seed % 4 < 2)
      // nothing waited for a retransmission timer (1 s): the losing SYN's side answered at once
      expect(run.now, `seed ${seed}: connected after`).to.be.at.most(3 * STEP_US)
      expectOneConnection(run, seed)
    }
  })

  it('the first SYN dies at the peer\'s NAT: still one connection, without waiting for a SYN timeout (200 seeds)', () => {
    for (let seed = 0; seed < 200; seed++) {
      const run = crossDial(seed, true, true, seed % 2 === 0)
      expect(run.now, `seed ${seed}: connected after`).to.be.at.most(4 * STEP_US)
      expectOneConnection(run, seed)
    }
  })

  it('a dial towards a peer whose SYN was accepted but not confirmed can take that connection over', () => {
    const a = new Endpoint({ randomBytes: seededRandomBytes(1) })
    a.listening = true
    a.handle(0, B, encodePacket({ type: PacketType.Syn, connectionId: 500, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 77, ackNr: 0 }))
    const accepted = a.pollEvent()
    expect(accepted?.type).to.equal('incoming')
    expect(a.unconfirmedFrom(B)).to.equal(accepted?.type === 'incoming' ? accepted.connection : undefined)
    expect(a.unconfirmedFrom({ address: B.address, port: B.port + 1 })).to.equal(undefined)
    expect(a.unconfirmedFrom(A)).to.equal(undefined)
  })

  it('a forged SYN that wins the crossing: the peer\'s SYN-ACK to our own SYN brings the dial back, and a real crossing lets it go', () => {
    const forgedSyn = encodePacket({ type: PacketType.Syn, connectionId: 0, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 0, ackNr: 0 })
    for (const confirmedFirst of [false, true]) {
      const a = new Endpoint({ randomBytes: seededRandomBytes(5) })
      const b = new Endpoint({ randomBytes: seededRandomBytes(6) })
      b.listening = true
      const dial = a.connect(0, B)
      const ourSyn = a.pollTransmit(0)
      expect(ourSyn).to.not.equal(undefined)
      // a SYN "from B" with id 0 wins the crossing with our dial
      a.handle(1, B, forgedSyn)
      const merged = a.pollEvent()
      expect(merged?.type).to.equal('merged')
      const replacement = merged?.type === 'merged' ? merged.connection : undefined
      if (confirmedFirst) {
        // a real crossing: the peer confirms the replacement (its ACK of the SYN-ACK, whose ack_nr is
        // one before the SYN-ACK's seq_nr, BEP 29), and never answers our SYN; a late packet in our
        // dial's name is then unknown
        a.handle(2, B, encodePacket({ type: PacketType.State, connectionId: 1, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 1, ackNr: ((replacement?.connection.initialSeqNr ?? 0) - 1) & 0xffff }))
        expect(replacement?.connection.isConfirmed).to.equal(true)
      }
      // B, which never dialled, answers our SYN
      b.handle(3, A, concatBytes([ourSyn?.header ?? new Uint8Array(0), ourSyn?.payload ?? new Uint8Array(0)]))
      expect(b.pollEvent()?.type).to.equal('incoming')
      let synAck
      for (let t = b.pollTransmit(3); t != null; t = b.pollTransmit(3)) {
        synAck ??= concatBytes([t.header, t.payload])
      }
      const result = a.handle(4, B, synAck as Uint8Array)
      if (confirmedFirst) {
        expect(result).to.equal('unknown')
        expect(dial.connection.state).to.equal(ConnState.SynSent)
        continue
      }
      expect(result).to.equal('handled')
      const unmerged = a.pollEvent()
      expect(unmerged).to.deep.include({ type: 'unmerged', dial, connection: replacement })
      expect(dial.connection.state).to.equal(ConnState.Connected)
    }
  })

  it('merges nothing when simultaneous open is off: two connections, as before', () => {
    const a = new Endpoint({ randomBytes: seededRandomBytes(3), simultaneousOpen: false })
    a.listening = true
    a.connect(0, B)
    a.handle(0, B, encodePacket({ type: PacketType.Syn, connectionId: 500, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 77, ackNr: 0 }))
    expect(a.size).to.equal(2)
    expect(a.pollEvent()?.type).to.equal('incoming')
  })
})
