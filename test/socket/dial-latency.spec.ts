/**
 * A dial's two latency-critical moments happen without waiting for the event loop: on a bound
 * socket `connect()` has sent the SYN when it returns, and the dial's caller hears of the open
 * connection while the SYN-ACK's datagram is handled, not after the rest of the poll phase.
 */

import { expect } from 'aegir/chai'
import { SocketStateError } from '../../src/socket/errors.ts'
import { UtpSocket } from '../../src/socket/utp-socket.ts'
import { within } from './wait-for.ts'
import type { UtpConnection } from '../../src/socket/utp-connection.ts'

describe('UtpSocket dial latency', function () {
  this.timeout(10_000)
  const sockets: UtpSocket[] = []

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close() }))
  })

  async function bound (options = {}): Promise<UtpSocket> {
    const s = new UtpSocket(options)
    sockets.push(s)
    await s.bind(0, '127.0.0.1')
    return s
  }

  /** A socket that accepts and reads whatever connects */
  async function listening (): Promise<UtpSocket> {
    const listener = await bound()
    listener.listen()
    listener.on('connection', (c) => { c.resume() })
    return listener
  }

  /** Counts the SYNs the socket hands to node:dgram */
  function countSyns (socket: UtpSocket): { syns: number } {
    const dgram = (socket as any).dgram
    const send = dgram.send.bind(dgram)
    const count = { syns: 0 }
    dgram.send = (list: Uint8Array[] | Uint8Array, ...rest: unknown[]) => {
      const header = Array.isArray(list) ? list[0] : list
      if (header[0] >> 4 === 4) {
        count.syns++
      }
      send(list, ...rest)
    }
    return count
  }

  it('has sent the SYN when connect() returns, on a bound socket', async () => {
    const listener = await listening()
    const a = await bound()
    const count = countSyns(a)
    const dial = a.connect(listener.address().port, '127.0.0.1')
    expect(count.syns).to.equal(1)
    const conn = await dial
    expect(conn.connected).to.equal(true)
    conn.destroy()
  })

  it('announces the open connection while the SYN-ACK is handled', async () => {
    const listener = await listening()
    const a = await bound()
    const dial = a.connect(listener.address().port, '127.0.0.1')
    // a listener of the same datagrams, added after the socket's own: it runs right after the
    // socket has handled each one, before any other datagram, timer or immediate
    const streams: Map<unknown, UtpConnection> = (a as any).streams
    const announced: boolean[] = []
    ;(a as any).dgram.on('message', (msg: Uint8Array) => {
      // ST_STATE: the SYN-ACK is the first datagram the dial gets
      if (announced.length === 0 && msg[0] >> 4 === 2) {
        announced.push([...streams.values()].some(c => c.connected))
      }
    })
    const conn = await dial
    expect(announced).to.deep.equal([true], 'the dial was not open once its SYN-ACK had been handled')
    conn.destroy()
  })

  it('fails a dial that close() finds waiting for its SYN-ACK, the SYN already sent', async () => {
    const listener = await listening()
    const a = await bound()
    const dial = a.connect(listener.address().port, '127.0.0.1').then(() => 'resolved', (err: Error) => err)
    await a.close()
    const outcome = await dial
    expect(outcome).to.be.instanceOf(SocketStateError, String(outcome))
  })

  it('does not wait out close()\'s grace for a dial nobody answers', async () => {
    // no ICMP probe: the dial would be refused by it first
    const a = await bound({ probeUnreachable: false })
    const dial = a.connect(9, '127.0.0.1').then(() => 'resolved', (err: Error) => err)
    // a grace far beyond the test's timeout: close() may not wait for the dial
    await within(a.close(600_000), 5_000, 'close() waited for the unanswered dial')
    expect(await dial).to.be.instanceOf(SocketStateError)
  })
})
