/**
 * A SYN forged from the address of the peer we dial wins the crossing with our dial. The peer
 * (a raw UDP socket here, playing a uTP listener that never dials) shows the SYN forged not only
 * with its SYN-ACK to our own SYN: its ST_RESET to the replacement's SYN-ACK may come first, and
 * its first data may come when its SYN-ACK was lost. Either way connect() resolves with the first
 * dial, not a second one.
 */

import { createSocket } from 'node:dgram'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { decodePacket, encodePacket, PacketType, UtpSocket } from '../../src/index.ts'
import { waitFor, within } from './wait-for.ts'
import type { Packet, UtpConnection } from '../../src/index.ts'
import type { RemoteInfo, Socket } from 'node:dgram'

const sockets: UtpSocket[] = []
const raws: Socket[] = []

/** A raw UDP peer that keeps every uTP packet it receives, to be taken in order */
class RawPeer {
  readonly socket: Socket
  private readonly queue: Packet[] = []
  private waiting: (() => void) | undefined

  constructor () {
    this.socket = createSocket('udp4')
    raws.push(this.socket)
    this.socket.on('message', (msg) => {
      const p = decodePacket(msg)
      if (!(p instanceof Error)) {
        this.queue.push(p)
        this.waiting?.()
      }
    })
  }

  async bind (): Promise<number> {
    await new Promise<void>((resolve) => { this.socket.bind(0, '127.0.0.1', resolve) })
    return this.socket.address().port
  }

  /** The next packet received that `matches`; those before it are skipped */
  async next (what: string, matches: (p: Packet) => boolean, ms = 1_000): Promise<Packet> {
    const take = async (): Promise<Packet> => {
      while (true) {
        const p = this.queue.shift()
        if (p == null) {
          await new Promise<void>((resolve) => { this.waiting = resolve })
          this.waiting = undefined
          continue
        }
        if (matches(p)) {
          return p
        }
      }
    }
    return within(take(), ms, `the peer received no ${what}`)
  }

  send (fields: { type: Packet['type'], connectionId: number, seqNr: number, ackNr: number, payload?: Uint8Array }, port: number): void {
    this.socket.send(encodePacket({ timestamp: 0, timestampDiff: 0, wndSize: 65535, ...fields }), port, '127.0.0.1')
  }
}

/** Hands `socket` a datagram as if from 127.0.0.1:`port`, synchronously (several in one run: one poll phase) */
function inject (socket: UtpSocket, fields: { type: Packet['type'], connectionId: number, seqNr: number, ackNr: number }, port: number): void {
  const bytes = encodePacket({ timestamp: 0, timestampDiff: 0, wndSize: 65535, ...fields })
  const rinfo: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port, size: bytes.byteLength }
  ;(socket as any).onMessage(Buffer.from(bytes), rinfo)
}

/** A listening socket `a` dials a raw peer; resolves once the peer has our SYN */
async function dialRawPeer (options: { signal?: AbortSignal } = {}): Promise<{ a: UtpSocket, peer: RawPeer, peerPort: number, dialling: Promise<UtpConnection>, ourSyn: Packet }> {
  const a = new UtpSocket({ probeUnreachable: false })
  sockets.push(a)
  await a.bind(0, '127.0.0.1')
  a.listen()
  a.on('connection', (c) => { c.on('error', () => {}) })
  const peer = new RawPeer()
  const peerPort = await peer.bind()
  const dialling = a.connect(peerPort, '127.0.0.1', options)
  // not awaited yet: a rejection is checked where it is awaited
  dialling.catch(() => {})
  const ourSyn = await peer.next('SYN', p => p.type === PacketType.Syn)
  return { a, peer, peerPort, dialling, ourSyn }
}

/** `a` dials the peer; once its SYN is out, the forged SYN (id 0) wins the crossing */
async function forgedCrossing (): Promise<{ a: UtpSocket, peer: RawPeer, dialling: Promise<UtpConnection>, ourSyn: Packet, replacementSynAck: Packet }> {
  const { a, peer, dialling, ourSyn } = await dialRawPeer()
  peer.send({ type: PacketType.Syn, connectionId: 0, seqNr: 0, ackNr: 0 }, a.address().port)
  const replacementSynAck = await peer.next('SYN-ACK of the forged SYN', p => p.type === PacketType.State && p.connectionId === 0)
  return { a, peer, dialling, ourSyn, replacementSynAck }
}

describe('forged SYN that wins a crossing over UDP: the gaps', () => {
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close(0) }))
    for (const r of raws.splice(0)) {
      r.close()
    }
  })

  it('the peer resets the replacement before its SYN-ACK to our SYN arrives: the first dial connects', async () => {
    const { a, peer, dialling, ourSyn, replacementSynAck } = await forgedCrossing()
    const port = a.address().port
    // the replacement's SYN-ACK names no connection of the peer's: ST_RESET, with its seq_nr
    peer.send({ type: PacketType.Reset, connectionId: 0, seqNr: 1, ackNr: replacementSynAck.seqNr }, port)
    // the dial goes on: its own SYN again, at once (well before the SYN's 1 s retransmission)
    const again = await peer.next('second SYN', p => p.type === PacketType.Syn, 300)
    expect(again.connectionId, 'the first dial, not a new one').to.equal(ourSyn.connectionId)
    expect(again.seqNr).to.equal(ourSyn.seqNr)
    peer.send({ type: PacketType.State, connectionId: ourSyn.connectionId, seqNr: 5000, ackNr: ourSyn.seqNr }, port)
    const conn = await within(dialling, 1_000, 'connect() did not resolve')
    expect(conn.initiator).to.equal(true)
    expect(conn.connected, 'resolved once connected').to.equal(true)
    expect(conn.destroyed).to.equal(false)
    // it carries data: the peer's first data packet, after the SYN-ACK's seq_nr
    const data = pEvent(conn, 'data') as Promise<Buffer>
    peer.send({ type: PacketType.Data, connectionId: ourSyn.connectionId, seqNr: 5000, ackNr: ourSyn.seqNr, payload: new TextEncoder().encode('after the reset') }, port)
    expect((await within(data, 2_000, 'no data')).toString()).to.equal('after the reset')
  })

  it('the peer\'s SYN-ACK is lost and its first data comes: the first dial asks for the SYN-ACK again, connects and keeps the data', async () => {
    const { a, peer, dialling, ourSyn } = await forgedCrossing()
    const port = a.address().port
    peer.send({ type: PacketType.Data, connectionId: ourSyn.connectionId, seqNr: 5000, ackNr: ourSyn.seqNr, payload: new TextEncoder().encode('hello first') }, port)
    const again = await peer.next('second SYN', p => p.type === PacketType.Syn)
    expect(again.connectionId, 'the first dial, not a new one').to.equal(ourSyn.connectionId)
    peer.send({ type: PacketType.State, connectionId: ourSyn.connectionId, seqNr: 5000, ackNr: ourSyn.seqNr }, port)
    const conn = await within(dialling, 1_000, 'connect() did not resolve')
    expect(conn.initiator).to.equal(true)
    expect(conn.connected, 'resolved once connected').to.equal(true)
    // held since before the SYN-ACK: a 'data' listener gets what the stream buffered
    const data = await within(pEvent(conn, 'data') as Promise<Buffer>, 2_000, 'no data')
    expect(data.toString()).to.equal('hello first')
    // the replacement was reset: nothing but the dial is left
    expect(await waitFor(() => a.connectionCount === 1, 2_000, 1)).to.equal(true)
  })

  it('a second forged SYN crosses the dial again in the poll phase that reset the first one\'s replacement: the dial still connects', async () => {
    const { a, peer, dialling, ourSyn, replacementSynAck } = await forgedCrossing()
    const port = a.address().port
    const peerPort = peer.socket.address().port
    // one poll phase: the peer's reset brings the dial back, dialling, and a SYN with id 1 wins a
    // crossing with it again, before connect() has resumed
    inject(a, { type: PacketType.Reset, connectionId: 0, seqNr: 1, ackNr: replacementSynAck.seqNr }, peerPort)
    inject(a, { type: PacketType.Syn, connectionId: 1, seqNr: 0, ackNr: 0 }, peerPort)
    await peer.next('SYN-ACK of the second forged SYN', p => p.type === PacketType.State && p.connectionId === 1)
    // the peer's SYN-ACK to our SYN, at last
    peer.send({ type: PacketType.State, connectionId: ourSyn.connectionId, seqNr: 5000, ackNr: ourSyn.seqNr }, port)
    const conn = await within(dialling, 1_000, 'connect() did not resolve')
    expect(conn.initiator).to.equal(true)
    expect(conn.connected).to.equal(true)
    expect(conn.destroyed).to.equal(false)
    expect(await waitFor(() => a.connectionCount === 1, 2_000, 1)).to.equal(true)
  })

  it('an abort in the turn the forged SYN won the crossing rejects connect() at once', async () => {
    const ac = new AbortController()
    const { a, peerPort, dialling } = await dialRawPeer({ signal: ac.signal })
    // the merge is delivered, and the abort comes before connect() waits for the peer's proof
    inject(a, { type: PacketType.Syn, connectionId: 0, seqNr: 0, ackNr: 0 }, peerPort)
    ;(a as any).flush()
    ac.abort()
    const err = await within(dialling.then(() => undefined, (e: unknown) => e), 2_000, 'connect() ignored the abort')
    expect(err).to.have.property('name', 'AbortError')
  })
})
