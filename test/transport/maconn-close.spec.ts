import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { Uint8ArrayList } from 'uint8arraylist'
import { SocketPool } from '../../src/transport/socket-pool.ts'
import { libp2pConnection, listeningPair } from '../socket/pair.ts'
import { chunkOf, expectedHash, receiveStream } from '../socket/streams.ts'
import { waitFor, within } from '../socket/wait-for.ts'
import { holdingRelay } from './holding-relay.ts'
import type { HoldingRelay } from './holding-relay.ts'
import type { UtpConnection, UtpSocket } from '../../src/index.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

const BYTES = 512 * 1024
const SEED = 57

/** Dials `b` from `from` (through `port` when given): our end as libp2p's connection, and `b`'s */
async function libp2pPair (from: UtpSocket, b: UtpSocket, port = b.address().port): Promise<{ x: UtpConnection, y: UtpConnection, maConn: MultiaddrConnection }> {
  const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
  const x = await from.connect(port, '127.0.0.1')
  const y = await accepted
  const maConn = libp2pConnection(x, 'outbound')
  maConn.addEventListener('message', () => {})
  return { x, y, maConn }
}

/**
 * Dials `b` through `relay` from `from`, writes {@link BYTES} over the libp2p connection and
 * closes it while the relay holds back everything `b` sends (no ACK, no FIN comes back, as on a
 * long path or when the FIN is lost). Resolves once the close is done, with what `b` receives
 * until its 'end' and what it should receive.
 */
async function closeWhileHeld (from: UtpSocket, b: UtpSocket, relay: HoldingRelay): Promise<{ got: Promise<{ sha256: string, bytes: number }>, sha256: string }> {
  const { y, maConn } = await libp2pPair(from, b, relay.port)
  const got = receiveStream(y)
  relay.hold()
  maConn.send(new Uint8ArrayList(chunkOf(SEED, 0, BYTES)))
  // a close that waits for the peer's acknowledgement and FIN timed out here and reset
  await within(maConn.close({ signal: AbortSignal.timeout(10_000) }), 5_000, 'close() waited for the peer')
  expect(maConn.status).to.equal('closed')
  return { got, sha256: expectedHash(BYTES, SEED, BYTES) }
}

describe('libp2p connection: closing', function () {
  this.timeout(30_000)

  it('ends our side when the peer ends its own, even with connection.allowHalfOpen set', async () => {
    // libp2p takes the peer's FIN for the end of the connection and never closes it itself
    const { a, b } = await listeningPair({ connection: { allowHalfOpen: true } })
    try {
      const { x, y, maConn } = await libp2pPair(a, b)
      y.on('error', () => {})
      y.resume()
      const closed = new Promise<void>((resolve) => { x.once('close', () => { resolve() }) })
      y.end()
      await within(closed, 5_000, 'our side never closed after the peer ended its own')
      expect(maConn.status).to.equal('closed')
      expect(x.writableEnded).to.equal(true)
      expect(await waitFor(() => a.connectionCount === 0 && b.connectionCount === 0, 5_000, 20))
        .to.equal(true, `connectionCount a=${a.connectionCount} b=${b.connectionCount}`)
    } finally {
      await a.close(0)
      await b.close(0)
    }
  })

  it('goes on in the background when the peer is slow to answer: nothing is reset or lost', async () => {
    const { a, b } = await listeningPair()
    const relay = await holdingRelay(b.address().port)
    try {
      const { got, sha256 } = await closeWhileHeld(a, b, relay)
      relay.release()
      // delivered in the background, then a FIN: all of it, and a clean end
      expect(await within(got, 10_000, 'the peer never got its FIN')).to.deep.equal({ bytes: BYTES, sha256 })
      expect(await waitFor(() => a.connectionCount === 0, 5_000, 20)).to.equal(true, 'our side never closed in the engine')
    } finally {
      relay.close()
      await a.close(0)
      await b.close(0)
    }
  })

  it('the transport keeps its socket open while a closed connection still delivers in the background', async () => {
    const { a, b } = await listeningPair()
    // the dial leaves from the pool's socket instead
    await a.close(0)
    const relay = await holdingRelay(b.address().port)
    const pool = new SocketPool({ packetSize: 1452, pathMtuProbing: false, probeUnreachable: false }, defaultLogger().forComponent('test:pool'))
    try {
      const socket = await pool.forDial('udp4', '127.0.0.1')
      const { got, sha256 } = await closeWhileHeld(socket, b, relay)
      // as the transport does once the connection closes: the last reference, so the socket closes
      const released = pool.release(socket)
      relay.release()
      expect(await within(got, 10_000, 'the peer never got its FIN')).to.deep.equal({ bytes: BYTES, sha256 })
      await within(released, 5_000, 'the socket never closed')
    } finally {
      relay.close()
      await pool.closeAll()
      await b.close(0)
    }
  })

  it('reads and drops what the peer still sends after our close, and ends without a reset', async () => {
    // the peer keeps its side open after our FIN: our close goes on in the background
    const { a, b } = await listeningPair({}, { connection: { allowHalfOpen: true } })
    try {
      const { x, y, maConn } = await libp2pPair(a, b)
      let peerError: Error | undefined
      y.on('error', (err) => { peerError = err })
      const peerClosed = new Promise<void>((resolve) => { y.once('close', () => { resolve() }) })
      y.resume()
      await maConn.close()
      expect(x.destroyed).to.equal(true)
      // our side is gone, the engine still closing: what the peer sends now nobody reads
      y.write(new Uint8Array(256 * 1024))
      y.end()
      await within(peerClosed, 10_000, 'the peer never closed')
      expect(peerError).to.equal(undefined)
      expect(await waitFor(() => a.connectionCount === 0, 5_000, 20)).to.equal(true, 'our side never closed in the engine')
    } finally {
      await a.close(0)
      await b.close(0)
    }
  })

  it('gives up on a peer that never sends its FIN, orphanTimeout after it acknowledged ours', async () => {
    // the peer acknowledges our FIN at once (within the close's wait) but keeps its side open
    const { a, b } = await listeningPair({ connection: { orphanTimeout: 300 } }, { connection: { allowHalfOpen: true } })
    try {
      const { x, y, maConn } = await libp2pPair(a, b)
      y.on('error', () => {})
      y.resume()
      await maConn.close()
      expect(x.destroyed).to.equal(true)
      // keep-alives would otherwise hold the connection in the engine for good
      expect(await waitFor(() => a.connectionCount === 0, 5_000, 20)).to.equal(true, 'our side never left the engine')
    } finally {
      await a.close(0)
      await b.close(0)
    }
  })
})
