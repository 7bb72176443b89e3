/**
 * The answer to a SYN leaves as the SYN is read, before the application's 'connection' handler
 * runs (a libp2p listener starts its upgrade there) and before the rest of the datagrams read in
 * the same poll phase: the dialler's whole dial waits for it.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { UtpSocket } from '../../src/index.ts'
import type { UtpConnection } from '../../src/index.ts'

describe('UtpSocket SYN-ACK', function () {
  this.timeout(10_000)
  const sockets: UtpSocket[] = []

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close() }))
  })

  it('has sent the SYN-ACK when the connection handler runs', async () => {
    const a = new UtpSocket({ pathMtuProbing: false })
    const b = new UtpSocket({ pathMtuProbing: false })
    sockets.push(a, b)
    await a.bind(0, '127.0.0.1')
    await b.bind(0, '127.0.0.1')
    b.listen()
    let sentBeforeHandler: number | undefined
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    b.once('connection', (conn) => { sentBeforeHandler = conn.stats.packetsSent })
    const x = await a.connect(b.address().port, '127.0.0.1')
    const y = await accepted
    expect(sentBeforeHandler).to.equal(1, 'the SYN-ACK was out before the handler')
    expect(y.stats.packetsSent).to.be.at.least(1)
    expect(x.connected).to.equal(true)
  })
})
