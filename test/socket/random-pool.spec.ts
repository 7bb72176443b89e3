/**
 * The random pool hands out each of OpenSSL's bytes once, refills when it runs out, and serves a
 * request larger than itself straight from OpenSSL.
 */

import { expect } from 'aegir/chai'
import { RandomPool } from '../../src/socket/random-pool.ts'

describe('RandomPool', () => {
  it('gives two-byte draws that do not repeat beyond chance, across many refills', () => {
    const pool = new RandomPool()
    const seen = new Set<number>()
    const draws = 2_000
    const buf = new Uint8Array(2)
    for (let i = 0; i < draws; i++) {
      pool.fill(buf)
      seen.add((buf[0] << 8) | buf[1])
    }
    // 2,000 uniform draws from 65,536 values repeat about 30 times; a pool that handed its bytes
    // out again, or never refilled, repeats hundreds or thousands of times
    expect(seen.size).to.be.greaterThan(draws - 200)
  })

  it('hands out consecutive bytes without overlap within one fill', () => {
    const pool = new RandomPool()
    const whole = new Uint8Array(256)
    pool.fill(whole.subarray(0, 100))
    pool.fill(whole.subarray(100, 200))
    const tail = new Uint8Array(56)
    pool.fill(tail)
    whole.set(tail, 200)
    // 256 bytes from one fill: were any draw given the same bytes twice, its slices would match
    expect(Buffer.from(whole.subarray(0, 56)).equals(Buffer.from(whole.subarray(200, 256)))).to.equal(false)
    expect(Buffer.from(whole.subarray(0, 100)).equals(Buffer.from(whole.subarray(100, 200)))).to.equal(false)
  })

  it('fills a request larger than the pool', () => {
    const pool = new RandomPool()
    const big = new Uint8Array(4096)
    pool.fill(big)
    // all zero (never written) has probability 2^-32768
    expect(big.some(b => b !== 0)).to.equal(true)
    const counts = new Set(big)
    expect(counts.size).to.be.greaterThan(200)
  })
})
