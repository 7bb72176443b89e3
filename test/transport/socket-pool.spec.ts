import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { UtpTransport } from '../../src/index.ts'
import { SocketPool } from '../../src/transport/socket-pool.ts'
import { within } from '../socket/wait-for.ts'
import type { Upgrader } from '@libp2p/interface'
import type { RemoteInfo } from 'node:dgram'

describe('socket pool', () => {
  let pool: SocketPool

  beforeEach(() => {
    pool = new SocketPool({ probeUnreachable: false }, defaultLogger().forComponent('test:pool'))
  })

  afterEach(async () => {
    await pool.closeAll()
  })

  it('dials made while a listening socket binds leave from it', async () => {
    // libp2p dials while its listeners start: from an ephemeral port, a relay would observe a
    // port nobody listens on, and hole punching would aim at it
    const listening = pool.listen('udp4', '0.0.0.0', 0)
    const dialling = pool.forDial('udp4', '127.0.0.1')
    expect(await dialling).to.equal(await listening)
  })

  it('a dial does not fail with the bind of a listening socket it did not wait for', async () => {
    // the dial waits for one listening socket's bind; meanwhile another listen starts, on a
    // port taken: the dial picked that one, and failed with its EADDRINUSE
    const squatter = createSocket('udp4')
    try {
      await new Promise<void>((resolve) => { squatter.bind(0, '0.0.0.0', resolve) })
      const loopback = pool.listen('udp4', '127.0.0.1', 0)
      const dialling = pool.forDial('udp4', '192.0.2.1')
      const taken = pool.listen('udp4', '0.0.0.0', squatter.address().port)
      await expect(taken).to.eventually.be.rejected().with.property('code', 'EADDRINUSE')
      const socket = await dialling
      // not the loopback listener's: nothing reaches 192.0.2.1 from 127.0.0.1
      expect(socket).to.not.equal(await loopback)
      expect(socket.address().address).to.equal('0.0.0.0')
    } finally {
      squatter.close()
    }
  })

  it('concurrent dials share one ephemeral socket', async () => {
    const sockets = await Promise.all([1, 2, 3, 4].map(async () => pool.forDial('udp4', '127.0.0.1')))
    expect(new Set(sockets).size).to.equal(1)
  })

  it('listens again on the port of a closed listener whose socket an outbound connection still holds', async () => {
    const first = await pool.listen('udp4', '127.0.0.1', 0)
    const port = first.address().port
    const held = await pool.forDial('udp4', '127.0.0.1')
    expect(held).to.equal(first)
    await pool.unlisten(first)
    expect(first.listening).to.equal(false)
    // a new bind to that port fails (EADDRINUSE): the held socket listens again instead
    const again = await pool.listen('udp4', '127.0.0.1', port)
    expect(again).to.equal(first)
    expect(again.listening).to.equal(true)
    // both holders give it back: it closes with the last one
    await pool.release(held)
    expect(again.listening).to.equal(true)
    await pool.unlisten(again)
    expect(await pool.forDial('udp4', '127.0.0.1')).to.not.equal(first)
  })

  it('does not send a dial to a public address from a loopback socket whose listener closed', async () => {
    const listening = await pool.listen('udp4', '127.0.0.1', 0)
    // an outbound connection still holds the listener's socket after the listener lets it go
    const held = await pool.forDial('udp4', '127.0.0.1')
    expect(held).to.equal(listening)
    await pool.unlisten(listening)
    // from 127.0.0.1 nothing reaches a public address (the kernel refuses the SYN with EINVAL)
    const socket = await pool.forDial('udp4', '192.0.2.1')
    expect(socket).to.not.equal(listening)
    expect(socket.address().address).to.equal('0.0.0.0')
  })
})

describe('transport start', () => {
  it('a dial between start() and afterStart() leaves from the listening port', async () => {
    // libp2p dials during its start phase (a dial queued while it stopped, a reconnect), and its
    // transport manager listens in afterStart(), called before the transport's own
    const transport = new UtpTransport({ logger: defaultLogger() }, { probeUnreachable: false })
    const peer = createSocket('udp4')
    const abort = new AbortController()
    try {
      await new Promise<void>((resolve) => { peer.bind(0, '127.0.0.1', resolve) })
      const syn = once(peer, 'message') as Promise<[Buffer, RemoteInfo]>
      await transport.start()
      const dialling = transport.dial(multiaddr(`/ip4/127.0.0.1/udp/${peer.address().port}/utp`), { upgrader: {} as unknown as Upgrader, signal: abort.signal })
      dialling.catch(() => {})
      // the rest of libp2p's start phase (3 ms in a node that restarts here): without the wait,
      // the dial has bound an ephemeral socket and sent its SYN by now
      await delay(20)
      const listener = transport.createListener({ upgrader: {} as unknown as Upgrader })
      const listening = listener.listen(multiaddr('/ip4/0.0.0.0/udp/0/utp'))
      await transport.afterStart()
      await listening
      const [, from] = await within(syn, 3_000, 'no SYN came')
      expect(from.port).to.equal(Number(listener.getAddrs()[0].getComponents().find(c => c.name === 'udp')?.value))
      abort.abort()
      await expect(dialling).to.eventually.be.rejected()
      await listener.close()
    } finally {
      abort.abort()
      peer.close()
      await transport.stop()
      await transport.afterStop()
    }
  })

  it('a dial waiting for afterStart() is aborted by its signal', async () => {
    const transport = new UtpTransport({ logger: defaultLogger() }, { probeUnreachable: false })
    try {
      await transport.start()
      const dialling = transport.dial(multiaddr('/ip4/127.0.0.1/udp/9/utp'), { upgrader: {} as unknown as Upgrader, signal: AbortSignal.timeout(50) })
      const err = await within(dialling.then(() => undefined, (err: Error) => err), 2_000, 'the dial still waits')
      expect(err).to.have.property('name', 'AbortError')
    } finally {
      await transport.stop()
      await transport.afterStop()
    }
  })
})
