/**
 * Full libp2p nodes over uTP (utp() + noise() + yamux() + identify() + ping()): ping, a 64 MiB
 * stream and 100 concurrent 1 MiB streams byte-exact over IPv4 and IPv6, `/utp` remote addresses
 * on both sides, prompt close when a node stops, dials that leave from the listening port,
 * aborted and refused dials that leave nothing behind, and uTP beside TCP in one node.
 */

import { createSocket } from 'node:dgram'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { TCP } from '@multiformats/multiaddr-matcher'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { pEvent } from 'p-event'
import { UTP, utp } from '../../src/index.ts'
import { answerDigest, HASH_SINK, sendHashed } from './hash-stream.ts'
import type { UtpSocket, UtpTransport } from '../../src/index.ts'
import type { Identify } from '@libp2p/identify'
import type { Connection, Libp2p, Transport } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Socket } from 'node:dgram'

const MiB = 1024 * 1024
/** 100 streams at once exceed libp2p's default outbound stream limit */
const STREAM = { maxOutboundStreams: 256 }
/** first byte of a uTP ST_RESET: type 3, version 1 */
const ST_RESET = 0x31
/** the bound within which the other side must notice a stopped node */
const CLOSE_BOUND_MS = 2_000

type Node = Libp2p<{ identify: Identify, ping: Ping }>

interface PooledSocketView {
  socket: UtpSocket
  listening: boolean
  refs: number
}

function report (line: string): void {
  process.stdout.write(`      ${line}\n`)
}

const nodes: Node[] = []
const silentSockets: Socket[] = []

/** A started node that answers {@link HASH_SINK}; its uTP transport is captured for inspection */
async function createNode (listen: string[], options: { tcp?: boolean } = {}): Promise<{ node: Node, transport: UtpTransport }> {
  let captured: UtpTransport | undefined
  const factory = utp()
  const node = await createLibp2p({
    addresses: { listen },
    transports: [
      (components) => {
        const transport = factory(components)
        captured = transport as UtpTransport
        return transport
      },
      ...(options.tcp === true ? [tcp()] : [])
    ] as Array<(components: any) => Transport>,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  })
  nodes.push(node)
  await node.handle(HASH_SINK, async (stream) => { await answerDigest(stream) }, {
    maxInboundStreams: 256,
    maxOutboundStreams: 256
  })
  if (captured == null) {
    throw new Error('the uTP transport was not created')
  }
  return { node, transport: captured }
}

function udpPort (ma: Multiaddr): number {
  const udp = ma.getComponents().find(c => c.name === 'udp')
  if (udp?.value == null) {
    throw new Error(`${ma.toString()} has no UDP port`)
  }
  return Number(udp.value)
}

/** The node's uTP address on `host` (its listen address may be a wildcard) */
function utpAddr (node: Node, host: string): Multiaddr {
  const ma = node.getMultiaddrs().find(ma => UTP.exactMatch(ma) && ma.toString().includes(`/${host}/`))
  if (ma == null) {
    throw new Error(`no uTP address on ${host} in ${node.getMultiaddrs().map(String).join(', ')}`)
  }
  return ma
}

/**
 * Dials `to` from `from` and resolves once `to` has the inbound connection too. The dial resolves
 * when the dialer's upgrade is done; the listener may still be finishing its own, and yamux resets
 * more than 10 streams that arrive before it is (MaxEarlyStreamsError).
 */
async function connect (from: Node, to: Node, host: string): Promise<Connection> {
  const inbound = pEvent<'connection:open', CustomEvent<Connection>>(to, 'connection:open', { timeout: 5_000, filter: (evt) => evt.detail.remotePeer.equals(from.peerId) })
  const connection = await from.dial(utpAddr(to, host))
  await inbound
  return connection
}

/** The UDP sockets of a transport's pool, with their references (the pool is private) */
function pooledSockets (transport: UtpTransport): PooledSocketView[] {
  const pool = (transport as unknown as { pool: { sockets: Set<PooledSocketView> } }).pool
  return [...pool.sockets]
}

/** A UDP port with a socket that never answers */
async function silentPort (type: 'udp4' | 'udp6', host: string): Promise<{ socket: Socket, port: number }> {
  const socket = createSocket(type)
  silentSockets.push(socket)
  await new Promise<void>((resolve) => { socket.bind(0, host, resolve) })
  return { socket, port: socket.address().port }
}

/** A UDP port where nobody listens (bound once by the kernel, then freed) */
async function freePort (type: 'udp4' | 'udp6', host: string): Promise<number> {
  const socket = createSocket(type)
  await new Promise<void>((resolve) => { socket.bind(0, host, resolve) })
  const { port } = socket.address()
  await new Promise<void>((resolve) => { socket.close(resolve) })
  return port
}

async function expectRejection (promise: Promise<unknown>): Promise<Error> {
  try {
    await promise
  } catch (err: any) {
    return err
  }
  throw new Error('expected a rejection')
}

describe('libp2p nodes over uTP', function () {
  this.timeout(60_000)

  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async node => { await node.stop() }))
    for (const socket of silentSockets.splice(0)) {
      socket.close()
    }
  })

  for (const [family, host] of [['IPv4', '127.0.0.1'], ['IPv6', '::1']] as const) {
    const listen = family === 'IPv4' ? '/ip4/127.0.0.1/udp/0/utp' : '/ip6/::1/udp/0/utp'

    describe(family, () => {
      it('pings, and both sides see a /utp remote address', async () => {
        const a = await createNode([listen])
        const b = await createNode([listen])
        const rtt = await a.node.services.ping.ping(utpAddr(b.node, host))
        expect(rtt).to.be.a('number')
        const outbound = a.node.getConnections(b.node.peerId)
        const inbound = b.node.getConnections(a.node.peerId)
        expect(outbound).to.have.lengthOf(1)
        expect(inbound).to.have.lengthOf(1)
        for (const connection of [...outbound, ...inbound]) {
          expect(UTP.exactMatch(connection.remoteAddr), connection.remoteAddr.toString()).to.equal(true)
        }
        expect(outbound[0].direction).to.equal('outbound')
        expect(inbound[0].direction).to.equal('inbound')
      })

      it('carries 64 MiB on one stream byte-exact', async () => {
        const a = await createNode([listen])
        const b = await createNode([listen])
        const connection = await connect(a.node, b.node, host)
        const size = 64 * MiB
        const start = performance.now()
        const { sent, received } = await sendHashed(connection, size, 1, STREAM)
        const seconds = (performance.now() - start) / 1000
        expect(received).to.deep.equal(sent)
        report(`${family}: 64 MiB in ${seconds.toFixed(2)} s, ${(size / seconds / 1e6).toFixed(1)} MB/s`)
      })

      it('carries 100 concurrent streams of 1 MiB byte-exact', async () => {
        const a = await createNode([listen])
        const b = await createNode([listen])
        const connection = await connect(a.node, b.node, host)
        const start = performance.now()
        const results = await Promise.all(Array.from({ length: 100 }, async (_, i) => sendHashed(connection, MiB, 100 + i, STREAM)))
        const seconds = (performance.now() - start) / 1000
        for (const { sent, received } of results) {
          expect(received).to.deep.equal(sent)
        }
        report(`${family}: 100 x 1 MiB in ${seconds.toFixed(2)} s, ${(100 * MiB / seconds / 1e6).toFixed(1)} MB/s`)
      })

      for (const stopping of ['dialer', 'listener'] as const) {
        it(`closes the connection on the other node promptly when the ${stopping} stops`, async () => {
          const a = await createNode([listen])
          const b = await createNode([listen])
          await connect(a.node, b.node, host)
          const [stopped, other] = stopping === 'dialer' ? [a.node, b.node] : [b.node, a.node]
          expect(other.getConnections(stopped.peerId)).to.have.lengthOf(1)
          const closed = pEvent(other, 'connection:close', { timeout: CLOSE_BOUND_MS })
          const start = performance.now()
          await stopped.stop()
          await closed
          expect(other.getConnections()).to.be.empty()
          report(`${family}: the other node saw the close ${Math.round(performance.now() - start)} ms after the ${stopping} began to stop`)
        })
      }
    })
  }

  describe('stop and start', () => {
    for (const with_ of ['an inbound', 'an outbound'] as const) {
      it(`a node stopped with ${with_} connection starts again on the same fixed port`, async () => {
        const port = await freePort('udp4', '127.0.0.1')
        const a = await createNode([`/ip4/127.0.0.1/udp/${port}/utp`])
        const b = await createNode(['/ip4/127.0.0.1/udp/0/utp'])
        if (with_ === 'an inbound') {
          await connect(b.node, a.node, '127.0.0.1')
        } else {
          await connect(a.node, b.node, '127.0.0.1')
        }
        const closed = pEvent(b.node, 'connection:close', { timeout: CLOSE_BOUND_MS })
        await a.node.stop()
        // stop() resolved before the port was free: start() failed with EADDRINUSE
        await a.node.start()
        // b dials anew once it has seen the old connection go
        await closed
        expect(udpPort(utpAddr(a.node, '127.0.0.1'))).to.equal(port)
        await connect(b.node, a.node, '127.0.0.1')
      })
    }
  })

  describe('dials leave from the listening port', () => {
    for (const [listen, host] of [
      ['/ip4/127.0.0.1/udp/0/utp', '127.0.0.1'],
      ['/ip4/0.0.0.0/udp/0/utp', '127.0.0.1'],
      ['/ip6/::1/udp/0/utp', '::1']
    ] as const) {
      it(`the listener sees the dialer's listen port (dialer listens on ${listen})`, async () => {
        const a = await createNode([listen])
        const b = await createNode([listen])
        const dialerPort = udpPort(utpAddr(a.node, host))
        await connect(a.node, b.node, host)
        const inbound = b.node.getConnections(a.node.peerId)
        expect(inbound).to.have.lengthOf(1)
        expect(udpPort(inbound[0].remoteAddr)).to.equal(dialerPort)
        // no extra socket was bound for the dial
        expect(pooledSockets(a.transport)).to.have.lengthOf(1)
      })
    }
  })

  describe('failed dials', () => {
    it('rejects a dial aborted before it starts with AbortError', async () => {
      const a = await createNode([])
      const b = await createNode(['/ip4/127.0.0.1/udp/0/utp'])
      const err = await expectRejection(a.node.dial(utpAddr(b.node, '127.0.0.1'), { signal: AbortSignal.abort() }))
      expect(err).to.have.property('name', 'AbortError')
      expect(a.node.getConnections()).to.be.empty()
      expect(b.node.getConnections()).to.be.empty()
      expect(pooledSockets(a.transport)).to.be.empty()
    })

    for (const [label, listen] of [['a dialer without a listener', []], ['a listening dialer', ['/ip4/127.0.0.1/udp/0/utp']]] as const) {
      it(`rejects a dial to a silent peer aborted mid-handshake with AbortError and leaves nothing behind (${label})`, async () => {
        const a = await createNode([...listen])
        const before = pooledSockets(a.transport).map(p => p.refs)
        const silent = await silentPort('udp4', '127.0.0.1')
        const controller = new AbortController()
        // abort once the SYN reached the silent peer (the probe's datagram is empty)
        silent.socket.on('message', (msg) => { if (msg.byteLength > 0) { controller.abort() } })
        // the aborted handshake ends at once: the dialer resets it instead of resending its SYN
        // until the connect timeout (by the time the reset arrives, its socket has dropped it)
        const reset = pEvent<'message', Buffer>(silent.socket, 'message', { timeout: 2_000, filter: (msg) => msg.byteLength >= 20 && msg[0] === ST_RESET })
        const start = performance.now()
        const err = await expectRejection(a.node.dial(multiaddr(`/ip4/127.0.0.1/udp/${silent.port}/utp`), { signal: controller.signal }))
        const ms = performance.now() - start
        expect(controller.signal.aborted).to.equal(true)
        expect(err).to.have.property('name', 'AbortError')
        expect(ms).to.be.below(2_000)
        await reset
        expect(a.node.getConnections()).to.be.empty()
        const after = pooledSockets(a.transport)
        expect(after.map(p => p.refs)).to.deep.equal(before)
        for (const { socket } of after) {
          expect(socket.connectionCount, 'uTP connections left on the listening socket').to.equal(0)
        }
      })
    }

    for (const [family, type, host] of [['IPv4', 'udp4', '127.0.0.1'], ['IPv6', 'udp6', '::1']] as const) {
      it(`fails fast with ConnectionRefusedError where nobody listens (${family})`, async () => {
        const a = await createNode([])
        const port = await freePort(type, host)
        const ma = multiaddr(`/${family === 'IPv4' ? 'ip4' : 'ip6'}/${host}/udp/${port}/utp`)
        const start = performance.now()
        const err = await expectRejection(a.node.dial(ma))
        const ms = performance.now() - start
        expect(err).to.have.property('name', 'ConnectionRefusedError')
        expect(err).to.have.property('code', 'ECONNREFUSED')
        expect(ms).to.be.below(1_000)
        expect(a.node.getConnections()).to.be.empty()
        expect(pooledSockets(a.transport)).to.be.empty()
        report(`${family}: refused after ${Math.round(ms)} ms`)
      })
    }
  })

  describe('beside TCP', () => {
    it('listens on TCP and uTP at once and dials over the transport each address names', async () => {
      const both = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/udp/0/utp']
      const a = await createNode(both, { tcp: true })
      const b = await createNode(both, { tcp: true })
      const tcpAddr = b.node.getMultiaddrs().find(ma => TCP.exactMatch(ma))
      expect(tcpAddr, 'a TCP listen address').to.exist()
      expect(udpPort(utpAddr(b.node, '127.0.0.1'))).to.be.a('number')

      const overTcp = await a.node.dial(tcpAddr as Multiaddr)
      expect(TCP.exactMatch(overTcp.remoteAddr), overTcp.remoteAddr.toString()).to.equal(true)
      const overUtp = await a.node.dial(utpAddr(b.node, '127.0.0.1'), { force: true })
      expect(UTP.exactMatch(overUtp.remoteAddr), overUtp.remoteAddr.toString()).to.equal(true)
      expect(overUtp.id).to.not.equal(overTcp.id)

      // both connections carry streams at once
      const [viaTcp, viaUtp] = await Promise.all([sendHashed(overTcp, MiB, 7, STREAM), sendHashed(overUtp, MiB, 8, STREAM)])
      expect(viaTcp.received).to.deep.equal(viaTcp.sent)
      expect(viaUtp.received).to.deep.equal(viaUtp.sent)

      const inbound = b.node.getConnections(a.node.peerId)
      expect(inbound.filter(c => TCP.exactMatch(c.remoteAddr))).to.have.lengthOf(1)
      expect(inbound.filter(c => UTP.exactMatch(c.remoteAddr))).to.have.lengthOf(1)
    })
  })
})
