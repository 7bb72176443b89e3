/**
 * A half-open stream (`allowHalfOpen`) whose peer, having finished its side and acknowledged all
 * we wrote, answers with ST_RESET: the engine takes that for a graceful close, and its connection
 * is gone. The stream must not outlive it: it closes as soon as what the peer sent has been read,
 * and a write meanwhile fails with a typed error instead of the engine's state error.
 */

import { once } from 'node:events'
import { expect } from 'aegir/chai'
import { ConnectionResetError, ConnState, PacketType, UtpSocket } from '../../src/index.ts'
import { HOST, rawPeer } from './raw-peer.ts'
import { waitFor, within } from './wait-for.ts'
import type { Packet, UtpConnection } from '../../src/index.ts'

const CONN_ID = 4000
const SEQ = 700

describe('UtpConnection: ST_RESET after the peer\'s FIN on a half-open stream', function () {
  this.timeout(10_000)

  const cleanup: Array<() => Promise<void> | void> = []

  afterEach(async () => {
    await Promise.allSettled(cleanup.splice(0).map(async f => { await f() }))
  })

  /**
   * A half-open listener, a raw UDP peer that dials it by hand, and the accepted stream. `send`
   * sends a packet of the peer's connection; `isn` is the listener's sequence number from its SYN-ACK.
   */
  async function accepted (): Promise<{ conn: UtpConnection, got: Packet[], isn: number, send(p: Partial<Packet>): void }> {
    const b = new UtpSocket({ pathMtuProbing: false, connection: { allowHalfOpen: true } })
    cleanup.push(async () => { await b.close(0) })
    await b.bind(0, HOST)
    b.listen()
    const { raw, got, send: sendTo } = await rawPeer()
    cleanup.push(() => { raw.close() })
    const port = b.address().port
    const send = (p: Partial<Packet>): void => {
      sendTo({ connectionId: CONN_ID + 1, ...p }, port)
    }
    const connection = once(b, 'connection') as Promise<[UtpConnection]>
    send({ type: PacketType.Syn, connectionId: CONN_ID, seqNr: SEQ, ackNr: 0 })
    const [conn] = await within(connection, 2_000, 'no connection accepted')
    expect(await waitFor(() => got.some(p => p.type === PacketType.State), 2_000)).to.equal(true, 'no SYN-ACK')
    const isn = (got.find(p => p.type === PacketType.State) as Packet).seqNr
    return { conn, got, isn, send }
  }

  /** The peer's FIN after `payloads`, acknowledged by the listener, then its ST_RESET, processed */
  async function finThenReset (conn: UtpConnection, got: Packet[], isn: number, send: (p: Partial<Packet>) => void, payloads: string[] = []): Promise<void> {
    payloads.forEach((text, i) => {
      send({ type: PacketType.Data, seqNr: SEQ + 1 + i, ackNr: isn - 1, payload: Buffer.from(text) })
    })
    const finSeq = SEQ + 1 + payloads.length
    send({ type: PacketType.Fin, seqNr: finSeq, ackNr: isn - 1 })
    expect(await waitFor(() => got.some(p => p.type === PacketType.State && p.ackNr === finSeq), 2_000)).to.equal(true, 'the FIN was not acknowledged')
    // our side stays open: the peer finished, we did not
    expect(conn.writable).to.equal(true)
    // libutp after its linger, or a peer whose orphan timeout ran out: ST_RESET, acknowledging all we sent
    send({ type: PacketType.Reset, seqNr: finSeq + 1, ackNr: isn - 1 })
    expect(await waitFor(() => conn.entry.connection.state === ConnState.Closed, 2_000)).to.equal(true, 'the ST_RESET was not taken')
    expect(conn.entry.connection.reason).to.equal('closed')
  }

  it('a stream that has read to the end closes at once, without an error, and a later write fails', async () => {
    const { conn, got, isn, send } = await accepted()
    const errors: Error[] = []
    conn.on('error', (err) => { errors.push(err) })
    conn.resume()
    const ended = once(conn, 'end')
    const closed = once(conn, 'close')
    await finThenReset(conn, got, isn, send)
    await within(ended, 2_000, 'no end')
    await within(closed, 2_000, 'the stream outlived its connection')
    expect(errors).to.deep.equal([], 'a graceful close reported an error')
    const writeErr = await new Promise<Error | null | undefined>((resolve) => { conn.write('too late', resolve) })
    expect(writeErr).to.have.property('code', 'ERR_STREAM_DESTROYED')
  })

  it('a stream that has not read yet keeps what it received, and closes once it has read it', async () => {
    const { conn, got, isn, send } = await accepted()
    conn.on('error', () => {})
    // nothing reads until the connection is gone
    await finThenReset(conn, got, isn, send, ['first ', 'second'])
    const closed = once(conn, 'close')
    const chunks: Buffer[] = []
    conn.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    await within(closed, 2_000, 'the stream outlived its connection')
    expect(Buffer.concat(chunks).toString()).to.equal('first second')
    expect(conn.readableEnded).to.equal(true, 'closed before the end of what the peer sent')
    expect(conn.errored).to.equal(null)
  })

  it('a stream that never reads, with nothing left unread, closes without an error', async () => {
    const { conn, got, isn, send } = await accepted()
    const errors: Error[] = []
    conn.on('error', (err) => { errors.push(err) })
    const closed = once(conn, 'close')
    // a write-only or idle application: no 'data' listener, no read(); Node's 'end' needs a read
    await finThenReset(conn, got, isn, send)
    await within(closed, 2_000, 'the stream outlived its connection')
    expect(errors).to.deep.equal([], 'a graceful close reported an error')
  })

  it('a write before what was received has been read fails with ConnectionResetError', async () => {
    const { conn, got, isn, send } = await accepted()
    const errors: Error[] = []
    conn.on('error', (err) => { errors.push(err) })
    await finThenReset(conn, got, isn, send, ['unread'])
    // not events.once(): it rejects on the 'error' that comes first
    const closed = new Promise<void>((resolve) => { conn.once('close', () => { resolve() }) })
    const writeErr = await new Promise<Error | null | undefined>((resolve) => { conn.write('too late', resolve) })
    expect(writeErr).to.be.an.instanceOf(ConnectionResetError)
    await within(closed, 2_000, 'a failed write did not close the stream')
    expect(errors[0]).to.equal(writeErr)
  })
})
