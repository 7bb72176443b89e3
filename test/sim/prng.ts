/**
 * A small, fast, seeded pseudo random number generator for simulations.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Counting generator,
 * 128 bits of state, period at least 2^32) whose state is filled from the
 * 32-bit seed by splitmix32. The same seed always yields the same sequence on
 * every platform: only 32-bit integer arithmetic is used.
 *
 * Not for cryptography.
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  /**
   * @param seed - any number; it is reduced to an unsigned 32-bit integer (`seed >>> 0`)
   */
  constructor (seed: number) {
    let s = seed >>> 0
    const splitmix32 = (): number => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = splitmix32()
    this.b = splitmix32()
    this.c = splitmix32()
    this.d = splitmix32()
    // discard the first outputs so that close seeds diverge fully
    for (let i = 0; i < 12; i++) {
      this.u32()
    }
  }

  /** Next unsigned 32-bit integer, uniform in [0, 2^32). */
  u32 (): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next (): number {
    return this.u32() / 4294967296
  }

  /**
   * Uniform integer in [0, n) for 0 < n <= 2^32 (returns 0 for n <= 1). The
   * bias for n that is not a power of two is below n / 2^32 and ignored.
   */
  int (n: number): number {
    if (n <= 1) {
      return 0
    }
    return Math.floor(this.next() * n)
  }

  /** A new array of `n` random bytes. */
  bytes (n: number): Uint8Array {
    const buf = new Uint8Array(n)
    this.fill(buf)
    return buf
  }

  /** Overwrite `buf` with random bytes. */
  fill (buf: Uint8Array): void {
    let i = 0
    const whole = buf.length & ~3
    while (i < whole) {
      const r = this.u32()
      buf[i] = r & 0xff
      buf[i + 1] = (r >>> 8) & 0xff
      buf[i + 2] = (r >>> 16) & 0xff
      buf[i + 3] = r >>> 24
      i += 4
    }
    if (i < buf.length) {
      let r = this.u32()
      while (i < buf.length) {
        buf[i++] = r & 0xff
        r >>>= 8
      }
    }
  }

  /**
   * An independent generator seeded from this one (consumes 4 outputs of this
   * generator). Use it to give each component its own stream, so that
   * enabling randomness in one place does not shift the numbers seen by another.
   */
  fork (): Prng {
    const child = new Prng(this.u32())
    child.a ^= this.u32()
    child.b ^= this.u32()
    child.c ^= this.u32()
    // sfc32 needs no particular state; mix once more so the xor is spread out
    for (let i = 0; i < 4; i++) {
      child.u32()
    }
    return child
  }
}
