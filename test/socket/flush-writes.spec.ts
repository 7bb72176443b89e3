/**
 * `UtpConnection.flushWrites` and the libp2p connection that calls it after every message: what
 * was written is on the wire when the call returns, one message in one packet, and a burst of
 * small messages still shares packets. (That a bulk write's partial tail waits for the writes
 * after it is checked at the endpoint, in hold-partial.spec.ts.)
 */

import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { closePair, connectedPair, libp2pConnection } from './pair.ts'
import { waitFor } from './wait-for.ts'
import type { Pair } from './pair.ts'
import type { UtpConnection } from '../../src/index.ts'

/** Data packets `conn` has sent, retransmissions included (its ACKs are counted apart) */
function dataPacketsSent (conn: UtpConnection): number {
  return conn.stats.packetsSent - conn.stats.acksSent
}

describe('UtpConnection flushWrites', function () {
  this.timeout(30_000)
  let pair: Pair | undefined

  afterEach(async () => {
    await closePair(pair)
    pair = undefined
  })

  it('sends what was written before it returns; a plain write waits for the microtasks', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    const received: Buffer[] = []
    y.on('data', (chunk: Buffer) => { received.push(chunk) })
    const before = dataPacketsSent(x)
    x.write('hello, ')
    x.write('world')
    expect(dataPacketsSent(x)).to.equal(before, 'a write alone is not sent in the same turn')
    x.flushWrites()
    expect(dataPacketsSent(x)).to.equal(before + 1, 'both writes left in one packet, at once')
    expect(await waitFor(() => Buffer.concat(received).toString() === 'hello, world', 10_000)).to.equal(true)
    expect(dataPacketsSent(x)).to.equal(before + 1, 'and nothing was sent twice')
  })

  it('the libp2p connection puts a message of several buffers on the wire in one packet before send returns', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    const maConn = libp2pConnection(x, 'outbound')
    const received: Buffer[] = []
    y.on('data', (chunk: Buffer) => { received.push(chunk) })
    const before = dataPacketsSent(x)
    // as Noise hands a message over: its length, then its ciphertext
    maConn.send(new Uint8ArrayList(Uint8Array.of(0, 5), new TextEncoder().encode('hello')))
    expect(dataPacketsSent(x)).to.equal(before + 1)
    expect(await waitFor(() => Buffer.concat(received).equals(Buffer.from('\x00\x05hello')), 10_000)).to.equal(true)
    maConn.abort(new Error('test over'))
  })

  it('a burst of small messages still shares packets', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    const maConn = libp2pConnection(x, 'outbound')
    let bytes = 0
    y.on('data', (chunk: Buffer) => { bytes += chunk.byteLength })
    const before = dataPacketsSent(x)
    const messages = 200
    const size = 700
    for (let i = 0; i < messages; i++) {
      maConn.send(new Uint8Array(size))
    }
    expect(await waitFor(() => bytes === messages * size, 10_000)).to.equal(true)
    // 140,000 bytes fill 99 packets (a few go out short while the window opens); a packet per
    // message would take 200
    expect(dataPacketsSent(x) - before).to.be.at.most(110)
    maConn.abort(new Error('test over'))
  })
})
