import { randomFillSync } from 'node:crypto'

/** Bytes drawn from the source at a time */
const POOL_BYTES = 256

/**
 * Cryptographically strong random bytes for connection ids, initial sequence numbers and the
 * sequence numbers of RSTs sent to strays, drawn from a buffer that OpenSSL fills
 * {@link POOL_BYTES} at a time. Every dial and every accepted SYN takes some, on the handshake's
 * critical path, and the first call into OpenSSL after the process has been idle took about 20 us
 * here (a warm call: about 1 us). No byte is handed out twice, so a peer that sees some of them
 * (they all go on the wire) learns nothing about the next.
 */
export class RandomPool {
  private readonly pool = new Uint8Array(POOL_BYTES)
  private used = POOL_BYTES
  private readonly source: (buf: Uint8Array) => void

  /** `source` fills a buffer with random bytes (tests pass a predictable one) */
  constructor (source: (buf: Uint8Array) => void = randomFillSync) {
    this.source = source
  }

  /** Fills `buf` with random bytes no other call was given */
  fill (buf: Uint8Array): void {
    if (buf.byteLength >= POOL_BYTES) {
      this.source(buf)
      return
    }
    if (this.used + buf.byteLength > POOL_BYTES) {
      this.source(this.pool)
      this.used = 0
    }
    buf.set(this.pool.subarray(this.used, this.used + buf.byteLength))
    this.used += buf.byteLength
  }
}

/** One pool for the process: a dial-only node's UDP socket closes with its last connection */
export const randomPool = new RandomPool()
