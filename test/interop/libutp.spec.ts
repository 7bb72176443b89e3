/**
 * Acceptance point 4 of the socket issue: interoperability with libutp, the reference uTP
 * implementation, through its Node binding utp-native (a devDependency). Both dial directions,
 * with data flowing both ways at once and checked by sha256, and a graceful close started by
 * either side.
 *
 * Each side writes a reproducible pseudo-random stream in chunks of random size (1 byte to
 * 64 KiB), waits for 'drain' whenever `write()` asks it to, and hashes what it writes and what it
 * reads. The side that closes first calls `end()` as soon as it has written everything; the other
 * side calls `end()` only once it has read the first side's end. Both must then emit 'close'
 * without an error.
 *
 * utp-native quirks: its accepting side cannot send before the dialling side has sent something
 * (it corks until then; every test here writes from both sides at once, so that never blocks); a
 * connection closes itself once it has both ended and read the end (`allowHalfOpen` is its
 * default); `destroy()` on one of its connections can keep the process alive for half a minute, so
 * it is used only to clean up after a failure.
 *
 * Throughput is logged under `DEBUG=libp2p:utp:interop`.
 */

import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { logger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { UtpConnection } from '../../src/socket/utp-connection.ts'
import { UtpSocket } from '../../src/socket/utp-socket.ts'
import type { Duplex } from 'node:stream'
import type { UtpNative, UtpNativeConnection } from 'utp-native'

type UtpNativeModule = typeof import('utp-native')

const KiB = 1024
const MiB = 1024 * KiB
const LOCALHOST = '127.0.0.1'
/** kernel UDP buffers asked for on both sides (the kernel may clamp them) */
const UDP_BUFFER = 4 * MiB
const TEST_TIMEOUT = 60_000
const LARGEST_CHUNK = 64 * KiB

const log = logger('libp2p:utp:interop')

let utpNative: UtpNativeModule | undefined
let loadError: unknown
try {
  utpNative = (await import('utp-native')).default
} catch (err) {
  loadError = err
}

/** xorshift32: a fast, reproducible source of chunk sizes and bytes */
class ByteSource {
  private x: number

  constructor (seed: number) {
    const x = Math.imul(seed, 0x9e3779b1) >>> 0
    this.x = x === 0 ? 1 : x
  }

  next (): number {
    let x = this.x
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.x = x >>> 0
    return this.x
  }

  /** A fresh buffer (a stream may keep a reference to what it was given) */
  chunk (size: number): Buffer {
    const words = new Uint32Array(Math.ceil(size / 4))
    for (let i = 0; i < words.length; i++) {
      words[i] = this.next()
    }
    return Buffer.from(words.buffer, 0, size)
  }
}

/** One end of a connection under test */
interface Side {
  name: string
  stream: Duplex
  /** seed of what this side writes */
  seed: number
  /** bytes this side writes */
  bytes: number
  /** 'first': `end()` once everything is written; 'second': `end()` once the peer's end was read */
  closes: 'first' | 'second'
}

/** What one side saw; times are ms since the exchange started */
interface SideReport {
  side: Side
  sentSha256: string
  receivedSha256: string
  receivedBytes: number
  errors: Error[]
  /** everything was handed to `write()` */
  wroteAll: number
  /** `end()` was called */
  endCalled: number
  /** the readable side ended (the peer's FIN and everything before it arrived) */
  readEnded: number
  /** 'finish' (for our connection: the peer acknowledged all our data and our FIN) */
  finished: number | undefined
  closed: number
}

async function waitDrain (stream: Duplex): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.off('drain', onDrain)
      stream.off('error', onError)
      stream.off('close', onClose)
    }
    const onDrain = (): void => { done(); resolve() }
    const onError = (err: Error): void => { done(); reject(err) }
    const onClose = (): void => { done(); reject(new Error('closed while waiting for drain')) }
    stream.on('drain', onDrain)
    stream.on('error', onError)
    stream.on('close', onClose)
  })
}

/** Writes `side.bytes` reproducible bytes with backpressure; resolves their sha256 */
async function writeAll (side: Side): Promise<string> {
  const source = new ByteSource(side.seed)
  const hash = createHash('sha256')
  let left = side.bytes
  while (left > 0) {
    const size = Math.min(left, 1 + source.next() % LARGEST_CHUNK)
    const chunk = source.chunk(size)
    hash.update(chunk)
    left -= size
    if (!side.stream.write(chunk)) {
      await waitDrain(side.stream)
    }
  }
  return hash.digest('hex')
}

async function runSide (side: Side, t0: number): Promise<SideReport> {
  const { stream } = side
  const at = (): number => performance.now() - t0
  const errors: Error[] = []
  stream.on('error', (err) => { errors.push(err) })

  const received = createHash('sha256')
  let receivedBytes = 0
  stream.on('data', (chunk: Buffer) => {
    received.update(chunk)
    receivedBytes += chunk.byteLength
  })
  const readEnded = new Promise<number>((resolve) => { stream.once('end', () => { resolve(at()) }) })
  let finished: number | undefined
  stream.once('finish', () => { finished = at() })
  const closed = new Promise<number>((resolve) => { stream.once('close', () => { resolve(at()) }) })

  const sentSha256 = await writeAll(side)
  const wroteAll = at()
  if (side.closes === 'second') {
    await readEnded
  }
  const endCalled = at()
  stream.end()
  const closedAt = await closed
  // 'end' precedes 'close' when the readable side ended; a missing one shows up as NaN
  const readEndedAt = await Promise.race([readEnded, Promise.resolve(NaN)])

  return {
    side,
    sentSha256,
    receivedSha256: received.digest('hex'),
    receivedBytes,
    errors,
    wroteAll,
    endCalled,
    readEnded: readEndedAt,
    finished,
    closed: closedAt
  }
}

/** Runs both sides at once and checks data, hashes and the order of the close */
async function exchange (first: Side, second: Side): Promise<void> {
  expect(first.closes).to.equal('first')
  expect(second.closes).to.equal('second')
  const t0 = performance.now()
  const [a, b] = await Promise.all([runSide(first, t0), runSide(second, t0)])

  for (const [from, to] of [[a, b], [b, a]]) {
    const what = `${from.side.name} -> ${to.side.name}`
    log('%s: %d bytes in %d ms, %s MiB/s', what, to.receivedBytes, Math.round(to.readEnded),
      (to.receivedBytes / MiB / (to.readEnded / 1000)).toFixed(1))
    expect(to.errors, `errors on ${to.side.name}`).to.deep.equal([])
    expect(to.receivedBytes, `bytes ${what}`).to.equal(from.side.bytes)
    expect(to.receivedSha256, `sha256 ${what}`).to.equal(from.sentSha256)
  }
  for (const r of [a, b]) {
    if (r.side.stream instanceof UtpConnection) {
      log('%s: %o', r.side.name, r.side.stream.stats)
    }
  }
  log('close: %s end() at %d ms, %s end() at %d ms, closed at %d / %d ms', a.side.name, Math.round(a.endCalled),
    b.side.name, Math.round(b.endCalled), Math.round(a.closed), Math.round(b.closed))

  // the first side ended before the second saw that end, and the second ended only after it
  expect(a.endCalled).to.be.at.most(b.readEnded)
  expect(b.readEnded).to.be.at.most(b.endCalled)
  expect(b.endCalled).to.be.at.most(a.readEnded)
  for (const r of [a, b]) {
    expect(Number.isNaN(r.readEnded), `${r.side.name} read the end`).to.equal(false)
    expect(r.finished, `${r.side.name} finished`).to.be.a('number')
  }
}

function defineInteropSuite (utp: UtpNativeModule): void {
  describe('interop with libutp (utp-native)', () => {
    let ourSockets: UtpSocket[] = []
    let nativeSockets: UtpNative[] = []
    let nativeConnections: UtpNativeConnection[] = []

    afterEach(async () => {
      // a passing test leaves every connection closed; destroy only what a failure left behind
      for (const conn of nativeConnections) {
        if (!conn.destroyed) {
          conn.destroy()
        }
      }
      await Promise.all(ourSockets.map(async (s) => { await s.close() }))
      await Promise.all(nativeSockets.map(async (s) => {
        await new Promise<void>((resolve) => { s.close(() => { resolve() }) })
      }))
      ourSockets = []
      nativeSockets = []
      nativeConnections = []
    })

    function sizeNativeBuffers (socket: UtpNative): void {
      socket.setRecvBufferSize(UDP_BUFFER)
      socket.setSendBufferSize(UDP_BUFFER)
      log('libutp UDP buffers: recv %d, send %d', socket.getRecvBufferSize(), socket.getSendBufferSize())
    }

    async function ourSocket (): Promise<UtpSocket> {
      // half-open allowed: each side decides itself when to end its writable side
      const socket = new UtpSocket({ udpBufferSize: UDP_BUFFER, connection: { allowHalfOpen: true } })
      ourSockets.push(socket)
      await socket.bind(0, LOCALHOST)
      return socket
    }

    async function nativeServer (): Promise<UtpNative> {
      const server = utp.createServer()
      nativeSockets.push(server)
      server.on('connection', (conn: UtpNativeConnection) => { nativeConnections.push(conn) })
      server.listen(0, LOCALHOST)
      await once(server, 'listening')
      sizeNativeBuffers(server)
      return server
    }

    async function nativeClient (): Promise<UtpNative> {
      const client = utp()
      nativeSockets.push(client)
      client.bind(0, LOCALHOST)
      await once(client, 'listening')
      sizeNativeBuffers(client)
      return client
    }

    /** our socket dials a libutp server */
    async function weDial (): Promise<{ ours: UtpConnection, theirs: UtpNativeConnection }> {
      const server = await nativeServer()
      const accepted = once(server, 'connection')
      const socket = await ourSocket()
      const ours = await socket.connect(server.address().port, LOCALHOST)
      const [theirs] = await accepted as [UtpNativeConnection]
      return { ours, theirs }
    }

    /** a libutp socket dials our socket */
    async function theyDial (): Promise<{ ours: UtpConnection, theirs: UtpNativeConnection }> {
      const socket = await ourSocket()
      socket.listen()
      const accepted = once(socket, 'connection')
      const client = await nativeClient()
      const theirs = client.connect(socket.address().port, LOCALHOST)
      nativeConnections.push(theirs)
      const [ours] = await accepted
      return { ours, theirs }
    }

    it('our socket dials libutp: 16 MiB each way at once, then we close first', async function () {
      this.timeout(TEST_TIMEOUT)
      const { ours, theirs } = await weDial()
      await exchange(
        { name: 'ours', stream: ours, seed: 1, bytes: 16 * MiB, closes: 'first' },
        { name: 'libutp', stream: theirs, seed: 2, bytes: 16 * MiB, closes: 'second' }
      )
    })

    it('libutp dials our socket: 16 MiB each way at once, then libutp closes first', async function () {
      this.timeout(TEST_TIMEOUT)
      const { ours, theirs } = await theyDial()
      await exchange(
        { name: 'libutp', stream: theirs, seed: 3, bytes: 16 * MiB, closes: 'first' },
        { name: 'ours', stream: ours, seed: 4, bytes: 16 * MiB, closes: 'second' }
      )
    })

    it('our socket dials libutp: 1 MiB each way, then libutp closes first', async function () {
      this.timeout(TEST_TIMEOUT)
      const { ours, theirs } = await weDial()
      await exchange(
        { name: 'libutp', stream: theirs, seed: 5, bytes: MiB, closes: 'first' },
        { name: 'ours', stream: ours, seed: 6, bytes: MiB, closes: 'second' }
      )
    })

    it('libutp dials our socket: 1 MiB each way, then we close first', async function () {
      this.timeout(TEST_TIMEOUT)
      const { ours, theirs } = await theyDial()
      await exchange(
        { name: 'ours', stream: ours, seed: 7, bytes: MiB, closes: 'first' },
        { name: 'libutp', stream: theirs, seed: 8, bytes: MiB, closes: 'second' }
      )
    })
  })
}

if (utpNative == null) {
  describe('interop with libutp (utp-native)', () => {
    it('loads utp-native', () => {
      throw new Error(`utp-native (libutp's Node binding, a devDependency) did not load on Node ${process.version} ` +
        `${process.platform}-${process.arch}, so the libutp interop tests cannot run: ${String(loadError)}. ` +
        'Reinstall it (npm ci) and check that its install script ran (package.json allowScripts).')
    })
  })
} else {
  defineInteropSuite(utpNative)
}
