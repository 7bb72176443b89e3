/**
 * The handshake's two answers leave when they help the dial most. The SYN-ACK leaves as the SYN
 * is read, before the connection is delivered to the application's 'connection' handler. The ACK
 * of the SYN-ACK waits for the dialler's caller, whose first data carries it (a libp2p upgrade
 * writes at once); without data it goes on its own, a turn of the event loop later. With path MTU
 * probing on, its announcement follows that first data.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { listeningPair } from './pair.ts'
import { waitFor } from './wait-for.ts'
import type { UtpConnection, UtpSocket } from '../../src/index.ts'

describe('UtpSocket handshake answers', function () {
  this.timeout(10_000)
  const sockets: UtpSocket[] = []

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close() }))
  })

  /** a listening socket b and a socket a to dial it from; no path MTU probing (no announcement) unless asked */
  async function sockets2 (pathMtuProbing = false): Promise<{ a: UtpSocket, b: UtpSocket }> {
    const pair = await listeningPair({ pathMtuProbing })
    sockets.push(pair.a, pair.b)
    return pair
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
    expect(x.stats.packetsSent).to.equal(2, 'the SYN and the data')
    expect(x.stats.acksSent).to.equal(0)
    const y = await accepted
    const received: Buffer[] = []
    y.on('data', (chunk: Buffer) => { received.push(chunk) })
    expect(await waitFor(() => Buffer.concat(received).toString() === 'hello', 5_000)).to.equal(true)
    expect(y.confirmed).to.equal(true)
    expect(x.stats.acksSent).to.equal(0, 'no ACK on its own, then or later')
  })

  it('with path MTU probing on, sends the first data ahead of the announcement', async () => {
    const { a, b } = await sockets2(true)
    // the types of a's packets as they reach b, ahead of b's own handling (a slow dial may also
    // send a port-unreachable probe, from another port)
    const types: number[] = []
    ;(b as any).dgram.prependListener('message', (msg: Buffer, rinfo: { port: number }) => {
      if (rinfo.port === a.address().port) {
        types.push(msg[0] >> 4)
      }
    })
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    const x = await a.connect(b.address().port, '127.0.0.1')
    x.write('hello')
    x.flushWrites()
    expect(x.stats.acksSent).to.equal(1, 'the announcement, an ST_STATE')
    const y = await accepted
    expect(await waitFor(() => types.length >= 3, 5_000)).to.equal(true)
    // ST_SYN (4), then ST_DATA (0) carrying the ACK of the SYN-ACK, then the ST_STATE (2)
    expect(types.slice(0, 3)).to.deep.equal([4, 0, 2])
    expect(y.confirmed).to.equal(true)
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
