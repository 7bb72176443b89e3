/**
 * Path MTU probing on real UDP sockets over 127.0.0.1: two of our sockets with the defaults probe
 * up to what the loopback interface carries (65,507 bytes: the largest UDP payload), and move
 * data byte-exact with the larger packets; with probing off on either side, or a maximum set,
 * they stay within it.
 *
 * Linux only: the cap is read from /sys/class/net/lo/mtu, so elsewhere the suite is skipped with
 * the reason printed.
 */

import { readFileSync } from 'node:fs'
import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { UtpSocket } from '../../src/index.ts'
import { receiveStream, sendStream } from './streams.ts'
import type { UtpConnection, UtpSocketOptions } from '../../src/index.ts'

const MiB = 1024 * 1024
const HOST = '127.0.0.1'
/** the configured packet size (the default) */
const BASE = 1452

function report (line: string): void {
  process.stdout.write(`      ${line}\n`)
}

/** The loopback interface's MTU, or why it cannot be read */
function loopbackMtu (): number | string {
  try {
    const mtu = Number.parseInt(readFileSync('/sys/class/net/lo/mtu', 'utf8'), 10)
    return Number.isFinite(mtu) && mtu > 0 ? mtu : 'unparsable /sys/class/net/lo/mtu'
  } catch (err: any) {
    return `/sys/class/net/lo/mtu is unreadable (${process.platform}): ${String(err.message)}`
  }
}

/** both sides write, read and end on their own: half-open streams (see loopback.spec.ts) */
const HALF_OPEN = { connection: { allowHalfOpen: true } }

describe('path MTU probing over loopback', function () {
  this.timeout(120_000)
  /** the largest datagram probing may reach over IPv4 loopback */
  let cap = 0
  let sockets: UtpSocket[] = []

  before(function () {
    const mtu = loopbackMtu()
    if (typeof mtu === 'string') {
      report(`skipped: ${mtu}`)
      this.skip()
    }
    cap = Math.min(65_507, mtu - 28)
  })

  afterEach(async () => {
    await Promise.all(sockets.map(async s => { await s.close() }))
    sockets = []
  })

  async function connected (aOptions: UtpSocketOptions, bOptions: UtpSocketOptions): Promise<{ x: UtpConnection, y: UtpConnection }> {
    const a = new UtpSocket({ ...HALF_OPEN, ...aOptions })
    const b = new UtpSocket({ ...HALF_OPEN, ...bOptions })
    sockets.push(a, b)
    await a.bind(0, HOST)
    await b.bind(0, HOST)
    b.listen()
    const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
    const x = await a.connect(b.address().port, HOST)
    const y = await accepted
    return { x, y }
  }

  /** `size` bytes each way at once, sha256-checked */
  async function exchange (x: UtpConnection, y: UtpConnection, size: number, seed: number): Promise<void> {
    const start = performance.now()
    const [sentX, gotY, sentY, gotX] = await Promise.all([
      sendStream(x, size, seed),
      receiveStream(y),
      sendStream(y, size, seed + 1),
      receiveStream(x)
    ])
    expect(gotY.bytes).to.equal(size)
    expect(gotX.bytes).to.equal(size)
    expect(gotY.sha256).to.equal(sentX)
    expect(gotX.sha256).to.equal(sentY)
    const seconds = (performance.now() - start) / 1000
    report(`${(2 * size / seconds / 1e6).toFixed(1)} MB/s both ways; packetSize ${x.packetSize}/${y.packetSize}, ` +
      `probes ${x.stats.mtuProbes}/${y.stats.mtuProbes}, retransmits ${x.stats.retransmits}/${y.stats.retransmits}`)
  }

  it('with the defaults, probes up to the loopback cap both ways and moves 8 MiB each way byte-exact', async () => {
    const { x, y } = await connected({}, {})
    expect(x.packetSize).to.equal(BASE)
    await exchange(x, y, 8 * MiB, 1)
    expect(x.packetSize).to.equal(cap)
    expect(y.packetSize).to.equal(cap)
    // at least the ladder from 1452 (2904, 5808, ..., the cap)
    expect(x.stats.mtuProbes).to.be.at.least(6)
    expect(y.stats.mtuProbes).to.be.at.least(6)
  })

  it('probes one way only when only one side has bulk data', async () => {
    const { x, y } = await connected({}, {})
    y.end()
    const [sent, got, back] = await Promise.all([sendStream(x, 4 * MiB, 3), receiveStream(y), receiveStream(x)])
    expect(got.sha256).to.equal(sent)
    expect(back.bytes).to.equal(0)
    expect(x.packetSize).to.equal(cap)
    expect(y.packetSize).to.equal(BASE)
    expect(y.stats.mtuProbes).to.equal(0)
  })

  for (const off of ['dialler', 'listener'] as const) {
    it(`stays at ${BASE} bytes with no probe either way when the ${off} has pathMtuProbing off`, async () => {
      const { x, y } = await connected(off === 'dialler' ? { pathMtuProbing: false } : {}, off === 'listener' ? { pathMtuProbing: false } : {})
      await exchange(x, y, 4 * MiB, 5)
      for (const conn of [x, y]) {
        expect(conn.packetSize).to.equal(BASE)
        expect(conn.stats.mtuProbes).to.equal(0)
      }
    })
  }

  it('stops at maxPacketSize: 9000 bytes at most, more than 1452', async () => {
    const { x, y } = await connected({ maxPacketSize: 9000 }, { maxPacketSize: 9000 })
    await exchange(x, y, 4 * MiB, 7)
    for (const conn of [x, y]) {
      expect(conn.packetSize).to.be.at.most(9000)
      expect(conn.packetSize).to.be.above(BASE)
    }
  })
})
