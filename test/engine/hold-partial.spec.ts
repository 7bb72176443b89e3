/**
 * `holdPartial` polls: a caller that polls at every write may keep the tail of a bulk write (a
 * data packet shorter than the packet size) back while a full packet's worth is unacknowledged,
 * and sends it with a later poll without `holdPartial`. Interactive traffic (nothing, or less
 * than a full packet, in flight) is never delayed, full packets always go out, and a FIN waits
 * behind held data. Time is always explicit (µs); the clock does not move unless a test says so.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { FixedWindow } from '../../src/engine/congestion/fixed.ts'
import { ConnState, maxPayloadFor } from '../../src/engine/connection.ts'
import { PacketType } from '../../src/engine/packet.ts'
import { seqAdd } from '../../src/engine/seq.ts'
import {
  ADDR_A,
  ConnectionPair,
  EndpointPair,
  decodeTransmit,
  drainEvents,
  readAll,
  recvAll,
  streamBytes,
  transmitBytes
} from './helpers.ts'
import type { Connection } from '../../src/engine/connection.ts'
import type { Packet } from '../../src/engine/packet.ts'

const CONFIG = resolveConnectionConfig()
const MSS = maxPayloadFor(CONFIG.packetSize)
/** congestion window of the test double: never the limit here */
const WINDOW = 1 << 20
/** two full packets and half a packet */
const BULK = 2 * MSS + Math.floor(MSS / 2)
const TAIL = BULK - 2 * MSS

// ---------------------------------------------------------------- fixtures

/** Two connections with the handshake done, the wire empty and nothing in flight */
function connectedPair (seed: number): ConnectionPair {
  const pair = new ConnectionPair(CONFIG, { seed, congestionController: () => new FixedWindow(WINDOW) })
  expect(pair.runUntil(() => pair.hasAcceptor && pair.a.state === ConnState.Connected && pair.b.isConfirmed && pair.wire.length === 0))
    .to.equal(true, 'handshake')
  expect(pair.a.packetSize).to.equal(CONFIG.packetSize)
  expect(pair.a.flight).to.equal(0)
  return pair
}

/** Every packet `conn` sends at `t` in `holdPartial` polls (polls until it returns undefined) */
function pollHeld (conn: Connection, t: number): Packet[] {
  const out: Packet[] = []
  for (let tr = conn.pollTransmit(t, true); tr != null; tr = conn.pollTransmit(t, true)) {
    out.push(decodeTransmit(tr))
    if (out.length > 1000) {
      throw new Error('runaway pollTransmit')
    }
  }
  return out
}

/** [type, payload length] of each packet */
function shape (packets: Packet[]): Array<[number, number]> {
  return packets.map(p => [p.type, p.payload.byteLength])
}

/** Hands packets `a` sent to `b`, in order, at `t` */
function deliverToB (pair: ConnectionPair, t: number, packets: Packet[]): void {
  for (const p of packets) {
    pair.b.handlePacket(t, p)
  }
}

/** Each packet's seq_nr is one more than the previous one's */
function expectConsecutive (packets: Packet[]): void {
  for (let i = 1; i < packets.length; i++) {
    expect(packets[i].seqNr).to.equal(seqAdd(packets[i - 1].seqNr, 1), `seq_nr of packet ${i}`)
  }
}

/** Two endpoints connected, `a` has written nothing yet and `b` does not end its side */
function connectedEndpoints (data: Uint8Array, seed: number): EndpointPair {
  const pair = new EndpointPair({ seed, endpoint: { congestionController: () => new FixedWindow(WINDOW) } })
  const apps = pair.dial(data, new Uint8Array(0), { a: 0 })
  apps.a.endWhenDone = false
  apps.b.endWhenDone = false
  expect(pair.runUntil(() => apps.a.connected && apps.b.entry?.connection.isConfirmed === true && pair.wire.length === 0))
    .to.equal(true, 'handshake')
  expect(apps.a.entry?.connection.flight).to.equal(0)
  return pair
}

/** A connected endpoint pair whose side `a` has {@link BULK} bytes (stream `seed`) to write, and its two apps */
function bulkEndpoints (seed: number): { pair: EndpointPair, a: NonNullable<EndpointPair['apps']['a']>, b: NonNullable<EndpointPair['apps']['b']> } {
  const pair = connectedEndpoints(streamBytes(seed, BULK), seed + 1)
  const { a, b } = pair.apps
  if (a == null || b == null) {
    throw new Error('no apps after the handshake')
  }
  return { pair, a, b }
}

/** `a` writes all {@link BULK} bytes (and ends, if asked); a `holdPartial` poll sends the two full packets and holds the tail */
function writeAllAndHold (pair: EndpointPair, a: NonNullable<EndpointPair['apps']['a']>, end: boolean): Packet[] {
  a.writeLimit = BULK
  a.endWhenDone = end
  a.pump(pair.now)
  expect(a.written).to.equal(BULK)
  const full = pollHeldEndpoint(pair)
  expect(shape(full)).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS]])
  expect(pair.a.hasHeldPackets).to.equal(true)
  return full
}

/** Every datagram `poll` gives, put on the wire from endpoint `a` to `b` */
function sendToB (pair: EndpointPair, poll: () => ReturnType<EndpointPair['a']['pollTransmit']>): Packet[] {
  const out: Packet[] = []
  for (let tr = poll(); tr != null; tr = poll()) {
    out.push(decodeTransmit(tr))
    pair.enqueue({ at: pair.now + pair.latency, from: ADDR_A, to: 'b', bytes: transmitBytes(tr) })
    if (out.length > 1000) {
      throw new Error('runaway pollTransmit')
    }
  }
  return out
}

/** Every datagram endpoint `a` sends at the pair's time in `holdPartial` polls, put on the wire to `b` */
function pollHeldEndpoint (pair: EndpointPair): Packet[] {
  return sendToB(pair, () => pair.a.pollTransmit(pair.now, true))
}

/** Every datagram endpoint `a` sends at the pair's time in ordinary polls, put on the wire to `b` */
function pollEndpoint (pair: EndpointPair): Packet[] {
  return sendToB(pair, () => pair.a.pollTransmit(pair.now))
}

// ---------------------------------------------------------------- tests

describe('holdPartial', () => {
  describe('Connection.pollTransmit', () => {
    it('sends a small write at once when nothing is in flight', () => {
      const pair = connectedPair(1)
      const t = pair.now
      const msg = streamBytes(1, 100)
      pair.a.write(t, msg)

      const tr = pair.a.pollTransmit(t, true)
      expect(tr, 'a data packet at once').to.not.equal(undefined)
      const p = decodeTransmit(tr as NonNullable<typeof tr>)
      expect(p.type).to.equal(PacketType.Data)
      expect(p.payload).to.deep.equal(msg)
      expect(pair.a.partialHeld).to.equal(false)
      expect(pair.a.flight).to.equal(100)
      expect(pair.a.pollTransmit(t, true)).to.equal(undefined)
      expect(pair.a.partialHeld).to.equal(false)

      deliverToB(pair, t, [p])
      expect(readAll(pair.b, t)).to.deep.equal(msg)
    })

    it('sends a small write while less than a full packet is in flight', () => {
      const pair = connectedPair(2)
      const t = pair.now
      const first = streamBytes(2, 100)
      const second = streamBytes(3, MSS - 101)
      pair.a.write(t, first)
      const sent = pollHeld(pair.a, t)
      pair.a.write(t, second)
      // 100 bytes in flight, and 100 + (MSS - 101) < MSS: not a bulk transfer yet
      sent.push(...pollHeld(pair.a, t))
      expect(shape(sent)).to.deep.equal([[PacketType.Data, 100], [PacketType.Data, MSS - 101]])
      expect(pair.a.partialHeld).to.equal(false)
      expectConsecutive(sent)
    })

    it('sends the full packets of a bulk write and holds its tail until a poll without holdPartial', () => {
      const pair = connectedPair(3)
      const t = pair.now
      const data = streamBytes(4, BULK)
      expect(pair.a.write(t, data)).to.equal(true)

      const full = pollHeld(pair.a, t)
      expect(shape(full)).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS]])
      expect(pair.a.partialHeld).to.equal(true)
      expect(pair.a.flight).to.equal(2 * MSS)
      // polling with holdPartial again changes nothing
      expect(pair.a.pollTransmit(t, true)).to.equal(undefined)
      expect(pair.a.partialHeld).to.equal(true)

      const tr = pair.a.pollTransmit(t)
      expect(tr, 'the tail').to.not.equal(undefined)
      const tail = decodeTransmit(tr as NonNullable<typeof tr>)
      expect(tail.type).to.equal(PacketType.Data)
      expect(tail.payload.byteLength).to.equal(TAIL)
      expect(pair.a.partialHeld).to.equal(false)
      expect(pair.a.flight).to.equal(BULK)
      expect(pair.a.pollTransmit(t)).to.equal(undefined)

      const all = [...full, tail]
      expectConsecutive(all)
      deliverToB(pair, t, all)
      expect(readAll(pair.b, t)).to.deep.equal(data)
    })

    it('sends everything at once without holdPartial', () => {
      const pair = connectedPair(4)
      const t = pair.now
      pair.a.write(t, streamBytes(5, BULK))
      expect(shape(recvAll(pair.a, t))).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS], [PacketType.Data, TAIL]])
      expect(pair.a.partialHeld).to.equal(false)
    })

    it('holds nothing when a write is a whole number of packets', () => {
      const pair = connectedPair(5)
      const t = pair.now
      pair.a.write(t, streamBytes(6, 3 * MSS))
      expect(shape(pollHeld(pair.a, t))).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS], [PacketType.Data, MSS]])
      expect(pair.a.partialHeld).to.equal(false)
      expect(pair.a.flight).to.equal(3 * MSS)
    })

    it('releases the held tail in a holdPartial poll once the flight is acknowledged', () => {
      const pair = connectedPair(6)
      let t = pair.now
      const data = streamBytes(7, BULK)
      pair.a.write(t, data)
      const full = pollHeld(pair.a, t)
      expect(full).to.have.length(2)
      expect(pair.a.partialHeld).to.equal(true)

      t += pair.latency
      deliverToB(pair, t, full)
      const acks = recvAll(pair.b, t + CONFIG.delayedAck)
      expect(acks.map(p => [p.type, p.ackNr])).to.deep.equal([[PacketType.State, full[1].seqNr]])
      t += CONFIG.delayedAck + pair.latency
      pair.a.handlePacket(t, acks[0])
      expect(pair.a.flight).to.equal(0)

      const tail = pollHeld(pair.a, t)
      expect(shape(tail)).to.deep.equal([[PacketType.Data, TAIL]])
      expect(pair.a.partialHeld).to.equal(false)
      expect(tail[0].seqNr).to.equal(seqAdd(full[1].seqNr, 1))
      deliverToB(pair, t, tail)
      expect(readAll(pair.b, t)).to.deep.equal(data)
    })

    it('keeps the FIN behind a held tail, then sends the tail and the FIN in order', () => {
      const pair = connectedPair(7)
      const t = pair.now
      const data = streamBytes(8, BULK)
      pair.a.write(t, data)
      pair.a.end(t)

      const full = pollHeld(pair.a, t)
      expect(shape(full)).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS]])
      expect(pair.a.partialHeld).to.equal(true)
      expect(pair.a.pollTransmit(t, true)).to.equal(undefined)

      const rest = recvAll(pair.a, t)
      expect(shape(rest)).to.deep.equal([[PacketType.Data, TAIL], [PacketType.Fin, 0]])
      expect(pair.a.partialHeld).to.equal(false)
      const all = [...full, ...rest]
      expectConsecutive(all)

      drainEvents(pair.b)
      deliverToB(pair, t, all)
      expect(readAll(pair.b, t)).to.deep.equal(data)
      expect(drainEvents(pair.b).map(ev => ev.type)).to.include('end')
    })

    it('does not hold a FIN when no data waits', () => {
      const pair = connectedPair(8)
      const t = pair.now
      pair.a.write(t, streamBytes(9, 2 * MSS))
      pair.a.end(t)
      expect(shape(pollHeld(pair.a, t))).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS], [PacketType.Fin, 0]])
      expect(pair.a.partialHeld).to.equal(false)
    })
  })

  describe('Endpoint.pollTransmit', () => {
    it('moves a connection holding its tail aside until a poll without holdPartial sends it', () => {
      const { pair, a, b } = bulkEndpoints(10)
      expect(pair.a.hasHeldPackets).to.equal(false)

      const full = writeAllAndHold(pair, a, false)
      // still held by another holdPartial poll
      expect(pollHeldEndpoint(pair)).to.deep.equal([])
      expect(pair.a.hasHeldPackets).to.equal(true)

      const rest = pollEndpoint(pair)
      expect(shape(rest)).to.deep.equal([[PacketType.Data, TAIL]])
      expect(pair.a.hasHeldPackets).to.equal(false)
      expectConsecutive([...full, ...rest])

      expect(pair.runUntil(() => b.received === BULK)).to.equal(true)
      expect(b.mismatchAt).to.equal(undefined)
      expect(pair.a.hasHeldPackets).to.equal(false)
    })

    it('sends the held tail before the FIN, and the transfer completes', () => {
      const { pair, a, b } = bulkEndpoints(12)

      writeAllAndHold(pair, a, true)
      expect(a.ended).to.equal(true)

      expect(shape(pollEndpoint(pair))).to.deep.equal([[PacketType.Data, TAIL], [PacketType.Fin, 0]])
      expect(pair.a.hasHeldPackets).to.equal(false)
      expect(pair.runUntil(() => b.complete)).to.equal(true)
      expect(b.mismatchAt).to.equal(undefined)
    })

    it('pollTransmitFor with holdPartial sends one connection\'s full packets and keeps its tail for the next polls', () => {
      const { pair, a, b } = bulkEndpoints(16)
      a.writeLimit = BULK
      a.pump(pair.now)
      const entry = a.entry as NonNullable<typeof a.entry>
      const full = sendToB(pair, () => pair.a.pollTransmitFor(pair.now, entry, true))
      expect(shape(full)).to.deep.equal([[PacketType.Data, MSS], [PacketType.Data, MSS]])
      // the connection is still marked: the next holdPartial poll finds the tail and keeps it aside
      expect(pollHeldEndpoint(pair)).to.deep.equal([])
      expect(pair.a.hasHeldPackets).to.equal(true)
      const rest = pollEndpoint(pair)
      expect(shape(rest)).to.deep.equal([[PacketType.Data, TAIL]])
      expectConsecutive([...full, ...rest])
      expect(pair.runUntil(() => b.received === BULK)).to.equal(true)
      expect(b.mismatchAt).to.equal(undefined)
    })

    it('sends a small write at once through a holdPartial poll', () => {
      const msg = streamBytes(14, 100)
      const pair = connectedEndpoints(msg, 15)
      const apps = pair.apps
      const a = apps.a as NonNullable<typeof apps.a>
      a.writeLimit = msg.byteLength
      a.pump(pair.now)
      const sent = pollHeldEndpoint(pair)
      expect(shape(sent)).to.deep.equal([[PacketType.Data, 100]])
      expect(sent[0].payload).to.deep.equal(msg)
      expect(pair.a.hasHeldPackets).to.equal(false)
    })
  })
})
