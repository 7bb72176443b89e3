/**
 * The handshake's two answers leave when they help the dial most. The SYN-ACK leaves as the SYN
 * is read, before the connection is delivered to the application's 'connection' handler. The ACK
 * of the SYN-ACK leaves as the SYN-ACK is read, before the dial resolves, without waiting for the
 * caller's first data: it
 * confirms the accepting side, which a libp2p listener waits for before it upgrades, so that the
 * listener sets up while the dialler does. With path MTU probing on, that ACK is the announcement.
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

  it('has sent the ACK of the SYN-ACK when the dial resolves, and the first data follows it', async () => {
    const { a, b } = await sockets2()
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    const x = await a.connect(b.address().port, '127.0.0.1')
    expect(x.stats.packetsSent).to.equal(2, 'the SYN and the ACK, before the caller goes on')
    expect(x.stats.acksSent).to.equal(1)
    const y = await accepted
    if (!y.confirmed) {
      await pEvent(y, 'confirmed')
    }
    expect(y.stats.packetsReceived).to.equal(1, 'confirmed by the ACK alone (the SYN is not counted): no data yet')
    x.write('hello')
    x.flushWrites()
    expect(x.stats.packetsSent).to.equal(3, 'the SYN, the ACK and the data')
    const received: Buffer[] = []
    y.on('data', (chunk: Buffer) => { received.push(chunk) })
    expect(await waitFor(() => Buffer.concat(received).toString() === 'hello', 5_000)).to.equal(true)
    expect(x.stats.acksSent).to.equal(1, 'the data needs no ACK of its own')
  })

  it('sends the ACK of the SYN-ACK as it reads the SYN-ACK, not at the flush after the poll phase', async () => {
    const { a, b } = await sockets2()
    const dgram = (a as any).dgram
    let sent = 0
    const send = dgram.send
    dgram.send = function (...args: unknown[]) {
      sent++
      return send.apply(this, args)
    }
    // appended after the socket's own listener: runs right after it has handled the same datagram
    let sentOnSynAck: number | undefined
    dgram.on('message', (_msg: Buffer, rinfo: { port: number }) => {
      if (sentOnSynAck == null && rinfo.port === b.address().port) {
        sentOnSynAck = sent
      }
    })
    const x = await a.connect(b.address().port, '127.0.0.1')
    expect(sentOnSynAck).to.equal(2, 'the SYN, and the ACK before the next datagram or the flush')
    expect(x.stats.acksSent).to.equal(1)
  })

  it('with path MTU probing on, acknowledges the SYN-ACK with the announcement, ahead of the first data', async () => {
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
    // ST_SYN (4), then the announcement, an ST_STATE (2) that acknowledges the SYN-ACK, then ST_DATA (0)
    expect(types.slice(0, 3)).to.deep.equal([4, 2, 0])
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
