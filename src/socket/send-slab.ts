/** Bytes of one slab */
const SLAB_BYTES = 1024 * 1024
/** Writes larger than this get a buffer of their own */
const MAX_SLAB_WRITE = 256 * 1024

/**
 * Copies written data into large shared slabs. Consecutive writes to one connection land side by
 * side in memory, so the engine can cut packets that span two writes as views (no second copy),
 * and the garbage collector sees one allocation per megabyte instead of one per write. A slab
 * lives as long as any packet cut from it waits for its acknowledgement.
 */
export class SendSlab {
  private slab: Uint8Array | undefined
  private used = 0

  copy (chunk: Uint8Array): Uint8Array {
    const n = chunk.byteLength
    if (n > MAX_SLAB_WRITE) {
      return Uint8Array.prototype.slice.call(chunk)
    }
    if (this.slab == null || this.used + n > this.slab.byteLength) {
      // not zero-filled: only bytes copied in are ever handed out
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES)
      this.used = 0
    }
    const out = this.slab.subarray(this.used, this.used + n)
    out.set(chunk)
    this.used += n
    return out
  }
}
