/**
 * The engine on real UDP sockets over loopback: bulk transfers both ways, many connections on
 * one socket alongside raw datagrams, and dials that leave from the listening port.
 */

import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { UtpSocket } from '../../src/index.ts'
import { expectedHash, receiveStream, sendStream } from './streams.ts'
import type { UtpConnection } from '../../src/index.ts'

const MiB = 1024 * 1024

function report (line: string): void {
  process.stdout.write(`      ${line}\n`)
}

/**
 * Both ends of every transfer here write and read at once, and each ends its own side when it has
 * written everything: that needs half-open streams. With the default (`allowHalfOpen: false`, as
 * `net`), the side whose reading ends first ends its writing too, truncating what it was still
 * sending and leaving its writer waiting for a 'drain' that never comes (seen under load, when one
 * direction finishes well before the other).
 */
const HALF_OPEN = { connection: { allowHalfOpen: true } }

async function pair (type: 'udp4' | 'udp6'): Promise<{ a: UtpSocket, b: UtpSocket, host: string }> {
  const host = type === 'udp4' ? '127.0.0.1' : '::1'
  const a = new UtpSocket({ type, ...HALF_OPEN })
  const b = new UtpSocket({ type, ...HALF_OPEN })
  await a.bind(0, host)
  await b.bind(0, host)
  b.listen()
  return { a, b, host }
}

async function exchange (x: UtpConnection, y: UtpConnection, size: number, seedX: number, seedY: number): Promise<void> {
  const [sentX, gotY, sentY, gotX] = await Promise.all([
    sendStream(x, size, seedX),
    receiveStream(y),
    sendStream(y, size, seedY),
    receiveStream(x)
  ])
  expect(gotY.bytes).to.equal(size)
  expect(gotX.bytes).to.equal(size)
  expect(gotY.sha256).to.equal(sentX)
  expect(gotX.sha256).to.equal(sentY)
}

/**
 * Raw (non-uTP) datagrams between two uTP sockets' ports: `from` sends "ping i" and `to` answers
 * "pong i". UDP may drop either, so an unanswered ping is sent again every 20 ms, as any
 * datagram protocol would; resolves the pongs in order.
 */
async function rawPingPong (from: UtpSocket, to: UtpSocket, host: string, count: number): Promise<string[]> {
  const onPing = (msg: Buffer, rinfo: { port: number }): void => {
    void to.send(Buffer.from(String(msg).replace('ping', 'pong')), rinfo.port, host)
  }
  to.on('message', onPing)
  const pongs: string[] = []
  try {
    for (let i = 0; i < count; i++) {
      const pong = pEvent(from, 'message', { filter: (msg: unknown) => String(msg) === `pong ${i}` })
      const resend = setInterval(() => { void from.send(Buffer.from(`ping ${i}`), to.address().port, host) }, 20)
      await from.send(Buffer.from(`ping ${i}`), to.address().port, host)
      try {
        pongs.push(String(await pong))
      } finally {
        clearInterval(resend)
      }
    }
  } finally {
    to.off('message', onPing)
  }
  return pongs
}

describe('UtpSocket on loopback', function () {
  this.timeout(120_000)

  for (const type of ['udp4', 'udp6'] as const) {
    it(`moves 64 MiB each way at once over one connection, sha256-verified (${type})`, async () => {
      const { a, b, host } = await pair(type)
      try {
        const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
        const start = performance.now()
        const x = await a.connect(b.address().port, host)
        const y = await accepted
        await exchange(x, y, 64 * MiB, 1, 2)
        const seconds = (performance.now() - start) / 1000
        report(`${type}: ${(128 * MiB / seconds / 1e6).toFixed(1)} MB/s both directions together (${seconds.toFixed(2)} s), retransmits ${x.stats.retransmits}/${y.stats.retransmits}, timeouts ${x.stats.timeouts}/${y.stats.timeouts}`)
      } finally {
        await a.close()
        await b.close()
      }
    })
  }

  it('carries 200 concurrent connections of 256 KiB each way through one listening socket, which also dials out and passes raw datagrams', async () => {
    const { a, b, host } = await pair('udp4')
    // a third socket that the listening one dials while serving
    const c = new UtpSocket(HALF_OPEN)
    await c.bind(0, host)
    c.listen()
    const clients: UtpSocket[] = []
    try {
      const size = 256 * 1024
      const count = 200
      const served: Array<Promise<void>> = []
      b.on('connection', (conn) => {
        served.push((async () => {
          const [sent, got] = await Promise.all([sendStream(conn, size, 1000 + conn.remotePort), receiveStream(conn)])
          expect(sent).to.equal(expectedHash(size, 1000 + conn.remotePort))
          expect(got.bytes).to.equal(size)
        })())
      })

      const dials = Array.from({ length: count }, async (_, i) => {
        // each client on its own socket, so each has its own port (and expected stream)
        const s = new UtpSocket(HALF_OPEN)
        clients.push(s)
        await s.bind(0, host)
        const conn = await s.connect(b.address().port, host)
        const port = s.address().port
        const [sent, got] = await Promise.all([sendStream(conn, size, 5000 + i), receiveStream(conn)])
        expect(got.bytes).to.equal(size)
        expect(got.sha256).to.equal(expectedHash(size, 1000 + port))
        return sent
      })
      // meanwhile the listening socket dials out, and plays ping-pong with raw datagrams
      const outward = (async () => {
        const accepted = pEvent<'connection', UtpConnection>(c, 'connection')
        const x = await b.connect(c.address().port, host)
        const y = await accepted
        await exchange(x, y, MiB, 7, 8)
      })()
      const pongs = rawPingPong(b, c, host, 20)
      const sentHashes = await Promise.all(dials)
      await outward
      await Promise.all(served)
      expect(served).to.have.lengthOf(count)
      expect(sentHashes).to.have.lengthOf(count)
      expect(await pongs).to.deep.equal(Array.from({ length: 20 }, (_, i) => `pong ${i}`))
    } finally {
      await Promise.all(clients.map(async s => { await s.close() }))
      await a.close()
      await b.close()
      await c.close()
    }
  })

  it('dials from the listening port: the peer sees that port', async () => {
    const { a, b, host } = await pair('udp4')
    try {
      a.listen()
      const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
      const x = await a.connect(b.address().port, host)
      const y = await accepted
      expect(y.remotePort).to.equal(a.address().port)
      expect(x.remotePort).to.equal(b.address().port)
      await exchange(x, y, 64 * 1024, 3, 4)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('an answer written in the data handler carries the ACK of the request: no separate ST_STATE per request', async () => {
    const host = '127.0.0.1'
    const a = new UtpSocket()
    const b = new UtpSocket()
    await a.bind(0, host)
    await b.bind(0, host)
    b.listen()
    try {
      const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
      const x = await a.connect(b.address().port, host)
      const y = await accepted
      // each request is two 1-byte packets, sent a turn apart: the second makes an ACK due at the
      // server, which answers once it has both
      let pending = 0
      y.on('data', (chunk: Buffer) => {
        pending += chunk.byteLength
        if (pending === 2) {
          pending = 0
          y.write('ok')
        }
      })
      const rounds = 50
      const acksBefore = y.stats.acksSent
      for (let i = 0; i < rounds; i++) {
        const answer = pEvent(x, 'data')
        x.write('a')
        await new Promise((resolve) => { setImmediate(resolve) })
        x.write('b')
        expect(String(await answer)).to.equal('ok')
      }
      const pureAcks = y.stats.acksSent - acksBefore
      report(`${rounds} two-packet requests: ${pureAcks} pure ACKs from the answering side`)
      // delivering before sending lets the answer carry the ACK; sending first costs one per request
      expect(pureAcks).to.be.below(rounds / 5)
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('keeps throughput with the kernel default UDP buffers: losses are repaired without timeouts piling up', async () => {
    const host = '127.0.0.1'
    const small = 212_992
    // one way only: y ends its side when x's data ends (not half-open), which ends x's reading
    const a = new UtpSocket({ udpBufferSize: small })
    const b = new UtpSocket({ udpBufferSize: small })
    await a.bind(0, host)
    await b.bind(0, host)
    b.listen()
    try {
      const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
      const start = performance.now()
      const x = await a.connect(b.address().port, host)
      const y = await accepted
      const size = 32 * MiB
      const [sent, got] = await Promise.all([sendStream(x, size, 9), receiveStream(y), receiveStream(x)])
      const seconds = (performance.now() - start) / 1000
      expect(got.sha256).to.equal(sent)
      report(`default buffers: ${(size / seconds / 1e6).toFixed(1)} MB/s one way, retransmits ${x.stats.retransmits}, timeouts ${x.stats.timeouts}, window cuts ${x.stats.windowCuts}`)
      // libutp waits out 1 s timeouts after every burst of drops; this engine must repair drops
      // from selective ACKs: a handful of timeouts at most over 32 MiB
      expect(x.stats.timeouts).to.be.at.most(3)
    } finally {
      await a.close()
      await b.close()
    }
  })
})
