/**
 * The random pool hands out each byte of its source once, in order, refills when a draw would run
 * past its end (dropping the few bytes left), and passes a request as large as itself straight
 * to the source. A counting source makes every byte's origin visible.
 */

import { expect } from 'aegir/chai'
import { RandomPool, randomPool } from '../../src/socket/random-pool.ts'

const POOL_BYTES = 256

type Source = (buf: Uint8Array) => void

/** A source that writes 0, 1, 2... across calls (mod 256 per byte) and records each call's size */
function countingSource (): { source: Source, calls: number[] } {
  const calls: number[] = []
  let next = 0
  return {
    calls,
    source: (buf) => {
      calls.push(buf.byteLength)
      for (let i = 0; i < buf.byteLength; i++) {
        buf[i] = (next++) & 0xff
      }
    }
  }
}

function drawn (pool: RandomPool, size: number): number[] {
  const buf = new Uint8Array(size)
  pool.fill(buf)
  return [...buf]
}

function range (from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (from + i) & 0xff)
}

describe('RandomPool', () => {
  it('hands out one fill of the source in order, each byte once', () => {
    const { source, calls } = countingSource()
    const pool = new RandomPool(source)
    expect(drawn(pool, 100)).to.deep.equal(range(0, 100))
    expect(drawn(pool, 100)).to.deep.equal(range(100, 100))
    expect(drawn(pool, 56)).to.deep.equal(range(200, 56))
    expect(calls).to.deep.equal([POOL_BYTES])
  })

  it('refills before a draw that would run past the end, never handing out old or stale bytes', () => {
    const { source, calls } = countingSource()
    const pool = new RandomPool(source)
    expect(drawn(pool, 255)).to.deep.equal(range(0, 255))
    // one byte is left: a two-byte draw takes the first two of the next fill
    expect(drawn(pool, 2)).to.deep.equal(range(256, 2))
    expect(calls).to.deep.equal([POOL_BYTES, POOL_BYTES])
  })

  it('passes a request as large as the pool to the source, leaving the pool as it was', () => {
    const { source, calls } = countingSource()
    const pool = new RandomPool(source)
    expect(drawn(pool, 2)).to.deep.equal(range(0, 2))
    expect(drawn(pool, POOL_BYTES)).to.deep.equal(range(POOL_BYTES, POOL_BYTES))
    expect(drawn(pool, 2)).to.deep.equal(range(2, 2))
    expect(calls).to.deep.equal([POOL_BYTES, POOL_BYTES])
  })

  it('draws from OpenSSL by default: two-byte draws do not repeat beyond chance', () => {
    const seen = new Set<number>()
    const draws = 2_000
    for (let i = 0; i < draws; i++) {
      const [high, low] = drawn(randomPool, 2)
      seen.add((high << 8) | low)
    }
    // 2,000 uniform draws from 65,536 values repeat about 30 times; a pool that handed its bytes
    // out again, or never refilled, repeats hundreds or thousands of times
    expect(seen.size).to.be.greaterThan(draws - 200)
  })
})
