/**
 * `UtpConnection.setDataSink`: received data handed over as the packets' own payloads, in order
 * and without a copy, with pause and resume, and the libp2p connection that reads this way.
 */

import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { SocketStateError } from '../../src/index.ts'
import { closePair, PACKET_SIZE, connectedPair, libp2pConnection, preparedLibp2pConnection } from './pair.ts'
import { expectedHash, sendStream } from './streams.ts'
import { waitFor } from './wait-for.ts'
import type { Pair } from './pair.ts'
import type { DataSink, UtpConnection } from '../../src/index.ts'

/** small, so that a paused reader closes the window after little data */
const RECV_BUFFER = 256 * 1024

/** What a sink saw */
interface Sunk {
  hash: ReturnType<typeof createHash>
  bytes: number
  /** largest ArrayBuffer behind a chunk: a joined copy would be larger than one datagram */
  largestBuffer: number
  calls: number
}

function hashingSink (): { sunk: Sunk, sink: DataSink } {
  const sunk: Sunk = { hash: createHash('sha256'), bytes: 0, largestBuffer: 0, calls: 0 }
  return {
    sunk,
    sink: (chunks) => {
      sunk.calls++
      for (const chunk of chunks) {
        sunk.hash.update(chunk)
        sunk.bytes += chunk.byteLength
        sunk.largestBuffer = Math.max(sunk.largestBuffer, chunk.buffer.byteLength)
      }
    }
  }
}

describe('UtpConnection data sink', function () {
  this.timeout(60_000)
  let pair: Pair | undefined

  afterEach(async () => {
    await closePair(pair)
    pair = undefined
  })

  it('hands every byte over in order as views of the datagrams, and the Readable side still ends', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    const size = 4 * 1024 * 1024
    const { sunk, sink } = hashingSink()
    let dataEvents = 0
    y.setDataSink(sink)
    y.on('data', () => { dataEvents++ })
    const ended = pEvent(y, 'end')
    await sendStream(x, size, 7)
    await ended
    expect(sunk.bytes).to.equal(size)
    expect(sunk.hash.digest('hex')).to.equal(expectedHash(size, 7))
    expect(sunk.largestBuffer).to.be.at.most(PACKET_SIZE, 'no chunk was joined into a larger buffer')
    expect(dataEvents).to.equal(0, 'nothing went through the Readable side')
  })

  it('keeps data in the engine while paused, the window closes, and resuming delivers the rest', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    const size = 2 * 1024 * 1024
    const { sunk, sink } = hashingSink()
    y.setDataSink(sink)
    y.pauseData()
    const sent = sendStream(x, size, 11)
    // the receive window (256 KiB) fills and stays full: the sender cannot get further
    expect(await waitFor(() => y.entry.connection.readableLength >= RECV_BUFFER - PACKET_SIZE, 10_000)).to.equal(true, 'the engine filled its buffer')
    expect(sunk.bytes).to.equal(0, 'nothing reached the paused sink')
    expect(y.entry.connection.receiveWindow).to.be.below(PACKET_SIZE, 'the window closed')
    const ended = pEvent(y, 'end')
    y.resumeData()
    await Promise.all([sent, ended])
    expect(sunk.bytes).to.equal(size)
    expect(sunk.hash.digest('hex')).to.equal(expectedHash(size, 11))
  })

  it('hands over first what the Readable side already held', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    x.write(Buffer.from('first '))
    // a 'readable' listener makes the Readable side pull the data into its own buffer
    await pEvent(y, 'readable')
    expect(y.readableLength).to.equal(6)
    y.removeAllListeners('readable')
    const got: string[] = []
    y.setDataSink((chunks) => { got.push(...chunks.map(c => Buffer.from(c).toString())) })
    expect(got.join('')).to.equal('first ')
    const ended = pEvent(y, 'end')
    x.end(Buffer.from('second'))
    await ended
    expect(got.join('')).to.equal('first second')
  })

  it('refuses a sink while something listens for \'data\', which would get the backlog a second time', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    let viaData = 0
    const onData = (chunk: Uint8Array): void => { viaData += chunk.byteLength }
    y.on('data', onData)
    y.pause()
    x.write(Buffer.from('held'))
    // paused: the Readable side holds it (no 'readable' listener, whose removal would resume the flow)
    expect(await waitFor(() => y.readableLength === 4, 2_000, 1)).to.equal(true)
    expect(() => { y.setDataSink(() => {}) }).to.throw(SocketStateError)
    // without the listener, the sink takes the backlog, which the listener never saw
    y.off('data', onData)
    const got: string[] = []
    y.setDataSink((chunks) => { got.push(...chunks.map(c => Buffer.from(c).toString())) })
    expect({ got: got.join(''), viaData, readable: y.readableLength }).to.deep.equal({ got: 'held', viaData: 0, readable: 0 })
  })

  it('a FIN that came while paused ends the Readable side only after the sink has had every byte', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    const size = 100_000
    let sunk = 0
    let sunkAtEnd = -1
    y.pauseData()
    y.setDataSink((chunks) => { sunk += chunks.reduce((n, c) => n + c.byteLength, 0) })
    y.once('end', () => { sunkAtEnd = sunk })
    const sent = sendStream(x, size, 17)
    await sent
    // every byte and the FIN are acknowledged: the engine holds them, the sink has none
    expect(y.entry.connection.readableLength).to.equal(size)
    expect(sunk).to.equal(0)
    expect(sunkAtEnd).to.equal(-1, "no 'end' while data is held back")
    const ended = pEvent(y, 'end')
    y.resumeData()
    await ended
    expect(sunkAtEnd).to.equal(size)
  })

  it('a pause before the sink is set holds back what the Readable side already had, too', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    x.write(Buffer.from('first '))
    await pEvent(y, 'readable')
    y.removeAllListeners('readable')
    const got: string[] = []
    y.pauseData()
    y.setDataSink((chunks) => { got.push(...chunks.map(c => Buffer.from(c).toString())) })
    expect(got).to.deep.equal([])
    y.resumeData()
    expect(got.join('')).to.equal('first ')
  })

  it('closing the socket reads a paused sink on and closes gracefully', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { a, x, y } = pair
    const got: number[] = []
    y.setDataSink((chunks) => { got.push(...chunks.map(c => c.byteLength)) })
    y.pauseData()
    x.write(Buffer.alloc(10_000, 1))
    expect(await waitFor(() => y.entry.connection.readableLength === 10_000, 10_000)).to.equal(true, 'the engine holds the data')
    const xClosed = pEvent(x, 'close')
    x.resume()
    await pair.b.close(30_000)
    await xClosed
    expect(y.errored).to.equal(null, 'closed without a reset')
    expect(x.errored).to.equal(null, 'the peer saw a FIN, not a reset')
    expect(got.reduce((n, b) => n + b, 0)).to.equal(10_000)
    await a.close()
  })

  it('a libp2p connection takes a batch of more packets than a call takes arguments', () => {
    // a paused reader lets the engine fill its window; tiny packets make that many chunks
    const fake = new EventEmitter() as EventEmitter & { sink?: DataSink, setDataSink(s: DataSink): void, destroyed: boolean }
    fake.destroyed = false
    fake.setDataSink = (s) => { fake.sink = s }
    const maConn = preparedLibp2pConnection(1, 'inbound').attach(fake as unknown as UtpConnection)
    let bytes = 0
    maConn.addEventListener('message', (evt) => { bytes += evt.data.byteLength })
    const chunks = Array.from({ length: 200_000 }, () => new Uint8Array(1))
    fake.sink?.(chunks)
    expect(bytes).to.equal(200_000)
    maConn.abort(new Error('test over'))
  })

  it('a closing libp2p connection drops what the peer still sends, and both sides close cleanly', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    const maConn = libp2pConnection(y, 'inbound')
    const seen: string[] = []
    maConn.addEventListener('message', (evt) => { seen.push(Buffer.from(evt.data.subarray()).toString()) })
    x.write('before')
    expect(await waitFor(() => seen.join('') === 'before', 10_000)).to.equal(true, 'data before the close arrives')
    const xEnded = pEvent(x, 'end')
    x.resume()
    const closing = maConn.close()
    // the peer's muxer may still be talking when ours has closed (a Yamux ping, a GoAway)
    x.end('late')
    await closing
    await xEnded
    expect(seen.join('')).to.equal('before', 'nothing sent after the close began reached the libp2p side')
    expect(y.errored).to.equal(null, 'no reset on our side')
    expect(x.errored).to.equal(null, 'the peer saw a FIN, not a reset')
  })

  it('a libp2p connection reads through the sink and pauses it', async () => {
    pair = await connectedPair({ recvBufferSize: RECV_BUFFER })
    const { x, y } = pair
    const maConn = libp2pConnection(y, 'inbound')
    const hash = createHash('sha256')
    let bytes = 0
    maConn.addEventListener('message', (evt) => {
      const chunk = evt.data.subarray()
      hash.update(chunk)
      bytes += chunk.byteLength
    })
    maConn.pause()
    const size = 1024 * 1024
    const sent = sendStream(x, size, 13)
    expect(await waitFor(() => y.entry.connection.readableLength >= RECV_BUFFER - PACKET_SIZE, 10_000)).to.equal(true, 'the engine filled its buffer')
    expect(bytes).to.equal(0, 'nothing reached the paused libp2p connection')
    maConn.resume()
    await sent
    expect(await waitFor(() => bytes === size, 10_000)).to.equal(true, `all ${size} bytes arrived (got ${bytes})`)
    expect(hash.digest('hex')).to.equal(expectedHash(size, 13))
    maConn.abort(new Error('test over'))
  })
})
