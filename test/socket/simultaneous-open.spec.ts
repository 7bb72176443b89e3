/**
 * Simultaneous open over real UDP: two sockets dialling each other at once end with one
 * connection; a dial towards a peer whose connection we accepted but it has not confirmed yet
 * takes that connection over; and two libp2p nodes dialling each other at once, plainly or as
 * DCUtR does (one side with `initiator: false`), both get a working connection.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { pEvent } from 'p-event'
import { UtpSocket, utp } from '../../src/index.ts'
import type { UtpConnection } from '../../src/index.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

const sockets: UtpSocket[] = []
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
