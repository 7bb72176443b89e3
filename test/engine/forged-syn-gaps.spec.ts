/**
 * A SYN forged "from" the peer we dial, with connection id 0, wins the crossing with our dial: the
 * dial is kept (a lost dial) until the connection that replaced it is confirmed. Two answers of
 * the peer show the crossing SYN forged besides its SYN-ACK to our own SYN: its ST_RESET to the
 * replacement's SYN-ACK (which may overtake that SYN-ACK), and its first data when its SYN-ACK
 * was lost. Either way the dial must come back, and a dial nothing answers must still end.
 */

import { expect } from 'aegir/chai'
import { ConnState } from '../../src/engine/connection.ts'
import { Endpoint } from '../../src/engine/endpoint.ts'
import { decodePacket, encodePacket, PacketType } from '../../src/engine/packet.ts'
import { concatBytes, readAll, scriptedRandomBytes, seededRandomBytes } from './helpers.ts'
import type { EndpointConnection, EndpointEvent, RemoteAddress } from '../../src/engine/endpoint.ts'
import type { Packet } from '../../src/engine/packet.ts'

const A: RemoteAddress = { address: '198.51.100.1', port: 1000 }
const B: RemoteAddress = { address: '198.51.100.2', port: 2000 }
const FORGED_SYN = encodePacket({ type: PacketType.Syn, connectionId: 0, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 0, ackNr: 0 })

function transmits (endpoint: Endpoint, now: number): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let t = endpoint.pollTransmit(now); t != null; t = endpoint.pollTransmit(now)) {
    out.push(concatBytes([t.header, t.payload]))
  }
  return out
}

function events (endpoint: Endpoint): EndpointEvent[] {
  const out: EndpointEvent[] = []
  for (let ev = endpoint.pollEvent(); ev != null; ev = endpoint.pollEvent()) {
    out.push(ev)
  }
  return out
}

function decode (bytes: Uint8Array): Packet {
  const p = decodePacket(bytes)
  if (p instanceof Error) {
    throw p
  }
  return p
}

/** Hands every datagram to `to`, as from `from` */
function deliver (to: Endpoint, now: number, from: RemoteAddress, datagrams: Uint8Array[]): void {
  for (const d of datagrams) {
    to.handle(now, from, d)
  }
}

interface Crossing {
  /** us, dialling b */
  a: Endpoint
  /** the peer, listening, which never dials */
  b: Endpoint
  dial: EndpointConnection
  /** our dial's SYN, on its way to b */
  ourSyn: Uint8Array
  /** a's accepting side of the forged SYN */
  replacement: EndpointConnection
  /** the replacement's SYN-ACK, on its way to b */
  replacementSynAck: Uint8Array
  /** b's side of our SYN */
  accepted: EndpointConnection
  /** b's SYN-ACK to our SYN, on its way to a */
  synAck: Uint8Array
}

/** a dials b; the forged SYN wins the crossing at a; b accepts our SYN */
function forgedCrossing (seed: number): Crossing {
  const a = new Endpoint({ randomBytes: seededRandomBytes(seed) })
  a.listening = true
  const b = new Endpoint({ randomBytes: seededRandomBytes(seed + 1000) })
  b.listening = true
  const dial = a.connect(0, B)
  const [ourSyn] = transmits(a, 0)
  expect(a.handle(1_000, B, FORGED_SYN)).to.equal('handled')
  const [merged] = events(a)
  if (merged?.type !== 'merged' || merged.dial !== dial) {
    throw new Error(`seed ${seed}: the forged SYN did not win the crossing`)
  }
  const [replacementSynAck] = transmits(a, 1_000)
  expect(decode(replacementSynAck)).to.include({ type: PacketType.State, connectionId: 0 })
  expect(b.handle(2_000, A, ourSyn)).to.equal('handled')
  const [incoming] = events(b)
  if (incoming?.type !== 'incoming') {
    throw new Error(`seed ${seed}: b did not accept our SYN`)
  }
  const [synAck] = transmits(b, 2_000)
  expect(decode(synAck)).to.include({ type: PacketType.State, ackNr: decode(ourSyn).seqNr })
  return { a, b, dial, ourSyn, replacement: merged.connection, replacementSynAck, accepted: incoming.connection, synAck }
}

/** b's ST_RESET to the replacement's SYN-ACK, which names no connection of b's */
function resetOfReplacement (c: Crossing, now: number): Uint8Array {
  expect(c.b.handle(now, A, c.replacementSynAck)).to.equal('unknown')
  const [reset] = transmits(c.b, now)
  expect(decode(reset)).to.include({ type: PacketType.Reset, connectionId: 0 })
  return reset
}

/** What the socket does on 'unmerged': resets the replacement if it is still open */
function dropReplacement (c: Crossing, now: number): void {
  if (!c.replacement.connection.isClosed) {
    c.replacement.connection.reset(now)
    c.a.wake(c.replacement)
  }
}

/** Both sides carry data both ways on the dial and on b's accepted connection */
function expectCarries (c: Crossing, start: number, label: string): void {
  let now = start
  const toB = new TextEncoder().encode(`a to b, ${label}`)
  const toA = new TextEncoder().encode(`b to a, ${label}`)
  c.dial.connection.write(now, toB)
  c.accepted.connection.write(now, toA)
  c.a.wake(c.dial)
  c.b.wake(c.accepted)
  for (let round = 0; round < 20; round++) {
    now += 10_000
    c.a.handleTimeout(now)
    c.b.handleTimeout(now)
    deliver(c.b, now, A, transmits(c.a, now))
    deliver(c.a, now, B, transmits(c.b, now))
    events(c.a)
    events(c.b)
  }
  expect(readAll(c.accepted.connection, now), `${label}: a -> b`).to.deep.equal(toB)
  expect(readAll(c.dial.connection, now), `${label}: b -> a`).to.deep.equal(toA)
  expect(c.accepted.connection.isConfirmed, `${label}: b's connection confirmed`).to.equal(true)
  expect(c.a.size, `${label}: a holds the dial alone`).to.equal(1)
  expect(c.b.size, `${label}: b holds one connection`).to.equal(1)
}

describe('forged SYN that wins a crossing: the gaps', () => {
  it('the peer\'s ST_RESET to the replacement overtakes its SYN-ACK to our SYN: the dial goes on and connects (20 seeds)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const c = forgedCrossing(seed)
      const reset = resetOfReplacement(c, 3_000)
      expect(c.a.handle(4_000, B, reset), `seed ${seed}`).to.equal('handled')
      expect(c.replacement.connection.isClosed, `seed ${seed}: replacement reset`).to.equal(true)
      expect(events(c.a).filter(ev => ev.type === 'unmerged'), `seed ${seed}`).to.deep.equal([{ type: 'unmerged', dial: c.dial, connection: c.replacement }])
      expect(c.dial.connection.state, `seed ${seed}`).to.equal(ConnState.SynSent)
      // the SYN-ACK, late: the dial connects, and its ACK confirms b's connection
      expect(c.a.handle(5_000, B, c.synAck), `seed ${seed}`).to.equal('handled')
      expect(c.dial.connection.state, `seed ${seed}`).to.equal(ConnState.Connected)
      expectCarries(c, 5_000, `seed ${seed}`)
    }
  })

  it('the SYN-ACK to our SYN is lost and the peer resets the replacement: the dial resends its SYN at once', () => {
    const c = forgedCrossing(7)
    const reset = resetOfReplacement(c, 3_000)
    c.a.handle(4_000, B, reset)
    events(c.a)
    const resent = transmits(c.a, 4_000).map(decode)
    const ours = decode(c.ourSyn)
    expect(resent).to.have.lengthOf(1)
    expect(resent[0]).to.include({ type: PacketType.Syn, connectionId: ours.connectionId, seqNr: ours.seqNr })
    // b answers the duplicate SYN with its SYN-ACK again
    expect(c.b.handle(5_000, A, c.ourSyn)).to.equal('handled')
    deliver(c.a, 6_000, B, transmits(c.b, 5_000))
    expect(c.dial.connection.state).to.equal(ConnState.Connected)
    expectCarries(c, 6_000, 'resent SYN')
  })

  it('a dial that goes on after the reset still ends at its connect deadline when nothing answers it', () => {
    const c = forgedCrossing(8)
    c.a.handle(4_000, B, resetOfReplacement(c, 3_000))
    let now = 4_000
    const seen: EndpointEvent[] = [...events(c.a)]
    for (let round = 0; round < 1000 && c.a.size > 0; round++) {
      now = Math.max(now + 1, c.a.pollTimeout() ?? now + 1_000_000)
      c.a.handleTimeout(now)
      transmits(c.a, now)
      seen.push(...events(c.a))
    }
    expect(c.a.size).to.equal(0)
    expect(c.a.pollTimeout()).to.equal(undefined)
    const closed = seen.find(ev => ev.type === 'connection' && ev.connection === c.dial && ev.event.type === 'closed')
    expect(closed?.type === 'connection' && closed.event.type === 'closed' ? closed.event.reason : undefined).to.equal('timed-out')
    // from the dial's start, not from the reset
    expect(now).to.be.at.most(c.a.config.connectTimeout + 2_000_000)
  })

  it('a dial that goes on after the reset still merges with a crossing SYN (the peer dials after all)', () => {
    const c = forgedCrossing(12)
    c.a.handle(4_000, B, resetOfReplacement(c, 3_000))
    events(c.a)
    transmits(c.a, 4_000)
    const ours = decode(c.ourSyn)
    // below ours: this SYN wins the crossing
    const lower = encodePacket({ type: PacketType.Syn, connectionId: 2, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 0, ackNr: 0 })
    expect(ours.connectionId, 'the seed gives our dial a higher id').to.be.above(2)
    expect(c.a.handle(5_000, B, lower)).to.equal('handled')
    const merged = events(c.a).filter(ev => ev.type === 'merged')
    expect(merged).to.have.lengthOf(1)
    expect(merged[0]).to.include({ type: 'merged', dial: c.dial })
  })

  it('a replacement closed by us, or timed out, still lets its lost dial go', () => {
    for (const how of ['reset', 'timeout'] as const) {
      const c = forgedCrossing(9)
      let now = 3_000
      if (how === 'reset') {
        dropReplacement(c, now)
      } else {
        while (!c.replacement.connection.isClosed) {
          now = c.a.pollTimeout() ?? now + 1_000_000
          c.a.handleTimeout(now)
          transmits(c.a, now)
        }
      }
      expect(events(c.a).filter(ev => ev.type === 'unmerged'), how).to.deep.equal([])
      expect(c.a.handle(now + 1, B, c.synAck), how).to.equal('unknown')
      expect(c.dial.connection.state, how).to.equal(ConnState.SynSent)
    }
  })

  it('the SYN-ACK to our SYN is lost and the peer\'s first data comes: the dial comes back, asks for the SYN-ACK and keeps the data', () => {
    const c = forgedCrossing(10)
    // b's SYN-ACK (c.synAck) is lost; b's application writes at once
    const hello = new TextEncoder().encode('hello first')
    c.accepted.connection.write(3_000, hello)
    c.b.wake(c.accepted)
    const data = transmits(c.b, 3_000)
    expect(data.map(d => decode(d).type)).to.deep.equal([PacketType.Data])
    expect(c.a.handle(4_000, B, data[0])).to.equal('handled')
    expect(events(c.a).filter(ev => ev.type === 'unmerged')).to.deep.equal([{ type: 'unmerged', dial: c.dial, connection: c.replacement }])
    dropReplacement(c, 4_000)
    const out = transmits(c.a, 4_000)
    const ours = decode(c.ourSyn)
    const syns = out.map(decode).filter(p => p.type === PacketType.Syn)
    expect(syns).to.have.lengthOf(1)
    expect(syns[0]).to.include({ connectionId: ours.connectionId, seqNr: ours.seqNr })
    // b answers the SYN with its SYN-ACK again (the replacement's ST_RESET is nothing to b)
    deliver(c.b, 5_000, A, out)
    deliver(c.a, 6_000, B, transmits(c.b, 5_000))
    expect(c.dial.connection.state).to.equal(ConnState.Connected)
    expect(readAll(c.dial.connection, 6_000)).to.deep.equal(hello)
    expectCarries(c, 6_000, 'data first')
  })

  it('data that does not acknowledge our SYN brings nothing back', () => {
    const c = forgedCrossing(11)
    const ours = decode(c.ourSyn)
    const forged = encodePacket({ type: PacketType.Data, connectionId: ours.connectionId, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 1, ackNr: (ours.seqNr + 1) & 0xffff, payload: new Uint8Array([1]) })
    expect(c.a.handle(3_000, B, forged)).to.equal('unknown')
    expect(events(c.a)).to.deep.equal([])
    // the genuine answer still restores it
    expect(c.a.handle(4_000, B, c.synAck)).to.equal('handled')
    expect(events(c.a).filter(ev => ev.type === 'unmerged')).to.have.lengthOf(1)
    expect(c.dial.connection.state).to.equal(ConnState.Connected)
  })
})

describe('Endpoint: a lost dial keeps its connection id', () => {
  it('a second dial to the same peer does not take the id of a dial that lost a crossing', () => {
    // the dial draws id 500, the second dial draws 500 again: it must take another
    const a = new Endpoint({ randomBytes: scriptedRandomBytes([500, 1000, 7, 500, 600, 2000]) })
    a.listening = true
    const dial = a.connect(0, B)
    expect(dial.connection.recvId).to.equal(500)
    transmits(a, 0)
    expect(a.handle(1_000, B, FORGED_SYN)).to.equal('handled')
    const [merged] = events(a)
    expect(merged).to.include({ type: 'merged', dial })
    const second = a.connect(2_000, B)
    expect(second.connection.recvId).to.not.equal(dial.connection.recvId)
  })
})
