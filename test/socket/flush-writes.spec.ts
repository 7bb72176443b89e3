/**
 * `UtpConnection.flushWrites` and the libp2p connection that calls it after every message: what
 * was written is on the wire when the call returns, one message in one packet, and a burst of
 * small messages still shares packets. (That a bulk write's partial tail waits for the writes
 * after it is checked at the endpoint, in hold-partial.spec.ts.)
 */

import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { Uint8ArrayList } from 'uint8arraylist'
import { UtpSocket } from '../../src/index.ts'
import { toMultiaddrConnection } from '../../src/transport/maconn.ts'
import { waitFor } from './wait-for.ts'
import type { UtpConnection } from '../../src/index.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

const PACKET_SIZE = 1452

interface Pair {
  a: UtpSocket
  b: UtpSocket
  /** dialled from a */
  x: UtpConnection
  /** accepted by b */
  y: UtpConnection
}

async function connectedPair (): Promise<Pair> {
  const a = new UtpSocket({ packetSize: PACKET_SIZE, pathMtuProbing: false })
  const b = new UtpSocket({ packetSize: PACKET_SIZE, pathMtuProbing: false })
  await a.bind(0, '127.0.0.1')
  await b.bind(0, '127.0.0.1')
  b.listen()
  const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
  const x = await a.connect(b.address().port, '127.0.0.1')
  return { a, b, x, y: await accepted }
}

function libp2pConnection (x: UtpConnection): MultiaddrConnection {
  return toMultiaddrConnection({
    connection: x,
    remoteAddr: multiaddr(`/ip4/127.0.0.1/udp/${x.remotePort}/utp`),
    direction: 'outbound',
    log: logger('test:flush-writes')
  })
}

/** Data packets `conn` has sent, retransmissions included (its ACKs are counted apart) */
function dataPacketsSent (conn: UtpConnection): number {
  return conn.stats.packetsSent - conn.stats.acksSent
}

describe('UtpConnection flushWrites', function () {
  this.timeout(30_000)
  let pair: Pair | undefined

  afterEach(async () => {
    await pair?.a.close()
    await pair?.b.close()
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
    const maConn = libp2pConnection(x)
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
    const maConn = libp2pConnection(x)
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
