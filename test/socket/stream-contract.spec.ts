/**
 * A UtpConnection keeps the promises of a net.Socket that the Duplex contract leaves to the
 * implementation: every write and end() callback runs once, however the connection dies, and a
 * connection nobody reads still ends and closes when the peer does.
 */

import { once } from 'node:events'
import { expect } from 'aegir/chai'
import { connectedPair } from './pair.ts'
import { within } from './wait-for.ts'
import type { Pair } from './pair.ts'

describe('UtpConnection stream contract', function () {
  this.timeout(10_000)
  let pair: Pair | undefined

  afterEach(async () => {
    if (pair != null) {
      await Promise.all([pair.a.close(0), pair.b.close(0)])
      pair = undefined
    }
  })

  it('runs every write and end() callback once when the peer resets with writes waiting', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    x.on('error', () => {})
    y.on('error', () => {})
    // y reads nothing: x's writes back up in the engine, then in the stream behind the one
    // the engine asked to wait after
    const results: Array<string | null> = []
    const chunk = new Uint8Array(16 * 1024)
    let writes = 0
    while (x.write(chunk, (err) => { results.push(err?.name ?? null) })) {
      writes++
    }
    writes++
    for (let i = 0; i < 50; i++, writes++) {
      x.write(chunk, (err) => { results.push(err?.name ?? null) })
    }
    const ended: Array<string | null> = []
    x.end((err?: Error | null) => { ended.push(err?.name ?? null) })
    // not events.once: it rejects on the 'error' that comes first
    const closed = new Promise(resolve => x.once('close', resolve))
    y.destroy(new Error('reset by the test'))
    await within(closed, 5_000, 'x never closed')
    await new Promise(resolve => setImmediate(resolve))
    expect(results).to.have.lengthOf(writes)
    expect(results.filter(r => r !== null)).to.not.have.lengthOf(0)
    expect(ended).to.deep.equal(['ConnectionResetError'])
  })

  it('a connection nobody reads ends and closes when the peer ends, and so does the peer', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    // x: no 'data' listener, no read(), as an idle or write-only application
    const xEnded = once(x, 'end')
    const xClosed = once(x, 'close')
    const yClosed = once(y, 'close')
    y.resume()
    y.end()
    await within(xEnded, 5_000, 'x never ended')
    await within(xClosed, 5_000, 'x never closed')
    await within(yClosed, 5_000, 'y never closed: x never ended its side')
    expect(x.destroyed).to.equal(true)
    expect(y.destroyed).to.equal(true)
  })

  it('a write after end() errors the stream but still delivers what was written before, and the FIN', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    const xError = new Promise<Error>(resolve => x.once('error', resolve))
    const yErrors: Error[] = []
    y.on('error', (err) => { yErrors.push(err) })
    let received = ''
    y.setEncoding('utf8')
    y.on('data', (s: string) => { received += s })
    const yEnded = once(y, 'end')
    x.write('abc')
    x.end('def')
    x.write('zzz')
    expect(await within(xError, 5_000, 'x never errored')).to.have.property('code', 'ERR_STREAM_WRITE_AFTER_END')
    await within(yEnded, 5_000, 'y never ended: the peer was reset')
    expect(received).to.equal('abcdef')
    expect(yErrors).to.deep.equal([])
  })
})
