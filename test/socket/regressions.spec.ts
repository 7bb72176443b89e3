/**
 * Regression tests for bugs found in code review of src/socket and src/transport: each of these
 * failed before the fixes.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { encodePacket, PacketType, UtpSocket } from '../../src/index.ts'
import { UtpListener } from '../../src/transport/listener.ts'
import { SocketPool } from '../../src/transport/socket-pool.ts'
import { recordingUpgrader } from '../transport/recording-upgrader.ts'
import { runChild } from './child-process.ts'
import { waitFor, within } from './wait-for.ts'
import type { UtpConnection } from '../../src/index.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

const HOST = '127.0.0.1'
const ENTRY = fileURLToPath(new URL('../../src/index.ts', import.meta.url))

/** The UDP port of a `/ipX/.../udp/<port>/...` multiaddr */
function udpPort (ma: Multiaddr): number {
  return Number(ma.getComponents().find(c => c.name === 'udp')?.value)
}

/** A listening socket that accepts and drains every connection */
async function server (type: 'udp4' | 'udp6' = 'udp4', host = HOST): Promise<UtpSocket> {
  const b = new UtpSocket({ type })
  await b.bind(0, host)
  b.listen()
  b.on('connection', (c) => {
    c.on('error', () => {})
    c.resume()
  })
  return b
}

describe('UtpSocket review regressions', function () {
  this.timeout(30_000)

  const sockets: UtpSocket[] = []
  const track = (s: UtpSocket): UtpSocket => {
    sockets.push(s)
    return s
  }

  /** A listening socket `b`, a socket `a` connected to it, and the accepted side to come */
  async function connectedPair (): Promise<{ a: UtpSocket, b: UtpSocket, accepted: Promise<[UtpConnection]>, conn: UtpConnection }> {
    const b = track(new UtpSocket())
    await b.bind(0, HOST)
    b.listen()
    const a = track(new UtpSocket({ probeUnreachable: false }))
    await a.bind(0, HOST)
    const accepted = once(b, 'connection') as Promise<[UtpConnection]>
    const conn = await a.connect(b.address().port, HOST)
    return { a, b, accepted, conn }
  }

  afterEach(async () => {
    await Promise.allSettled(sockets.splice(0).map(async (s) => { await s.close(0) }))
  })

  it('a dial to fe80::1 without a zone rejects instead of crashing, and the socket still dials ::1 afterwards', async () => {
    const b = track(await server('udp6', '::1'))
    const a = track(new UtpSocket({ type: 'udp6', connectTimeout: 500 }))
    await a.bind(0, '::1')
    const err = await a.connect(4001, 'fe80::1', { signal: AbortSignal.timeout(500) }).then(() => undefined, (err: Error) => err)
    expect(err).to.be.an.instanceOf(Error)

    const accepted = once(b, 'connection')
    const conn = await a.connect(b.address().port, '::1', { signal: AbortSignal.timeout(5_000) })
    conn.write(Buffer.from([1]))
    await within(accepted, 5_000, 'the ::1 dial was not accepted')
    conn.destroy()
  })

  it('two concurrent close() calls both resolve with a connection open and data in flight', async () => {
    const b = track(await server())
    const a = new UtpSocket({ probeUnreachable: false })
    await a.bind(0, HOST)
    const conn = await a.connect(b.address().port, HOST)
    conn.on('error', () => {})
    conn.resume()
    conn.write(Buffer.alloc(512 * 1024))
    const results = await within(Promise.allSettled([a.close(500), a.close(500)]), 5_000, 'close() did not settle')
    expect(results.map(r => r.status)).to.deep.equal(['fulfilled', 'fulfilled'])
  })

  it('two concurrent connect() calls on a never-bound socket both succeed', async () => {
    const b = track(await server())
    const a = track(new UtpSocket({ probeUnreachable: false }))
    const results = await Promise.allSettled([
      a.connect(b.address().port, HOST),
      a.connect(b.address().port, HOST)
    ])
    expect(results.map(r => r.status)).to.deep.equal(['fulfilled', 'fulfilled'])
    for (const r of results) {
      if (r.status === 'fulfilled') {
        r.value.destroy()
      }
    }
  })

  it('reusing a buffer right after write() calls back does not change the bytes the peer receives', async () => {
    const { accepted, conn } = await connectedPair()
    conn.resume()

    const SIZE = 64 * 1024
    const buf = Buffer.alloc(SIZE, 1)
    await new Promise<void>((resolve, reject) => { conn.write(buf, (err) => { err == null ? resolve() : reject(err) }) })
    buf.fill(2)
    await new Promise<void>((resolve, reject) => { conn.write(buf, (err) => { err == null ? resolve() : reject(err) }) })
    buf.fill(3)
    conn.end()

    const [peer] = await accepted
    const chunks: Buffer[] = []
    for await (const chunk of peer) {
      chunks.push(chunk)
    }
    const all = Buffer.concat(chunks)
    expect(all.byteLength).to.equal(2 * SIZE)
    expect(all.subarray(0, SIZE).equals(Buffer.alloc(SIZE, 1))).to.equal(true, 'first write corrupted')
    expect(all.subarray(SIZE).equals(Buffer.alloc(SIZE, 2))).to.equal(true, 'second write corrupted')
    peer.end()
  })

  it('destroy() without an error while the peer keeps writing takes both connections down', async () => {
    const { a, b, accepted, conn } = await connectedPair()
    conn.on('error', () => {})
    conn.resume()
    const chunk = Buffer.alloc(16 * 1024)
    const pump = (): void => {
      let more = true
      while (more && !conn.destroyed) {
        more = conn.write(chunk)
      }
    }
    conn.on('drain', pump)
    pump()

    const [peer] = await accepted
    peer.on('error', () => {})
    await once(peer, 'readable')
    // not events.once(): that rejects on the 'error' (the reset) before 'close'
    const closed = new Promise<void>((resolve) => { conn.once('close', () => { resolve() }) })
    peer.destroy()
    await within(closed, 3_000, 'the writer was never closed')
    expect(await waitFor(() => a.connectionCount === 0 && b.connectionCount === 0, 3_000, 20))
      .to.equal(true, `connectionCount a=${a.connectionCount} b=${b.connectionCount}`)
  })

  it('a UtpListener upgrades only confirmed connections: a spoofed bare SYN does not reach upgradeInbound', async () => {
    const log = defaultLogger()
    const pool = new SocketPool({ probeUnreachable: false }, log.forComponent('test:pool'))
    // each upgrade is held until the listener shuts down
    const { upgrader, upgraded, nextUpgrade } = recordingUpgrader(true)
    const listener = new UtpListener({ upgrader, pool, logger: log })
    const raw = createSocket('udp4')
    try {
      await listener.listen(multiaddr(`/ip4/${HOST}/udp/0/utp`))
      const port = udpPort(listener.getAddrs()[0])

      // the spoofed SYN: the listener answers it (so it was processed) but must not upgrade it
      await new Promise<void>((resolve) => { raw.bind(0, HOST, resolve) })
      const answered = once(raw, 'message')
      raw.send(encodePacket({ type: PacketType.Syn, connectionId: 1234, timestamp: 0, timestampDiff: 0, wndSize: 65535, seqNr: 1, ackNr: 0 }), port, HOST)
      await within(answered, 3_000, 'the listener never answered the SYN')
      expect(upgraded).to.have.lengthOf(0)

      // a real dial is upgraded once its ACK of the SYN-ACK arrives, before it sends any data
      const a = track(new UtpSocket({ probeUnreachable: false }))
      await a.bind(0, HOST)
      const upgradedOnce = nextUpgrade()
      const conn = await a.connect(port, HOST)
      conn.on('error', () => {})
      conn.resume()
      await within(upgradedOnce, 5_000, 'the real dial was never upgraded')
      expect(upgraded).to.have.lengthOf(1)
      expect(udpPort(upgraded[0].remoteAddr)).to.equal(a.address().port)
    } finally {
      raw.close()
      await listener.close()
      await pool.closeAll()
    }
  })

  it('unref() on both sockets of a live idle connection lets the process exit by itself', async () => {
    const stdout = await runUntilExit(`
import { once } from 'node:events'
import { UtpSocket } from ${JSON.stringify(ENTRY)}
const a = new UtpSocket()
const b = new UtpSocket({ keepAliveInterval: 200 })
await a.bind(0, '127.0.0.1')
await b.bind(0, '127.0.0.1')
b.listen()
const accepted = once(b, 'connection')
const conn = await a.connect(b.address().port, '127.0.0.1')
conn.resume()
const [peer] = await accepted
peer.resume()
a.unref()
b.unref()
process.stdout.write('unrefed\\n')
`)
    expect(stdout).to.include('unrefed')
  })

  it('an unref\'d socket closing with a silent peer lets the process exit before the grace ends', async () => {
    // the peer answers the SYN by hand and then drops everything: close() waits its whole grace
    // for the data and FIN to be acknowledged, and that wait must not hold the process
    const stdout = await runUntilExit(`
import { createSocket } from 'node:dgram'
import { UtpSocket, decodePacket, encodePacket, PacketType } from ${JSON.stringify(ENTRY)}
const silent = createSocket('udp4')
await new Promise((resolve) => { silent.bind(0, '127.0.0.1', resolve) })
silent.on('message', (m, rinfo) => {
  const p = decodePacket(m)
  if (!(p instanceof Error) && p.type === PacketType.Syn) {
    silent.send(encodePacket({ type: PacketType.State, connectionId: p.connectionId, seqNr: 100, ackNr: p.seqNr, timestamp: 0, timestampDiff: 0, wndSize: 1 << 20 }), rinfo.port, rinfo.address)
  }
})
silent.unref()
const a = new UtpSocket()
await a.bind(0, '127.0.0.1')
const conn = await a.connect(silent.address().port, '127.0.0.1')
conn.write(new Uint8Array(10_000))
conn.end()
a.unref()
a.close(60_000).then(() => { process.stdout.write('closed\\n') }, () => {})
process.stdout.write('closing\\n')
`)
    expect(stdout).to.include('closing')
    // the grace (60 s) never ran out: the process left while close() still waited
    expect(stdout).not.to.include('closed')
  })
})

/**
 * Runs `script` in a child process and resolves with its output once it exits with code 0 by
 * itself; fails if it is still running after 5 s (it is then killed)
 */
async function runUntilExit (script: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'utp-unref-'))
  try {
    const file = join(dir, 'script.ts')
    await writeFile(file, script)
    const { code, stdout, stderr, exitedByItself } = await runChild([file], 5_000)
    expect(exitedByItself).to.equal(true, `the child was still running after 5 s: ${stdout} ${stderr}`)
    expect(code).to.equal(0, stderr)
    return stdout
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
