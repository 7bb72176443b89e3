/**
 * `UtpConnection.flushWrites` and the libp2p connection that calls it after every message: what
 * was written is on the wire when the call returns (a small message in one packet, a larger one
 * with its short last packet), and a burst of small messages still shares packets. (That a bulk
 * write's partial tail waits for the writes after it is checked at the endpoint, in
 * hold-partial.spec.ts.)
 */

import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { closePair, connectedPair, libp2pConnection } from './pair.ts'
import { waitFor } from './wait-for.ts'
import type { Pair } from './pair.ts'
import type { UtpConnection } from '../../src/index.ts'

/** Data packets `conn` has sent, retransmissions (tail loss probes among them) not counted */
function dataPacketsSent (conn: UtpConnection): number {
  return conn.stats.packetsSent - conn.stats.acksSent - conn.stats.retransmits
}

/** Moves `bytes` from x to y and waits until every byte is acknowledged: the window is open */
async function warmUp (x: UtpConnection, y: UtpConnection, bytes: number): Promise<void> {
  let received = 0
  const count = (chunk: Buffer): void => { received += chunk.byteLength }
  y.on('data', count)
  x.write(Buffer.alloc(bytes))
  expect(await waitFor(() => received === bytes && x.entry.connection.flight === 0, 10_000)).to.equal(true, 'warm-up transfer done')
  y.off('data', count)
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
    expect(dataPacketsSent(x)).to.equal(before + 1, 'and nothing new was sent later')
  })

  it('the libp2p connection writes a small message of several buffers once and puts it on the wire in one packet before send returns', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    const maConn = libp2pConnection(x, 'outbound')
    const received: Buffer[] = []
    y.on('data', (chunk: Buffer) => { received.push(chunk) })
    let writes = 0
    const write = x.write.bind(x)
    x.write = ((...args: Parameters<typeof x.write>) => { writes++; return write(...args) }) as typeof x.write
    const before = dataPacketsSent(x)
    // as Noise hands a message over: its length, then its ciphertext
    maConn.send(new Uint8ArrayList(Uint8Array.of(0, 5), new TextEncoder().encode('hello')))
    expect(writes).to.equal(1, 'one write for the whole message')
    expect(dataPacketsSent(x)).to.equal(before + 1)
    expect(await waitFor(() => Buffer.concat(received).equals(Buffer.from('\x00\x05hello')), 10_000)).to.equal(true)
    maConn.abort(new Error('test over'))
  })

  it('a message of several packets on an idle connection is all on the wire, its short last packet too, before send returns', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    await warmUp(x, y, 256 * 1024)
    const maConn = libp2pConnection(x, 'outbound')
    const before = dataPacketsSent(x)
    maConn.send(new Uint8Array(3_000))
    // 3,000 bytes: two full packets and a short one
    expect(dataPacketsSent(x)).to.equal(before + 3)
    maConn.abort(new Error('test over'))
  })

  it('a burst of small messages on an open window still shares packets', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    await warmUp(x, y, 512 * 1024)
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
    // 140,000 bytes fill 99 packets, and the first few messages go out alone while less than a
    // full packet is in flight; a packet per message would take 200
    expect(dataPacketsSent(x) - before).to.be.at.most(110)
    maConn.abort(new Error('test over'))
  })
})
