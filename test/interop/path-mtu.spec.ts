/**
 * Path MTU probing against libutp (utp-native): our socket keeps probing on (the default), yet a
 * libutp peer never announces that it answers probes, so our side must never probe nor raise its
 * packet size, and the handshake must still work in both dial directions. Several MiB each way at
 * once, sha256-checked, then a graceful close (the side that dialled closes first).
 *
 * utp-native quirks as in libutp.spec.ts: its accepting side corks until the dialling side has
 * sent something (both sides write at once here), and its connections close themselves once they
 * have ended and read the end.
 */

import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { expect } from 'aegir/chai'
import { UtpSocket } from '../../src/socket/utp-socket.ts'
import { chunkOf } from '../socket/streams.ts'
import type { UtpConnection } from '../../src/socket/utp-connection.ts'
import type { Duplex } from 'node:stream'
import type { UtpNative, UtpNativeConnection } from 'utp-native'

type UtpNativeModule = typeof import('utp-native')

const MiB = 1024 * 1024
const LOCALHOST = '127.0.0.1'
const UDP_BUFFER = 4 * MiB
const TEST_TIMEOUT = 60_000
/** the configured (default) packet size of our socket */
const BASE = 1452

let utpNative: UtpNativeModule | undefined
let loadError: unknown
try {
  utpNative = (await import('utp-native')).default
} catch (err) {
  loadError = err
}

interface SideResult {
  sentSha256: string
  receivedSha256: string
  receivedBytes: number
  errors: Error[]
}

/**
 * Writes `bytes` reproducible bytes with backpressure while reading and hashing everything that
 * arrives; ends once everything is written (`first`) or once the peer's end was read (`second`);
 * resolves once the stream closed
 */
async function runSide (stream: Duplex, bytes: number, seed: number, closes: 'first' | 'second'): Promise<SideResult> {
  const errors: Error[] = []
  stream.on('error', (err) => { errors.push(err) })
  const received = createHash('sha256')
  let receivedBytes = 0
  stream.on('data', (chunk: Buffer) => {
    received.update(chunk)
    receivedBytes += chunk.byteLength
  })
  const ended = once(stream, 'end')
  const closed = once(stream, 'close')

  const sent = createHash('sha256')
  let index = 0
  for (let left = bytes; left > 0;) {
    const chunk = chunkOf(seed, index++, Math.min(left, 64 * 1024))
    sent.update(chunk)
    left -= chunk.byteLength
    if (!stream.write(chunk)) {
      await Promise.race([once(stream, 'drain'), closed.then(() => { throw new Error('closed while waiting for drain') })])
    }
  }
  if (closes === 'second') {
    await ended
  }
  stream.end()
  await closed
  return { sentSha256: sent.digest('hex'), receivedSha256: received.digest('hex'), receivedBytes, errors }
}

function defineSuite (utp: UtpNativeModule): void {
  describe('path MTU probing with libutp (utp-native)', () => {
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

    async function ourSocket (): Promise<UtpSocket> {
      // probing on, as by default; half-open: each side ends its writing when it decides to
      const socket = new UtpSocket({ udpBufferSize: UDP_BUFFER, pathMtuProbing: true, connection: { allowHalfOpen: true } })
      ourSockets.push(socket)
      await socket.bind(0, LOCALHOST)
      return socket
    }

    function sizeNativeBuffers (socket: UtpNative): void {
      socket.setRecvBufferSize(UDP_BUFFER)
      socket.setSendBufferSize(UDP_BUFFER)
    }

    /** Both ways at once, byte-exact; `first` closes first. Checks that our side never probed. */
    async function exchangeChecked (ours: UtpConnection, theirs: UtpNativeConnection, first: 'ours' | 'libutp', bytes: number, seed: number): Promise<void> {
      const [r, t] = await Promise.all([
        runSide(ours, bytes, seed, first === 'ours' ? 'first' : 'second'),
        runSide(theirs, bytes, seed + 1, first === 'libutp' ? 'first' : 'second')
      ])
      expect(r.errors, 'errors on our side').to.deep.equal([])
      expect(t.errors, 'errors on libutp\'s side').to.deep.equal([])
      expect(t.receivedBytes, 'ours -> libutp').to.equal(bytes)
      expect(t.receivedSha256, 'ours -> libutp').to.equal(r.sentSha256)
      expect(r.receivedBytes, 'libutp -> ours').to.equal(bytes)
      expect(r.receivedSha256, 'libutp -> ours').to.equal(t.sentSha256)
      // libutp never announced that it answers probes: none was sent, nothing grew
      expect(ours.stats.mtuProbes).to.equal(0)
      expect(ours.packetSize).to.equal(BASE)
    }

    it('our socket dials libutp: 4 MiB each way, no probe, packetSize stays 1452, the announcement read as uTP', async function () {
      this.timeout(TEST_TIMEOUT)
      const server = utp.createServer()
      nativeSockets.push(server)
      server.on('connection', (conn: UtpNativeConnection) => { nativeConnections.push(conn) })
      // utp-native hands the application every datagram libutp does not take for uTP: our
      // announcement (an ST_STATE with an extension libutp does not know) must not be one
      const strays: string[] = []
      server.on('message', (msg: Buffer) => { strays.push(msg.toString('hex')) })
      server.listen(0, LOCALHOST)
      await once(server, 'listening')
      sizeNativeBuffers(server)
      const accepted = once(server, 'connection')
      const socket = await ourSocket()
      const ours = await socket.connect(server.address().port, LOCALHOST)
      const [theirs] = await accepted as [UtpNativeConnection]
      await exchangeChecked(ours, theirs, 'ours', 4 * MiB, 21)
      expect(strays, 'datagrams libutp passed to the application').to.deep.equal([])
    })

    it('libutp dials our socket: 4 MiB each way, no probe, packetSize stays 1452', async function () {
      this.timeout(TEST_TIMEOUT)
      const socket = await ourSocket()
      socket.listen()
      const accepted = once(socket, 'connection')
      const client = utp()
      nativeSockets.push(client)
      client.bind(0, LOCALHOST)
      await once(client, 'listening')
      sizeNativeBuffers(client)
      const theirs = client.connect(socket.address().port, LOCALHOST)
      nativeConnections.push(theirs)
      const [ours] = await accepted as [UtpConnection]
      await exchangeChecked(ours, theirs, 'libutp', 4 * MiB, 23)
    })
  })
}

if (utpNative == null) {
  describe('path MTU probing with libutp (utp-native)', () => {
    it('loads utp-native', () => {
      throw new Error(`utp-native (libutp's Node binding, a devDependency) did not load on Node ${process.version} ` +
        `${process.platform}-${process.arch}, so the libutp interop tests cannot run: ${String(loadError)}. ` +
        'Reinstall it (npm ci) and check that its install script ran (package.json allowScripts).')
    })
  })
} else {
  defineSuite(utpNative)
}
