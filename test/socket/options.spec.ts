/**
 * Bad options fail at once with a typed error that names the option in the caller's units, rather
 * than later (a stream option when the first peer connects, out of the event loop), silently (a
 * buffer size the kernel refused, a mistyped mode read as true), or in the engine's microseconds.
 */

import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { UtpTransport } from '../../src/index.ts'
import { InvalidConfigError, UtpSocket } from '../../src/socket/index.ts'
import type { UtpSocketOptions } from '../../src/socket/index.ts'

const HOST = '127.0.0.1'

function constructionError (options: UtpSocketOptions): Error | undefined {
  try {
    const socket = new UtpSocket(options)
    void socket.close(0)
  } catch (err: any) {
    return err
  }
  return undefined
}

describe('UtpSocket options', () => {
  const sockets: UtpSocket[] = []

  afterEach(async () => {
    await Promise.allSettled(sockets.splice(0).map(async s => { await s.close(0) }))
  })

  const bad: Array<[string, UtpSocketOptions, RegExp]> = [
    ['a negative readable high-water mark (Node checked it only when a peer connected, and crashed)', { connection: { readableHighWaterMark: -1 } }, /connection\.readableHighWaterMark/],
    ['a negative orphan timeout', { connection: { orphanTimeout: -1 } }, /connection\.orphanTimeout/],
    ['a negative UDP buffer size (the kernel default was kept)', { udpBufferSize: -1 }, /udpBufferSize/],
    ['a UDP buffer size of 0', { udpBufferSize: 0 }, /udpBufferSize/],
    ['a mistyped path MTU mode (read as true)', { pathMtuProbing: 'yes' as any }, /pathMtuProbing/],
    ['a string for a boolean (read as true)', { probeUnreachable: 'no' as any }, /probeUnreachable/],
    ['no half-open connection at all (every SYN dropped)', { maxHalfOpen: 0 }, /maxHalfOpen/],
    ['a negative target delay', { targetDelay: -1 }, /targetDelay must be a number of ms/],
    ['a string for a timeout (coerced)', { idleTimeout: '100' as any }, /idleTimeout must be a number of ms/],
    ['an unknown address family', { type: 'udp5' as any }, /type must be/]
  ]
  for (const [what, options, message] of bad) {
    it(`rejects ${what} at construction with InvalidConfigError`, () => {
      const err = constructionError(options)
      expect(err).to.be.an.instanceOf(InvalidConfigError)
      expect(err?.message).to.match(message)
    })
  }

  it('says that an out-of-range millisecond option was checked in microseconds', () => {
    const err = constructionError({ targetDelay: 0.5 })
    expect(err).to.be.an.instanceOf(InvalidConfigError)
    expect(err?.message).to.include('targetDelay').and.include('are in ms')
  })

  it('rejects a port bind() cannot take, and binds afterwards as asked', async () => {
    const socket = new UtpSocket()
    sockets.push(socket)
    for (const port of [-1, 70000, 1.5, Number.NaN]) {
      await expect(socket.bind(port, HOST)).to.eventually.be.rejectedWith(RangeError)
    }
    await socket.bind(0, HOST)
    expect(socket.address().port).to.be.above(0)
  })

  it('checks a dial\'s port and host before binding: a dial that cannot go anywhere leaves the socket unbound', async () => {
    const socket = new UtpSocket()
    sockets.push(socket)
    await expect(socket.connect(0, HOST)).to.eventually.be.rejectedWith(RangeError)
    await expect(socket.connect(4000, 'localhost')).to.eventually.be.rejectedWith(TypeError)
    // still free to bind where the caller wants
    await socket.bind(0, HOST)
    expect(socket.address().address).to.equal(HOST)
  })

  it('binds before send() on an unbound socket, so that it stays usable for uTP', async () => {
    const receiver = new UtpSocket()
    sockets.push(receiver)
    await receiver.bind(0, HOST)
    const socket = new UtpSocket()
    sockets.push(socket)
    await socket.send(new Uint8Array([1, 2, 3]), receiver.address().port, HOST)
    // node:dgram had bound it behind the socket's back: address() threw, bind() and connect() failed
    expect(socket.address().port).to.be.above(0)
  })

  it('rejects a close() grace that is not a number of ms', async () => {
    const socket = new UtpSocket()
    sockets.push(socket)
    await expect(socket.close(Number.NaN)).to.eventually.be.rejectedWith(RangeError)
    await expect(socket.close(-5)).to.eventually.be.rejectedWith(RangeError)
  })

  it('checks the libp2p transport\'s options when it is created, not at its first listen or dial', () => {
    const components = { logger: defaultLogger() }
    expect(() => new UtpTransport(components, { packetSize: -1 })).to.throw(InvalidConfigError)
    expect(() => new UtpTransport(components, { inboundInactivityTimeout: Number.NaN })).to.throw(InvalidConfigError, /inboundInactivityTimeout/)
    expect(() => new UtpTransport(components, { outboundInactivityTimeout: -1 })).to.throw(InvalidConfigError, /outboundInactivityTimeout/)
    expect(() => new UtpTransport(components, { inboundInactivityTimeout: Infinity, outboundInactivityTimeout: 3e9 })).to.not.throw()
  })
})
