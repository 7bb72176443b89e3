/**
 * A dial whose SYN the kernel refuses fails at once with the kernel's cause, instead of resending
 * the SYN until the connect deadline and reporting a timeout. The refusals are real ones that
 * Linux gives on loopback alone: EACCES for the limited broadcast address from a socket without
 * SO_BROADCAST, ENETUNREACH for an IPv4-mapped address from an IPv6-only socket.
 */

import { expect } from 'aegir/chai'
import { DialSendError } from '../../src/socket/errors.ts'
import { UtpSocket } from '../../src/socket/utp-socket.ts'
import { waitFor } from './wait-for.ts'
import type { UtpSocketOptions } from '../../src/socket/utp-socket.ts'

/** long enough that a dial failing by timeout is told apart, short enough for a quick failure before the fix */
const CONNECT_TIMEOUT_MS = 2_000

describe('UtpSocket SYN send errors', function () {
  this.timeout(10_000)
  const sockets: UtpSocket[] = []

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map(async s => { await s.close() }))
  })

  async function bound (host: string, options: UtpSocketOptions = {}): Promise<UtpSocket> {
    const s = new UtpSocket({ connectTimeout: CONNECT_TIMEOUT_MS, ...options })
    sockets.push(s)
    await s.bind(0, host)
    return s
  }

  /** The dial's rejection; fails the test if it resolves */
  async function rejection (dial: Promise<unknown>): Promise<any> {
    return dial.then(() => { throw new Error('the dial resolved') }, (err: unknown) => err)
  }

  it('fails a dial to a broadcast address with EACCES, and the socket dials on', async () => {
    const listener = await bound('127.0.0.1')
    listener.listen()
    listener.on('connection', (c) => { c.resume() })
    const a = await bound('127.0.0.1')
    const socketErrors: Error[] = []
    a.on('error', (err) => { socketErrors.push(err) })

    // a dial to a reachable peer under way at the same time is not affected
    const good = a.connect(listener.address().port, '127.0.0.1')
    const err = await rejection(a.connect(4000, '255.255.255.255'))
    expect(err).to.be.instanceOf(DialSendError, String(err))
    expect(err.code).to.equal('EACCES')
    expect(err.address).to.equal('255.255.255.255')
    expect(err.port).to.equal(4000)
    expect(err.cause).to.have.property('code', 'EACCES')

    const conn = await good
    expect(conn.connected).to.equal(true)
    // and one after the failure
    const again = await a.connect(listener.address().port, '127.0.0.1')
    expect(again.connected).to.equal(true)
    // the failed dial leaves nothing behind
    expect(await waitFor(() => a.connectionCount === 2, 3_000)).to.equal(true, `${a.connectionCount} connections, not 2`)
    expect(socketErrors).to.deep.equal([])
  })

  it('fails a dial to an IPv4-mapped address from an IPv6-only socket with ENETUNREACH', async () => {
    const a = await bound('::1', { type: 'udp6' })
    const err = await rejection(a.connect(4000, '::ffff:127.0.0.1'))
    expect(err).to.be.instanceOf(DialSendError, String(err))
    expect(err.code).to.equal('ENETUNREACH')
    expect(err.address).to.equal('::ffff:127.0.0.1')
  })

  it('takes ENOBUFS on a SYN for a loss: the SYN is resent and the dial connects', async () => {
    const listener = await bound('127.0.0.1')
    listener.listen()
    listener.on('connection', (c) => { c.resume() })
    const a = await bound('127.0.0.1', { connectTimeout: 5_000 })
    // a full send buffer cannot be made to order: the first SYN is dropped with the kernel's error
    const dgram = (a as any).dgram
    const send = dgram.send.bind(dgram)
    let refused = 0
    dgram.send = (list: unknown, port: number, host: string, cb?: (err: Error | null) => void) => {
      if (refused === 0) {
        refused++
        const err = Object.assign(new Error(`send ENOBUFS ${host}:${port}`), { code: 'ENOBUFS' })
        process.nextTick(() => cb?.(err))
        return
      }
      send(list, port, host, cb)
    }
    const conn = await a.connect(listener.address().port, '127.0.0.1')
    expect(refused).to.equal(1)
    expect(conn.connected).to.equal(true)
    conn.destroy()
  })

  /** Replaces the socket's datagram sends: `fate(n)` decides the n-th SYN's (from 1), all else is sent */
  function scriptSyns (socket: UtpSocket, fate: (n: number) => 'send' | 'lose' | NodeJS.ErrnoException): { syns: number } {
    const dgram = (socket as any).dgram
    const send = dgram.send.bind(dgram)
    const count = { syns: 0 }
    dgram.send = (list: Uint8Array[] | Uint8Array, port: number, host: string, cb?: (err: Error | null) => void) => {
      const header = Array.isArray(list) ? list[0] : list
      if (header[0] >> 4 !== 4) {
        send(list, port, host, cb)
        return
      }
      const f = fate(++count.syns)
      if (f === 'send') {
        send(list, port, host, cb)
      } else if (f === 'lose') {
        // left this host, lost on the way
        process.nextTick(() => cb?.(null))
      } else {
        process.nextTick(() => cb?.(f))
      }
    }
    return count
  }

  const refusal = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`send ${code}`), { code })

  it('a refused resend does not fail a dial whose first SYN left: the next resend connects', async () => {
    const listener = await bound('127.0.0.1')
    listener.listen()
    listener.on('connection', (c) => { c.resume() })
    const a = await bound('127.0.0.1', { connectTimeout: 8_000 })
    // the first SYN is lost on the way, the first resend refused (a full conntrack table gives
    // EPERM for a while), the second resend goes through
    const count = scriptSyns(a, n => n === 1 ? 'lose' : n === 2 ? refusal('EPERM') : 'send')
    const conn = await a.connect(listener.address().port, '127.0.0.1')
    expect(count.syns).to.equal(3)
    expect(conn.connected).to.equal(true)
    conn.destroy()
  })

  it('a refusal reported late for a dial that is gone does not fail a new dial that drew the same connection id', async () => {
    const listener = await bound('127.0.0.1')
    listener.listen()
    listener.on('connection', (c) => { c.resume() })
    const a = await bound('127.0.0.1', { connectTimeout: 5_000 })
    // every dial draws the same connection id (and initial sequence number)
    ;(a as any).endpoint.randomBytes = (buf: Uint8Array) => { buf.fill(0x5a) }
    const dgram = (a as any).dgram
    const send = dgram.send.bind(dgram)
    let syns = 0
    let heldCallback: ((err: Error | null) => void) | undefined
    dgram.send = (list: Uint8Array[] | Uint8Array, port: number, host: string, cb?: (err: Error | null) => void) => {
      const header = Array.isArray(list) ? list[0] : list
      if (header[0] >> 4 !== 4 || ++syns > 2) {
        send(list, port, host, cb)
        return
      }
      if (syns === 1) {
        // the first dial's SYN stays in the kernel's queue: its outcome is reported later
        heldCallback = cb
        return
      }
      // the second dial's SYN leaves; then, before its SYN-ACK can be read, the kernel reports
      // that the first dial's SYN was refused
      send(list, port, host, cb)
      process.nextTick(() => { heldCallback?.(refusal('EACCES')) })
    }
    const first = new AbortController()
    const gone = rejection(a.connect(listener.address().port, '127.0.0.1', { signal: first.signal }))
    expect(await waitFor(() => heldCallback != null, 3_000)).to.equal(true, 'the first SYN was not sent')
    first.abort()
    expect((await gone).name).to.equal('AbortError')
    expect(await waitFor(() => a.connectionCount === 0, 3_000)).to.equal(true, `${a.connectionCount} connections, not 0`)

    const conn = await a.connect(listener.address().port, '127.0.0.1')
    expect(syns).to.equal(2)
    expect(conn.connected).to.equal(true)
    conn.destroy()
  })

  it('fails the dial when no SYN ever left: a transient loss, then a refusal', async () => {
    // no ICMP probe: it would find nobody listening there and refuse the dial first
    const a = await bound('127.0.0.1', { connectTimeout: 8_000, probeUnreachable: false })
    const count = scriptSyns(a, n => n === 1 ? refusal('ENOBUFS') : refusal('EPERM'))
    const err = await rejection(a.connect(4000, '127.0.0.1'))
    expect(err).to.be.instanceOf(DialSendError, String(err))
    expect(err.code).to.equal('EPERM')
    expect(count.syns).to.equal(2)
  })
})
