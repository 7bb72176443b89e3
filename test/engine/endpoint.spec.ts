/**
 * Endpoint tests: demultiplexing by (address, port, connection id), answers to strays, SYN
 * handling, connection ids, the half-open cap and removal of drained connections. Time is always
 * explicit (µs).
 */

import { expect } from 'aegir/chai'
import { ConnState } from '../../src/engine/connection.ts'
import { Endpoint } from '../../src/engine/endpoint.ts'
import { InvalidConfigError } from '../../src/engine/errors.ts'
import { encodePacket, PacketType } from '../../src/engine/packet.ts'
import { seqAdd } from '../../src/engine/seq.ts'
import {
  EndpointPair,
  drainEndpointEvents,
  drainEndpointTransmits,
  scriptedRandomBytes,
  seededRandomBytes,
  streamBytes,
  transmitBytes
} from './helpers.ts'
import type { PacketRepr } from './helpers.ts'
import type { EndpointConnection, EndpointEvent, EndpointInit, RemoteAddress } from '../../src/engine/endpoint.ts'
import type { Packet } from '../../src/engine/packet.ts'

const T0 = 1_000_000
const PEER: RemoteAddress = { address: '203.0.113.7', port: 6881 }
const PEER_OTHER_PORT: RemoteAddress = { address: '203.0.113.7', port: 6882 }
const PEER_OTHER_HOST: RemoteAddress = { address: '203.0.113.8', port: 6881 }

/** a packet from a remote peer; spread and override */
const TEMPL: PacketRepr = {
  type: PacketType.Syn,
  connectionId: 100,
  timestamp: 0,
  timestampDiff: 0,
  wndSize: 1 << 20,
  seqNr: 1,
  ackNr: 0
}

function syn (connectionId: number, seqNr: number): Uint8Array {
  return encodePacket({ ...TEMPL, connectionId, seqNr })
}

/** What an endpoint sends, as the bytes on the wire */
function wire (ep: Endpoint, t: number): Array<{ remote: RemoteAddress, bytes: Uint8Array }> {
  const out = []
  let tx
  while ((tx = ep.pollTransmit(t)) != null) {
    out.push({ remote: tx.remote, bytes: transmitBytes(tx) })
  }
  return out
}

function utf8 (s: string): Uint8Array {
  return new TextEncoder().encode(s)
}

function endpoint (init: Partial<EndpointInit> = {}, listening = true): Endpoint {
  const ep = new Endpoint({ randomBytes: seededRandomBytes(7), ...init })
  ep.listening = listening
  return ep
}

function incoming (events: EndpointEvent[]): EndpointConnection[] {
  return events.flatMap(ev => ev.type === 'incoming' ? [ev.connection] : [])
}

/** Accepts a SYN from `remote` and returns the connection with its SYN-ACK */
function accept (ep: Endpoint, t: number, remote: RemoteAddress, id: number, seq: number): { entry: EndpointConnection, synAck: Packet } {
  expect(ep.handle(t, remote, syn(id, seq))).to.equal('handled')
  const [entry] = incoming(drainEndpointEvents(ep))
  expect(entry, 'incoming connection').to.not.equal(undefined)
  const out = drainEndpointTransmits(ep, t)
  expect(out).to.have.length(1)
  expect(out[0].remote).to.deep.equal(remote)
  return { entry, synAck: out[0].packet }
}

/** The initiator's first packet after the SYN-ACK: confirms the connection */
function confirm (ep: Endpoint, t: number, remote: RemoteAddress, id: number, seq: number, synAck: Packet, payload?: Uint8Array): string {
  return ep.handle(t, remote, encodePacket({
    ...TEMPL,
    type: payload == null ? PacketType.State : PacketType.Data,
    connectionId: id + 1,
    seqNr: seqAdd(seq, 1),
    ackNr: seqAdd(synAck.seqNr, -1),
    payload
  }))
}

describe('Endpoint', () => {
  describe('routing', () => {
    it('routes by remote address, port and connection id', () => {
      const ep = endpoint()
      const remotes = [PEER, PEER_OTHER_PORT, PEER_OTHER_HOST]
      // the same connection id from three different remotes: three connections
      const accepted = remotes.map((remote, i) => ({ remote, seq: 10 * (i + 1), ...accept(ep, T0, remote, 100, 10 * (i + 1)) }))
      expect(ep.size).to.equal(3)
      expect(new Set(accepted.map(a => a.entry)).size).to.equal(3)

      const t = T0 + 10_000
      accepted.forEach((a, i) => {
        expect(confirm(ep, t, a.remote, 100, a.seq, a.synAck, utf8(`to ${i}`))).to.equal('handled')
      })
      drainEndpointEvents(ep)
      accepted.forEach((a, i) => {
        expect(a.entry.connection.read(t)).to.deep.equal(utf8(`to ${i}`))
        expect(a.entry.connection.read(t)).to.equal(undefined)
      })

      // right id, unknown remote; known remote, wrong id
      const data = (connectionId: number): Uint8Array => encodePacket({ ...TEMPL, type: PacketType.Data, connectionId, payload: utf8('stray') })
      expect(ep.handle(t, { address: PEER.address, port: 9999 }, data(101))).to.equal('unknown')
      expect(ep.handle(t, PEER, data(102))).to.equal('unknown')
      expect(ep.handle(t, PEER, data(100))).to.equal('unknown')
      for (const a of accepted) {
        expect(a.entry.connection.readableLength).to.equal(0)
      }
    })

    it('delivers a duplicate SYN to the acceptor already created for it', () => {
      const ep = endpoint()
      const { entry, synAck } = accept(ep, T0, PEER, 100, 5)
      expect(ep.handle(T0 + 500_000, PEER, syn(100, 5))).to.equal('handled')
      expect(drainEndpointEvents(ep).filter(ev => ev.type === 'incoming')).to.deep.equal([])
      expect(ep.size).to.equal(1)
      expect(ep.halfOpen).to.equal(1)
      const out = drainEndpointTransmits(ep, T0 + 500_000)
      expect(out.map(o => [o.packet.type, o.packet.connectionId, o.packet.seqNr, o.packet.ackNr]))
        .to.deep.equal([[PacketType.State, 100, synAck.seqNr, 5]])
      expect(entry.connection.state).to.equal(ConnState.SynRecv)
    })

    it('reports datagrams that are not uTP as not-utp and answers none of them', () => {
      const ep = endpoint()
      const valid = encodePacket({ ...TEMPL, type: PacketType.Data })
      const badVersion = valid.slice()
      badVersion[0] = (PacketType.Data << 4) | 2
      const badType = valid.slice()
      badType[0] = (5 << 4) | 1
      const badExtension = valid.slice()
      badExtension[1] = 1
      const stun = new Uint8Array(20)
      stun.set([0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42])
      const dtls = new Uint8Array(40).fill(0x16, 0, 1).fill(0xfe, 1, 2)
      for (const bytes of [new Uint8Array(0), valid.subarray(0, 19), badVersion, badType, badExtension, stun, dtls]) {
        expect(ep.handle(T0, PEER, bytes)).to.equal('not-utp')
      }
      expect(drainEndpointTransmits(ep, T0)).to.deep.equal([])
      expect(ep.size).to.equal(0)
    })
  })

  describe('strays', () => {
    it('answers a SYN with ST_RESET (ack_nr = SYN seq) when not listening', () => {
      const ep = endpoint({}, false)
      expect(ep.handle(T0, PEER, syn(0x2222, 0x3333))).to.equal('refused')
      const out = drainEndpointTransmits(ep, T0)
      expect(out).to.have.length(1)
      expect(out[0].remote).to.deep.equal(PEER)
      expect(out[0].packet).to.include({ type: PacketType.Reset, connectionId: 0x2222, ackNr: 0x3333 })
      expect(ep.size).to.equal(0)
      expect(ep.pollTimeout()).to.equal(undefined)
      expect(drainEndpointEvents(ep)).to.deep.equal([])
    })

    it('answers an unknown non-SYN packet with ST_RESET, at most resetRate per second', () => {
      const ep = endpoint({ resetRate: 3 })
      const stray = (type: number, i: number): Uint8Array => encodePacket({ ...TEMPL, type: type as Packet['type'], connectionId: 500 + i, seqNr: 1000 + i })
      const types = [PacketType.Data, PacketType.State, PacketType.Fin, PacketType.Data, PacketType.Data]
      types.forEach((type, i) => {
        expect(ep.handle(T0, PEER, stray(type, i))).to.equal('unknown')
      })
      const out = drainEndpointTransmits(ep, T0)
      expect(out.map(o => [o.packet.type, o.packet.connectionId, o.packet.ackNr])).to.deep.equal([
        [PacketType.Reset, 500, 1000],
        [PacketType.Reset, 501, 1001],
        [PacketType.Reset, 502, 1002]
      ])

      // 0.4 s later the bucket holds 1.2 tokens: one more answer
      const t = T0 + 400_000
      expect(ep.handle(t, PEER, stray(PacketType.Data, 10))).to.equal('unknown')
      expect(ep.handle(t, PEER, stray(PacketType.Data, 11))).to.equal('unknown')
      expect(drainEndpointTransmits(ep, t).map(o => o.packet.ackNr)).to.deep.equal([1010])

      // after a full second the burst is back
      const t2 = t + 1_000_000
      for (let i = 0; i < 5; i++) {
        ep.handle(t2, PEER, stray(PacketType.Data, 20 + i))
      }
      expect(drainEndpointTransmits(ep, t2)).to.have.length(3)
    })

    it('never answers an ST_RESET', () => {
      const ep = endpoint()
      for (let i = 0; i < 10; i++) {
        expect(ep.handle(T0, PEER, encodePacket({ ...TEMPL, type: PacketType.Reset, connectionId: 700 + i }))).to.equal('unknown')
      }
      expect(drainEndpointTransmits(ep, T0)).to.deep.equal([])
    })
  })

  describe('connection ids', () => {
    it('connect() avoids ids in use towards the same remote, and their neighbours', () => {
      const ep = new Endpoint({
        // ids and initial sequence numbers, in the order the endpoint asks for them
        randomBytes: scriptedRandomBytes([
          500, 0x1111, // first dial: id 500
          500, 501, 499, 600, 0x2222, // second dial to the same remote: 500 taken, 501 and 499 next to it
          500, 0x3333 // third dial, another remote: 500 is free there
        ])
      })
      const first = ep.connect(T0, PEER)
      expect(first.connection.recvId).to.equal(500)
      const second = ep.connect(T0, PEER)
      expect(second.connection.recvId).to.equal(600)
      const third = ep.connect(T0, PEER_OTHER_HOST)
      expect(third.connection.recvId).to.equal(500)
      expect(ep.size).to.equal(3)

      // the SYNs carry those ids
      const out = drainEndpointTransmits(ep, T0)
      expect(out.map(o => [o.remote.address, o.packet.type, o.packet.connectionId]).sort()).to.deep.equal([
        [PEER.address, PacketType.Syn, 500],
        [PEER.address, PacketType.Syn, 600],
        [PEER_OTHER_HOST.address, PacketType.Syn, 500]
      ].sort())
    })

    it('connect() avoids the ids of accepted connections too', () => {
      const ep = new Endpoint({ randomBytes: scriptedRandomBytes([0x0a0a, 700, 699, 701, 800, 0x4444]) })
      ep.listening = true
      // the peer dialed with id 699: we receive on 700
      expect(ep.handle(T0, PEER, syn(699, 1))).to.equal('handled')
      const dialed = ep.connect(T0, PEER)
      expect(dialed.connection.recvId).to.equal(800)
    })

    it('connect() gives up with InvalidConfigError when no free id turns up', () => {
      const ep = new Endpoint({ randomBytes: scriptedRandomBytes([500, 0x1111, ...new Array(64).fill(500)]) })
      ep.connect(T0, PEER)
      expect(() => ep.connect(T0, PEER)).to.throw(InvalidConfigError)
      expect(ep.size).to.equal(1)
    })
  })

  describe('half-open connections', () => {
    it('caps them at maxHalfOpen; the count drops when one is confirmed or times out', () => {
      const ep = endpoint({ maxHalfOpen: 2 })
      const handshakeTimeout = ep.config.handshakeTimeout
      const a = accept(ep, T0, PEER, 10, 1000)
      accept(ep, T0, PEER, 20, 2000)
      expect(ep.halfOpen).to.equal(2)

      // full: a third SYN is refused, silently
      expect(ep.handle(T0 + 1000, PEER, syn(30, 3000))).to.equal('refused')
      expect(drainEndpointTransmits(ep, T0 + 1000)).to.deep.equal([])
      expect(ep.size).to.equal(2)

      // the first is confirmed: room for another
      expect(confirm(ep, T0 + 2000, PEER, 10, 1000, a.synAck)).to.equal('handled')
      expect(ep.halfOpen).to.equal(1)
      expect(a.entry.connection.state).to.equal(ConnState.Connected)
      const c = accept(ep, T0 + 3000, PEER, 30, 3000)
      expect(ep.halfOpen).to.equal(2)
      expect(ep.size).to.equal(3)

      // the unconfirmed ones time out, one after the other
      ep.handleTimeout(T0 + handshakeTimeout)
      expect(ep.halfOpen).to.equal(1)
      drainEndpointTransmits(ep, T0 + handshakeTimeout)
      const closed = drainEndpointEvents(ep).filter(ev => ev.type === 'connection' && ev.event.type === 'closed')
      expect(closed.map(ev => ev.type === 'connection' && ev.event.type === 'closed' ? ev.event.reason : undefined)).to.deep.equal(['timed-out'])
      expect(ep.size).to.equal(2)

      ep.handleTimeout(T0 + 3000 + handshakeTimeout)
      expect(ep.halfOpen).to.equal(0)
      drainEndpointTransmits(ep, T0 + 3000 + handshakeTimeout)
      drainEndpointEvents(ep)
      expect(c.entry.connection.state).to.equal(ConnState.Closed)
      expect(ep.size).to.equal(1)
      expect(a.entry.connection.state).to.equal(ConnState.Connected)
    })
  })

  describe('allocation', () => {
    it('takes the header of every datagram from the allocate hook', () => {
      const handed = new Set<Uint8Array>()
      const ep = endpoint({
        allocate: (size) => {
          const buf = new Uint8Array(new ArrayBuffer(size + 8), 4, size)
          handed.add(buf)
          return buf
        }
      })
      const { entry, synAck } = accept(ep, T0, PEER, 100, 1000)
      expect(synAck.type).to.equal(PacketType.State)
      expect(confirm(ep, T0 + 1000, PEER, 100, 1000, synAck, utf8('hello'))).to.equal('handled')
      entry.connection.write(T0 + 2000, utf8('world'))
      ep.wake(entry)
      let headers = 0
      for (let t = ep.pollTransmit(T0 + 2000); t != null; t = ep.pollTransmit(T0 + 2000)) {
        expect(handed.has(t.header), 'header from the hook').to.equal(true)
        headers++
      }
      expect(headers).to.be.at.least(1)
      // the SYN-ACK's header too
      expect(handed.size).to.equal(headers + 1)
    })
  })

  describe('pollTransmitFor', () => {
    it('sends one connection\'s datagrams ahead of the others, which the next pollTransmit still finds', () => {
      const ep = endpoint({}, false)
      const first = ep.connect(T0, PEER)
      const second = ep.connect(T0, { address: PEER.address, port: PEER.port + 1 })
      const ahead = ep.pollTransmitFor(T0, second)
      expect(ahead?.remote.port).to.equal(PEER.port + 1)
      expect(ep.pollTransmitFor(T0, second)).to.equal(undefined)
      const rest = drainEndpointTransmits(ep, T0)
      expect(rest.map(t => t.remote.port)).to.deep.equal([PEER.port])
      expect(rest[0].packet.type).to.equal(PacketType.Syn)
      expect(rest[0].packet.connectionId).to.equal(first.connection.recvId)
    })
  })

  describe('takeAccepted', () => {
    it('hands over the connection a new SYN opened, once, and its SYN-ACK ahead of the rest; nothing for other datagrams', () => {
      const ep = endpoint()
      const other = ep.connect(T0, PEER_OTHER_HOST)
      expect(ep.handle(T0, PEER, syn(100, 5))).to.equal('handled')
      const entry = ep.takeAccepted()
      expect(entry?.remote).to.deep.equal(PEER)
      expect(ep.takeAccepted()).to.equal(undefined, 'taken once')
      const ahead = entry == null ? undefined : ep.pollTransmitFor(T0, entry)
      expect(ahead?.remote).to.deep.equal(PEER)
      expect(ahead == null ? undefined : ahead.header[0] >> 4).to.equal(PacketType.State, 'the SYN-ACK')
      // still announced to the application, and the dial's SYN still goes
      expect(incoming(drainEndpointEvents(ep))).to.deep.equal([entry])
      expect(drainEndpointTransmits(ep, T0).map(t => [t.remote, t.packet.type])).to.deep.equal([[PEER_OTHER_HOST, PacketType.Syn]])
      expect(other.connection.state).to.equal(ConnState.SynSent)

      // a duplicate SYN, a datagram that is not uTP and a stray accept nothing
      expect(ep.handle(T0 + 1_000, PEER, syn(100, 5))).to.equal('handled')
      expect(ep.takeAccepted()).to.equal(undefined)
      expect(ep.handle(T0 + 1_000, PEER, utf8('not utp'))).to.equal('not-utp')
      expect(ep.takeAccepted()).to.equal(undefined)
      expect(ep.handle(T0 + 1_000, PEER_OTHER_PORT, encodePacket({ ...TEMPL, type: PacketType.Data, connectionId: 999 }))).to.equal('unknown')
      expect(ep.takeAccepted()).to.equal(undefined)
    })

    it('hands over the connection that a SYN crossing our dial and winning opened', () => {
      const ep = endpoint()
      const dial = ep.connect(T0, PEER)
      drainEndpointTransmits(ep, T0)
      // the lower connection id wins the crossing
      expect(dial.connection.recvId).to.be.above(10)
      expect(ep.handle(T0 + 1_000, PEER, syn(dial.connection.recvId - 10, 5))).to.equal('handled')
      const merged = ep.takeAccepted()
      expect(merged).to.not.equal(undefined)
      expect(drainEndpointEvents(ep).filter(ev => ev.type !== 'connection')).to.deep.equal([{ type: 'merged', dial, connection: merged }])
      const ahead = merged == null ? undefined : ep.pollTransmitFor(T0 + 1_000, merged)
      expect(ahead == null ? undefined : ahead.header[0] >> 4).to.equal(PacketType.State, 'the SYN-ACK')
    })

    it('forgets an accepted connection nobody took at the next datagram', () => {
      const ep = endpoint()
      expect(ep.handle(T0, PEER, syn(100, 5))).to.equal('handled')
      expect(ep.handle(T0, PEER_OTHER_PORT, syn(200, 9))).to.equal('handled')
      expect(ep.takeAccepted()?.remote).to.deep.equal(PEER_OTHER_PORT)
      expect(ep.handle(T0, PEER_OTHER_HOST, utf8('not utp'))).to.equal('not-utp')
      expect(ep.takeAccepted()).to.equal(undefined)
    })
  })

  describe('takeConnected', () => {
    it('hands over the dial that a SYN-ACK connected, once, and its ACK ahead of the rest; nothing for other datagrams', () => {
      const dialler = endpoint({}, false)
      const listener = endpoint({ randomBytes: seededRandomBytes(8) })
      const dial = dialler.connect(T0, PEER)
      const other = dialler.connect(T0, PEER_OTHER_HOST)
      const [syn] = wire(dialler, T0).filter(d => d.remote.address === PEER.address)
      expect(listener.handle(T0, PEER_OTHER_PORT, syn.bytes)).to.equal('handled')
      const [synAck] = wire(listener, T0)
      expect(dialler.takeConnected()).to.equal(undefined, 'sending a SYN connects nothing')

      expect(dialler.handle(T0 + 1_000, PEER, synAck.bytes)).to.equal('handled')
      expect(dial.connection.state).to.equal(ConnState.Connected)
      expect(dialler.takeConnected()).to.equal(dial)
      expect(dialler.takeConnected()).to.equal(undefined, 'taken once')
      expect(dialler.takeAccepted()).to.equal(undefined, 'a dial is not accepted')
      const ahead = dialler.pollTransmitFor(T0 + 1_000, dial)
      expect(ahead == null ? undefined : ahead.header[0] >> 4).to.equal(PacketType.State, 'the ACK of the SYN-ACK')
      expect(other.connection.state).to.equal(ConnState.SynSent)

      // the same SYN-ACK again, and a datagram to the connected dial, connect nothing
      expect(dialler.handle(T0 + 2_000, PEER, synAck.bytes)).to.equal('handled')
      expect(dialler.takeConnected()).to.equal(undefined)
      expect(dialler.handle(T0 + 2_000, PEER, utf8('not utp'))).to.equal('not-utp')
      expect(dialler.takeConnected()).to.equal(undefined)
    })

    it('hands over a dial whose application ended its side before the SYN-ACK came', () => {
      const dialler = endpoint({}, false)
      const listener = endpoint({ randomBytes: seededRandomBytes(8) })
      const dial = dialler.connect(T0, PEER)
      const [syn] = wire(dialler, T0)
      dial.connection.end(T0)
      listener.handle(T0, PEER_OTHER_PORT, syn.bytes)
      const [synAck] = wire(listener, T0)
      dialler.handle(T0 + 1_000, PEER, synAck.bytes)
      expect(dial.connection.state).to.equal(ConnState.FinSent)
      expect(dialler.takeConnected()).to.equal(dial)
    })

    it('hands over nothing for a reset dial', () => {
      const dialler = endpoint({}, false)
      const closed = endpoint({ randomBytes: seededRandomBytes(8) }, false)
      const dial = dialler.connect(T0, PEER)
      const [syn] = wire(dialler, T0)
      expect(closed.handle(T0, PEER_OTHER_PORT, syn.bytes)).to.not.equal('not-utp')
      const [reset] = wire(closed, T0)
      expect(reset.bytes[0] >> 4).to.equal(PacketType.Reset)
      dialler.handle(T0 + 1_000, PEER, reset.bytes)
      expect(dial.connection.state).to.equal(ConnState.Closed)
      expect(dialler.takeConnected()).to.equal(undefined)
    })

    it('hands over the dial whose SYN won a crossing, when the SYN-ACK of the merged side comes', () => {
      const a = endpoint({ randomBytes: seededRandomBytes(11) })
      const b = endpoint({ randomBytes: seededRandomBytes(12) })
      const dials = [a.connect(T0, PEER), b.connect(T0, PEER_OTHER_PORT)]
      const connected: EndpointConnection[] = []
      const accepted: EndpointConnection[] = []
      // a is at PEER_OTHER_PORT as b sees it, b at PEER as a sees it
      for (let round = 0, now = T0; round < 4; round++, now += 1_000) {
        for (const d of wire(a, now)) {
          b.handle(now, PEER_OTHER_PORT, d.bytes)
          connected.push(...[b.takeConnected()].filter(e => e != null))
          accepted.push(...[b.takeAccepted()].filter(e => e != null))
        }
        for (const d of wire(b, now)) {
          a.handle(now, PEER, d.bytes)
          connected.push(...[a.takeConnected()].filter(e => e != null))
          accepted.push(...[a.takeAccepted()].filter(e => e != null))
        }
      }
      expect(accepted).to.have.length(1, 'the side whose SYN lost merged into the peer\'s dial')
      expect(connected).to.have.length(1, 'the winner\'s dial connected once')
      expect(dials).to.include(connected[0])
      expect(connected[0].connection.state).to.equal(ConnState.Connected)
    })

    it('forgets a connected dial nobody took at the next datagram', () => {
      const dialler = endpoint({}, false)
      const listener = endpoint({ randomBytes: seededRandomBytes(8) })
      dialler.connect(T0, PEER)
      const [syn] = wire(dialler, T0)
      listener.handle(T0, PEER_OTHER_PORT, syn.bytes)
      const [synAck] = wire(listener, T0)
      dialler.handle(T0 + 1_000, PEER, synAck.bytes)
      expect(dialler.handle(T0 + 1_000, PEER_OTHER_HOST, utf8('not utp'))).to.equal('not-utp')
      expect(dialler.takeConnected()).to.equal(undefined)
    })
  })

  describe('lifecycle', () => {
    it('forgets a drained connection: size returns to 0 and pollTimeout() to undefined', () => {
      const pair = new EndpointPair({ seed: 31 })
      const { a, b } = pair.dial(streamBytes(1, 20_000), streamBytes(2, 30_000))
      expect(pair.runUntil(() => a.closed != null && b.closed != null, 10_000)).to.equal(true)
      expect(a.complete).to.equal(true)
      expect(b.complete).to.equal(true)
      expect([a.closed, b.closed]).to.deep.equal(['closed', 'closed'])

      expect(pair.runUntil(() => pair.a.size === 0 && pair.b.size === 0, 10_000)).to.equal(true)
      pair.flush()
      expect(pair.a.pollTimeout()).to.equal(undefined)
      expect(pair.b.pollTimeout()).to.equal(undefined)
      expect(pair.a.pollTransmit(pair.now)).to.equal(undefined)
      expect(pair.b.pollTransmit(pair.now)).to.equal(undefined)
    })

    it('forgets a dial that timed out', () => {
      const ep = endpoint({}, false)
      const entry = ep.connect(T0, PEER)
      for (let i = 0; i < 100 && ep.size > 0; i++) {
        const t = ep.pollTimeout()
        if (t == null) {
          break
        }
        ep.handleTimeout(t)
        drainEndpointTransmits(ep, t)
        drainEndpointEvents(ep)
      }
      expect(entry.connection.reason).to.equal('timed-out')
      expect(ep.size).to.equal(0)
      expect(ep.pollTimeout()).to.equal(undefined)
    })
  })
})
