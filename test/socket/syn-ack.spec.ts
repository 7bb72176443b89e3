/**
 * The handshake's two answers leave when they help the dial most. The SYN-ACK leaves as the SYN
 * is read, before the application's 'connection' handler runs (a libp2p listener starts its
 * upgrade there). The ACK of the SYN-ACK waits for the dialler's caller, whose first data carries
 * it (a libp2p upgrade writes at once); without data it goes on its own, a turn of the event loop
 * later.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { UtpSocket } from '../../src/index.ts'
import { waitFor } from './wait-for.ts'
import type { UtpConnection } from '../../src/index.ts'

describe('UtpSocket handshake answers', function () {
  this.timeout(10_000)
  const sockets: UtpSocket[] = []

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close() }))
  })

  /** a listening socket b and a socket a to dial it from; no path MTU probing (no announcement) */
  async function sockets2 (): Promise<{ a: UtpSocket, b: UtpSocket }> {
    const a = new UtpSocket({ pathMtuProbing: false })
    const b = new UtpSocket({ pathMtuProbing: false })
    sockets.push(a, b)
    await a.bind(0, '127.0.0.1')
    await b.bind(0, '127.0.0.1')
    b.listen()
    return { a, b }
  }

  it('has sent the SYN-ACK when the connection handler runs', async () => {
    const { a, b } = await sockets2()
    let sentBeforeHandler: number | undefined
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    b.once('connection', (conn) => { sentBeforeHandler = conn.stats.packetsSent })
    const x = await a.connect(b.address().port, '127.0.0.1')
    const y = await accepted
    expect(sentBeforeHandler).to.equal(1, 'the SYN-ACK was out before the handler')
    expect(y.stats.packetsSent).to.be.at.least(1)
    expect(x.connected).to.equal(true)
  })

  it('lets the first data, written as the dial resolves, carry the ACK of the SYN-ACK', async () => {
    const { a, b } = await sockets2()
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    const x = await a.connect(b.address().port, '127.0.0.1')
    expect(x.stats.packetsSent).to.equal(1, 'only the SYN so far')
    x.write('hello')
    x.flushWrites()
    const y = await accepted
    const received: Buffer[] = []
    y.on('data', (chunk: Buffer) => { received.push(chunk) })
    expect(await waitFor(() => Buffer.concat(received).toString() === 'hello', 5_000)).to.equal(true)
    expect(y.confirmed).to.equal(true)
    expect(x.stats.acksSent).to.equal(0, 'no ACK on its own')
    expect(x.stats.packetsSent).to.equal(2, 'the SYN and the data')
  })

  it('sends the ACK of the SYN-ACK on its own when the dialler writes nothing', async () => {
    const { a, b } = await sockets2()
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    const x = await a.connect(b.address().port, '127.0.0.1')
    const y = await accepted
    if (!y.confirmed) {
      await pEvent(y, 'confirmed')
    }
    expect(x.stats.acksSent).to.equal(1)
    expect(x.stats.packetsSent).to.equal(2, 'the SYN and the ACK')
  })
})
