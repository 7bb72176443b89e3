/**
 * Simultaneous open over real UDP: two sockets dialling each other at once end with one
 * connection; a dial towards a peer whose connection we accepted but it has not confirmed yet
 * takes that connection over; and two libp2p nodes dialling each other at once, plainly or as
 * DCUtR does (one side with `initiator: false`), both get a working connection.
 */

import { createSocket } from 'node:dgram'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { pEvent } from 'p-event'
import { decodePacket, encodePacket, PacketType, UtpSocket, utp } from '../../src/index.ts'
import { waitFor } from './wait-for.ts'
import type { UtpConnection } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { RemoteInfo, Socket } from 'node:dgram'

const sockets: UtpSocket[] = []
const raws: Socket[] = []

function syn (connectionId: number, seqNr: number): Uint8Array {
  return encodePacket({ type: PacketType.Syn, connectionId, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr, ackNr: 0 })
}

/** Hands `socket` a datagram as if from 127.0.0.1:`port`: what an off-path attacker can forge */
function forge (socket: UtpSocket, bytes: Uint8Array, port: number): void {
  const rinfo: RemoteInfo = { address: '127.0.0.1', family: 'IPv4', port, size: bytes.byteLength }
  ;(socket as any).onMessage(Buffer.from(bytes), rinfo)
}
const nodes: Array<Libp2p<{ ping: Ping }>> = []

async function listeningSocket (): Promise<UtpSocket> {
  const socket = new UtpSocket()
  sockets.push(socket)
  await socket.bind(0, '127.0.0.1')
  socket.listen()
  return socket
}

/** Sends `text` one way and reads it on the other side */
async function carries (from: UtpConnection, to: UtpConnection, text: string): Promise<void> {
  const received = pEvent(to, 'data') as Promise<Buffer>
  from.write(text)
  expect((await received).toString()).to.equal(text)
}

async function node (): Promise<Libp2p<{ ping: Ping }>> {
  const n = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/udp/0/utp'] },
    transports: [utp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { ping: ping() }
  })
  nodes.push(n)
  return n
}

describe('simultaneous open', () => {
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async n => { await n.stop() }))
    await Promise.all(sockets.splice(0).map(async s => { await s.close(0) }))
    for (const r of raws.splice(0)) {
      r.close()
    }
  })

  it('two sockets dialling each other at once get one connection, one side initiator', async () => {
    const a = await listeningSocket()
    const b = await listeningSocket()
    let accepted = 0
    a.on('connection', () => { accepted++ })
    b.on('connection', () => { accepted++ })
    const [ab, ba] = await Promise.all([
      a.connect(b.address().port, '127.0.0.1'),
      b.connect(a.address().port, '127.0.0.1')
    ])
    expect(a.connectionCount).to.equal(1)
    expect(b.connectionCount).to.equal(1)
    expect(ab.initiator).to.not.equal(ba.initiator)
    expect(accepted, 'no listener saw the merged connection').to.equal(0)
    await carries(ab, ba, 'a to b')
    await carries(ba, ab, 'b to a')
  })

  it('a dial to its own listening port connects to itself, as a TCP connect does', async () => {
    // the SYN comes back to the socket that sent it: taken for a crossing SYN, it won the
    // tie-break against itself and was resent at once, again and again until the deadline
    const socket = new UtpSocket({ connectTimeout: 1_000 })
    sockets.push(socket)
    await socket.bind(0, '127.0.0.1')
    socket.listen()
    const incoming = pEvent(socket, 'connection') as Promise<UtpConnection>
    const dialled = await socket.connect(socket.address().port, '127.0.0.1')
    const accepted = await incoming
    expect(dialled.initiator).to.equal(true)
    expect(accepted.initiator).to.equal(false)
    expect(socket.connectionCount).to.equal(2)
    await carries(dialled, accepted, 'dialled to accepted')
    await carries(accepted, dialled, 'accepted to dialled')
  })

  it('a dial towards a peer whose connection is accepted but unconfirmed takes it over', async () => {
    const a = await listeningSocket()
    const b = await listeningSocket()
    const incoming = pEvent(b, 'connection') as Promise<UtpConnection>
    const dialling = a.connect(b.address().port, '127.0.0.1')
    const accepted = await incoming
    expect(accepted.confirmed).to.equal(false)
    const claimed = pEvent(accepted, 'claimed')
    const ba = await b.connect(a.address().port, '127.0.0.1')
    await claimed
    expect(ba).to.equal(accepted)
    expect(ba.initiator).to.equal(false)
    const ab = await dialling
    expect(b.connectionCount).to.equal(1)
    await carries(ab, ba, 'a to b')
    await carries(ba, ab, 'b to a')
  })

  it('a forged SYN from the peer\'s address before a dial does not ruin the dial', async () => {
    const a = await listeningSocket()
    const b = await listeningSocket()
    a.on('connection', (c) => { c.on('error', () => {}) })
    const incoming = pEvent(b, 'connection') as Promise<UtpConnection>
    forge(a, syn(0, 0), b.address().port)
    // the forged connection is unconfirmed: the dial takes it over, sees it reset by b, dials
    const ab = await a.connect(b.address().port, '127.0.0.1')
    const ba = await incoming
    expect(ab.initiator).to.equal(true)
    await carries(ab, ba, 'a to b')
    await carries(ba, ab, 'b to a')
  })

  /** Two listening sockets, `a` to dial `b`, and the connections `b` accepts */
  async function dialAndListen (): Promise<{ a: UtpSocket, b: UtpSocket, accepted: UtpConnection[] }> {
    const a = await listeningSocket()
    const b = await listeningSocket()
    a.on('connection', (c) => { c.on('error', () => {}) })
    const accepted: UtpConnection[] = []
    b.on('connection', (c) => {
      c.on('error', () => {})
      accepted.push(c)
    })
    return { a, b, accepted }
  }

  it('a forged SYN that wins the crossing with a pending dial does not kill the dial', async () => {
    const { a, b, accepted } = await dialAndListen()
    const dialling = a.connect(b.address().port, '127.0.0.1')
    // the dial's SYN is out (connect() on a bound socket sends it before its first await)
    await waitFor(() => a.connectionCount === 1, 1_000, 1)
    forge(a, syn(0, 0), b.address().port)
    const ab = await dialling
    // b accepted the first SYN; whatever a did meanwhile (its dial back after b answered it, or,
    // had the SYN-ACK come first, the forged SYN taken as a new connection), b keeps one live connection
    expect(await waitFor(() => accepted.length > 0 && accepted.slice(0, -1).every(c => c.destroyed), 1_000, 1)).to.equal(true)
    const ba = accepted[accepted.length - 1]
    expect(ba.destroyed).to.equal(false)
    await carries(ab, ba, 'a to b')
    await carries(ba, ab, 'b to a')
  })

  it('a forged SYN that wins the crossing before the SYN-ACK: the peer\'s answer to our own SYN brings the dial back', async () => {
    const { a, b, accepted } = await dialAndListen()
    // on a bound socket connect() has sent the SYN before its first await: the forged SYN (id 0,
    // which wins any crossing) is in before b's SYN-ACK can be
    const dialling = a.connect(b.address().port, '127.0.0.1')
    forge(a, syn(0, 0), b.address().port)
    const ab = await dialling
    // the first dial, not a second: an attacker who forged a SYN for each attempt killed the dial
    expect(ab.initiator).to.equal(true)
    expect(accepted).to.have.lengthOf(1)
    expect(accepted[0].destroyed).to.equal(false)
    await carries(ab, accepted[0], 'a to b')
    await carries(accepted[0], ab, 'b to a')
  })

  it('a forged SYN and the SYN-ACK read in one poll phase: the dial still comes back', async () => {
    const a = new UtpSocket({ probeUnreachable: false, connectTimeout: 2_000 })
    sockets.push(a)
    await a.bind(0, '127.0.0.1')
    a.listen()
    const peer = createSocket('udp4')
    raws.push(peer)
    await new Promise<void>((resolve) => { peer.bind(0, '127.0.0.1', resolve) })
    const ourSyn = pEvent(peer, 'message') as Promise<Buffer>
    const dialling = a.connect(peer.address().port, '127.0.0.1')
    const synPacket = decodePacket(await ourSyn)
    if (synPacket instanceof Error) {
      throw synPacket
    }
    // both in one synchronous run, as from one poll phase: the merge and the peer's answer to our
    // own SYN reach the socket in the same flush, before connect() has started waiting on the merge
    forge(a, syn(0, 0), peer.address().port)
    forge(a, encodePacket({ type: PacketType.State, connectionId: synPacket.connectionId, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 5000, ackNr: synPacket.seqNr }), peer.address().port)
    const conn = await dialling
    expect(conn.initiator).to.equal(true)
    expect(conn.destroyed).to.equal(false)
  })

  it('a dial aborted after its merge but before the socket delivered it leaves nothing behind', async () => {
    const a = new UtpSocket({ probeUnreachable: false })
    sockets.push(a)
    await a.bind(0, '127.0.0.1')
    const peer = createSocket('udp4')
    raws.push(peer)
    await new Promise<void>((resolve) => { peer.bind(0, '127.0.0.1', resolve) })
    const controller = new AbortController()
    const dialling = a.connect(peer.address().port, '127.0.0.1', { signal: controller.signal })
    await waitFor(() => a.connectionCount === 1, 1_000, 1)
    // the peer's SYN (id 0) wins the crossing; the abort lands in the same turn, after the engine
    // merged the dial and before the socket's flush delivers the merge
    ;(a as any).dgram.on('message', () => { controller.abort() })
    const reset = pEvent(peer, 'message', {
      filter: (msg: Buffer) => {
        const p = decodePacket(msg)
        return !(p instanceof Error) && p.type === PacketType.Reset && p.connectionId === 0
      }
    })
    peer.send(syn(0, 0), a.address().port, '127.0.0.1')
    await expect(dialling).to.eventually.be.rejected.with.property('name', 'AbortError')
    // the merged connection nobody holds is reset at once, not left open
    await reset
    expect(await waitFor(() => a.connectionCount === 0, 2_000)).to.equal(true)
  })

  it('two libp2p nodes dialling each other at once both get a working connection, one each', async () => {
    const a = await node()
    const b = await node()
    const [ab, ba] = await Promise.all([a.dial(b.getMultiaddrs()[0]), b.dial(a.getMultiaddrs()[0])])
    expect(ab.status).to.equal('open')
    expect(ba.status).to.equal('open')
    expect(a.getConnections(b.peerId)).to.have.lengthOf(1)
    expect(b.getConnections(a.peerId)).to.have.lengthOf(1)
    expect(await a.services.ping.ping(b.peerId)).to.be.a('number')
    expect(await b.services.ping.ping(a.peerId)).to.be.a('number')
  })

  it('as DCUtR dials (one side with initiator: false), both sides end on one connection', async () => {
    const a = await node()
    const b = await node()
    const [ab, ba] = await Promise.all([
      a.dial(b.getMultiaddrs()[0], { force: true }),
      b.dial(a.getMultiaddrs()[0], { force: true, initiator: false } as any)
    ])
    expect(ab.status).to.equal('open')
    expect(ba.status).to.equal('open')
    expect(a.getConnections(b.peerId)).to.have.lengthOf(1)
    expect(b.getConnections(a.peerId)).to.have.lengthOf(1)
    expect(await a.services.ping.ping(b.peerId)).to.be.a('number')
  })
})
