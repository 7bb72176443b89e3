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
 * The lossy tests put a UDP relay (./lossy-relay.ts) between the two peers that drops 2 % of the
 * DATA, STATE and FIN packets in each direction, decided by a seeded PRNG, once the connection is
 * set up. The seed is in every assertion message; `UTP_INTEROP_SEED=<n>` reruns them with another
 * one. A transfer that has not completed well before the test timeout fails with the relay's
 * counters, its last packets and our connection's state.
 *
 * A libutp bug shapes the test where libutp dials: its dialling side starts `fast_resend_seq_nr`
 * at 1 and never moves it to its random initial seq_nr (utp_initialize_socket, then utp_connect;
 * only accepted connections set it), and an ACK only moves it forward when the ACK is less than
 * half the sequence space ahead of it. With an initial seq_nr of 32,768 or more, such a
 * connection therefore never retransmits on selective ACKs until its sequence numbers wrap: every
 * loss waits for libutp's RTO (at least 1 s, doubled on each repeat), and 4 MiB at 2 % loss takes
 * 15 to 40 s instead of 2 to 5. libutp draws seq_nr from an unseeded `rand()`, so which
 * connections are hit depends only on how many libutp connections the process made before. The
 * test redials until libutp picks an unaffected seq_nr (the relay sees it in the SYN) and logs
 * what it skipped.
 *
 * Throughput and times are logged under `DEBUG=libp2p:utp:interop`; `DEBUG=libp2p:utp:interop:relay`
 * adds every packet the lossy relay saw.
 */

import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { logger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { stateName } from '../../src/engine/connection.ts'
import { UtpConnection } from '../../src/socket/utp-connection.ts'
import { UtpSocket } from '../../src/socket/utp-socket.ts'
import { LossyRelay, Xorshift32 } from './lossy-relay.ts'
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
/** fraction of DATA/STATE/FIN packets the lossy relay drops in each direction */
const RELAY_LOSS = 0.02
/** a lossy transfer still running after this long has stalled: fail with what the relay saw */
const STALL_AFTER = TEST_TIMEOUT - 10_000
/** connections libutp may dial to find an initial seq_nr that leaves its fast retransmit on */
const MAX_LIBUTP_DIALS = 8

const log = logger('libp2p:utp:interop')
/** every packet the lossy relay saw */
const relayLog = logger('libp2p:utp:interop:relay')

let utpNative: UtpNativeModule | undefined
let loadError: unknown
try {
  utpNative = (await import('utp-native')).default
} catch (err) {
  loadError = err
}

/** Reproducible chunk sizes and bytes */
class ByteSource extends Xorshift32 {
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
  /** the last data arrived (NaN if none did) */
  lastData: number
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
  let lastData = NaN
  stream.on('data', (chunk: Buffer) => {
    received.update(chunk)
    receivedBytes += chunk.byteLength
    lastData = at()
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
    lastData,
    errors,
    wroteAll,
    endCalled,
    readEnded: readEndedAt,
    finished,
    closed: closedAt
  }
}

/**
 * Runs both sides at once and checks data, hashes and the order of the close; `note` is appended
 * to every assertion message. Resolves both reports.
 */
async function exchange (first: Side, second: Side, note = ''): Promise<[SideReport, SideReport]> {
  expect(first.closes).to.equal('first')
  expect(second.closes).to.equal('second')
  const t0 = performance.now()
  const [a, b] = await Promise.all([runSide(first, t0), runSide(second, t0)])

  for (const [from, to] of [[a, b], [b, a]]) {
    const what = `${from.side.name} -> ${to.side.name}`
    log('%s: %d bytes in %d ms, %s MiB/s', what, to.receivedBytes, Math.round(to.lastData),
      (to.receivedBytes / MiB / (to.lastData / 1000)).toFixed(1))
    expect(to.errors, `errors on ${to.side.name}${note}`).to.deep.equal([])
    expect(to.receivedBytes, `bytes ${what}${note}`).to.equal(from.side.bytes)
    expect(to.receivedSha256, `sha256 ${what}${note}`).to.equal(from.sentSha256)
  }
  for (const r of [a, b]) {
    if (r.side.stream instanceof UtpConnection) {
      log('%s: %o', r.side.name, r.side.stream.stats)
    }
  }
  log('close: %s end() at %d ms, %s end() at %d ms, closed at %d / %d ms', a.side.name, Math.round(a.endCalled),
    b.side.name, Math.round(b.endCalled), Math.round(a.closed), Math.round(b.closed))

  // the first side ended before the second saw that end, and the second ended only after it
  expect(a.endCalled, `close order${note}`).to.be.at.most(b.readEnded)
  expect(b.readEnded, `close order${note}`).to.be.at.most(b.endCalled)
  expect(b.endCalled, `close order${note}`).to.be.at.most(a.readEnded)
  for (const r of [a, b]) {
    expect(Number.isNaN(r.readEnded), `${r.side.name} read the end${note}`).to.equal(false)
    expect(r.finished, `${r.side.name} finished${note}`).to.be.a('number')
  }
  return [a, b]
}

/**
 * The two {@link Side}s of a connection for {@link exchange}: `closesFirst` ('ours' or 'libutp')
 * closes first and writes from `seed`, the other side from `seed + 1`; `bytes` each way
 */
function sides (closesFirst: 'ours' | 'libutp', conns: { ours: UtpConnection, theirs: UtpNativeConnection }, seed: number, bytes: number): [Side, Side] {
  const ours = { name: 'ours', stream: conns.ours, bytes }
  const theirs = { name: 'libutp', stream: conns.theirs, bytes }
  const [first, second] = closesFirst === 'ours' ? [ours, theirs] : [theirs, ours]
  return [{ ...first, seed, closes: 'first' }, { ...second, seed: seed + 1, closes: 'second' }]
}

/**
 * Whether a libutp connection that dialled with this initial seq_nr never retransmits on selective
 * ACKs (until its sequence numbers wrap): its `fast_resend_seq_nr` stays at 1 unless the first
 * ACK, about `isn`, is less than half the sequence space ahead of 1 (see the header)
 */
function libutpFastResendOff (isn: number): boolean {
  return isn === 0 || isn >= 0x8000
}

/** Ends both sides of a connection that carried no data and waits for both to close */
async function closeUnused (ours: UtpConnection, theirs: UtpNativeConnection): Promise<void> {
  const closed = Promise.all([once(ours, 'close'), once(theirs, 'close')])
  ours.resume()
  theirs.resume()
  theirs.end()
  ours.end()
  await closed
}

/** The seed of the lossy relay: `UTP_INTEROP_SEED` when set, else the test's own */
function relaySeed (fallback: number): number {
  const env = process.env.UTP_INTEROP_SEED
  if (env == null || env === '') {
    return fallback
  }
  const seed = Number.parseInt(env, 10)
  if (!Number.isSafeInteger(seed)) {
    throw new Error(`UTP_INTEROP_SEED must be an integer, not ${env}`)
  }
  return seed >>> 0
}

/** What our side of a connection was doing, for a stalled transfer */
function describeOurs (ours: UtpConnection): string {
  const conn = ours.entry.connection
  return `ours: state ${stateName(conn.state)}, ${conn.bufferedAmount} bytes unsent or unacked, ` +
    `flight ${conn.flight}, cwnd ${conn.congestionWindow}, srtt ${String(ours.rtt)} ms, ` +
    `rto ${conn.retransmissionTimeout / 1000} ms, our receive window ${conn.receiveWindow}, stats ${JSON.stringify(ours.stats)}`
}

/**
 * {@link exchange} through a lossy relay: fails with the relay's counters, its last packets and our
 * connection's state when the transfer has not completed after {@link STALL_AFTER}, and logs how
 * long it took.
 */
async function lossyExchange (relay: LossyRelay, ours: UtpConnection, first: Side, second: Side): Promise<void> {
  const note = ` (relay seed ${relay.seed}, ${relay.loss * 100} % loss each way; rerun with UTP_INTEROP_SEED=${relay.seed})`
  let guard: ReturnType<typeof setTimeout> | undefined
  relay.dropping = true
  const stalled = new Promise<never>((_resolve, reject) => {
    guard = setTimeout(() => {
      const trace = relay.trace()
      log('stalled: %s; %s; last packets:\n%s', relay.summary(), describeOurs(ours), trace.join('\n'))
      reject(new Error(`transfer incomplete after ${STALL_AFTER} ms${note}: ${relay.summary()}; ${describeOurs(ours)}; ` +
        `last packets:\n${trace.slice(-40).join('\n')}`))
    }, STALL_AFTER)
  })
  try {
    const [a, b] = await Promise.race([exchange(first, second, note), stalled])
    log('lossy, %s dialled, seed %d: %s -> %s all data at %d ms, %s -> %s all data at %d ms, both closed at %d ms',
      ours.entry.connection.isInitiator ? 'ours' : 'libutp', relay.seed,
      a.side.name, b.side.name, Math.round(b.lastData), b.side.name, a.side.name, Math.round(a.lastData),
      Math.round(Math.max(a.closed, b.closed)))
    log('%s', relay.summary())
    log('%s', describeOurs(ours))
    if (relayLog.enabled) {
      relayLog('relay, seed %d, every packet:\n%s', relay.seed, relay.trace().join('\n'))
    }
  } finally {
    clearTimeout(guard)
  }
}

function defineInteropSuite (utp: UtpNativeModule): void {
  describe('interop with libutp (utp-native)', () => {
    let ourSockets: UtpSocket[] = []
    let nativeSockets: UtpNative[] = []
    let nativeConnections: UtpNativeConnection[] = []
    let relays: LossyRelay[] = []
    /** datagrams libutp handed to the application as not uTP (utp-native's 'message'), in hex */
    let strays: string[] = []

    afterEach(async () => {
      await Promise.all(relays.map(async (r) => { await r.close() }))
      relays = []
      strays = []
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
      socket.on('message', (msg: Buffer) => { strays.push(msg.toString('hex')) })
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

    async function lossyRelay (target: number, seed: number): Promise<LossyRelay> {
      const relay = await LossyRelay.create({
        target,
        loss: RELAY_LOSS,
        seed,
        host: LOCALHOST,
        udpBufferSize: UDP_BUFFER,
        // everything when it is logged, else enough to show a stall
        traceSize: relayLog.enabled ? Number.POSITIVE_INFINITY : 200
      })
      relays.push(relay)
      return relay
    }

    /** our socket dials a libutp server through a lossy relay, which drops nothing yet */
    async function weDialThroughRelay (seed: number): Promise<{ ours: UtpConnection, theirs: UtpNativeConnection, relay: LossyRelay }> {
      const server = await nativeServer()
      const relay = await lossyRelay(server.address().port, seed)
      relay.dropping = false
      const accepted = once(server, 'connection')
      const socket = await ourSocket()
      const ours = await socket.connect(relay.port, LOCALHOST)
      const [theirs] = await accepted as [UtpNativeConnection]
      return { ours, theirs, relay }
    }

    /**
     * A libutp socket dials our socket through a lossy relay, which drops nothing yet; redials while
     * libutp's initial seq_nr would leave its fast retransmit off (see the header)
     */
    async function theyDialThroughRelay (seed: number): Promise<{ ours: UtpConnection, theirs: UtpNativeConnection, relay: LossyRelay }> {
      const socket = await ourSocket()
      socket.listen()
      const relay = await lossyRelay(socket.address().port, seed)
      relay.dropping = false
      const client = await nativeClient()
      const skipped: number[] = []
      for (;;) {
        const accepted = once(socket, 'connection')
        const theirs = client.connect(relay.port, LOCALHOST)
        nativeConnections.push(theirs)
        const [[ours]] = await Promise.all([accepted, once(theirs, 'connect')])
        const isn = relay.clientSynSeqNr
        if (isn == null) {
          throw new Error('the relay saw no SYN from libutp')
        }
        if (!libutpFastResendOff(isn) || skipped.length + 1 >= MAX_LIBUTP_DIALS) {
          log('libutp dialled with seq_nr %d%s', isn, skipped.length > 0
            ? ` after ${skipped.length} connection(s) with seq_nr ${skipped.join(', ')}, which would have left its fast retransmit off`
            : '')
          return { ours, theirs, relay }
        }
        skipped.push(isn)
        await closeUnused(ours, theirs)
      }
    }

    /**
     * Path MTU probing is on by default, and libutp never announces that it answers probes: none
     * may be sent, the packet size stays the configured one, and libutp takes every datagram of
     * ours for uTP (utp-native hands the others to the application: our announcement, an ST_STATE
     * with an extension libutp does not know, must not be one)
     */
    function expectNoPathMtu (ours: UtpConnection): void {
      expect(ours.stats.mtuProbes, 'path MTU probes sent').to.equal(0)
      expect(ours.packetSize, 'packet size').to.equal(1452)
      expect(strays, 'datagrams libutp passed to the application').to.deep.equal([])
    }

    it('our socket dials libutp: 16 MiB each way at once, then we close first; no path MTU probe', async function () {
      this.timeout(TEST_TIMEOUT)
      const conns = await weDial()
      await exchange(...sides('ours', conns, 1, 16 * MiB))
      expectNoPathMtu(conns.ours)
    })

    it('libutp dials our socket: 16 MiB each way at once, then libutp closes first; no path MTU probe', async function () {
      this.timeout(TEST_TIMEOUT)
      const conns = await theyDial()
      await exchange(...sides('libutp', conns, 3, 16 * MiB))
      expectNoPathMtu(conns.ours)
    })

    it('our socket dials libutp: 1 MiB each way, then libutp closes first', async function () {
      this.timeout(TEST_TIMEOUT)
      await exchange(...sides('libutp', await weDial(), 5, MiB))
    })

    it('libutp dials our socket: 1 MiB each way, then we close first', async function () {
      this.timeout(TEST_TIMEOUT)
      await exchange(...sides('ours', await theyDial(), 7, MiB))
    })

    it('through a relay losing 2 % each way, our socket dials libutp: 4 MiB each way at once, then we close first', async function () {
      this.timeout(TEST_TIMEOUT)
      const dialled = await weDialThroughRelay(relaySeed(0x10551))
      await lossyExchange(dialled.relay, dialled.ours, ...sides('ours', dialled, 9, 4 * MiB))
    })

    it('through a relay losing 2 % each way, libutp dials our socket: 4 MiB each way at once, then libutp closes first', async function () {
      this.timeout(TEST_TIMEOUT)
      const dialled = await theyDialThroughRelay(relaySeed(0x10552))
      await lossyExchange(dialled.relay, dialled.ours, ...sides('libutp', dialled, 11, 4 * MiB))
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
