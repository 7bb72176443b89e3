import { randomFillSync } from 'node:crypto'

/** Bytes drawn from OpenSSL at a time */
const POOL_BYTES = 256

/**
 * Cryptographically strong random bytes for connection ids and initial sequence numbers, drawn
 * from a buffer that OpenSSL fills {@link POOL_BYTES} at a time. Every dial and every accepted
 * SYN takes some, on the handshake's critical path, and the first call into OpenSSL after the
 * process has been idle took about 20 us here (a warm call: about 1 us).
 */
export class RandomPool {
  private readonly pool = new Uint8Array(POOL_BYTES)
  private used = POOL_BYTES

  /** Fills `buf` with random bytes no other call was given */
  fill (buf: Uint8Array): void {
    if (buf.byteLength > POOL_BYTES) {
      randomFillSync(buf)
      return
    }
    if (this.used + buf.byteLength > POOL_BYTES) {
      randomFillSync(this.pool)
      this.used = 0
    }
    buf.set(this.pool.subarray(this.used, this.used + buf.byteLength))
    this.used += buf.byteLength
  }
}
