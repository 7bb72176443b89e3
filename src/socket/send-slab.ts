/**
 * A connection gets a slab on its first write of at least this size: one that only sends small
 * messages never holds one. Once it has one, small writes go in too (Noise's 2-byte length
 * prefixes sit between its 64 KiB frames)
 */
export const MIN_SLAB_WRITE = 4 * 1024
/** Writes larger than this get a buffer of their own */
const MAX_SLAB_WRITE = 256 * 1024
/** The first slab of a connection; each next one doubles, up to {@link MAX_SLAB_BYTES} */
const FIRST_SLAB_BYTES = 64 * 1024
const MAX_SLAB_BYTES = 1024 * 1024

/**
 * Copies one connection's writes into slabs, side by side, so the engine can cut packets that
 * span two writes as views (no second copy), and the garbage collector sees one allocation per
 * slab instead of one per write. Only packets and queued writes hold a slab: this keeps it weakly,
 * so a slab whose bytes were all acknowledged is freed even while the connection stays open, and
 * a slow connection pins only slabs of its own data.
 */
export class SendSlab {
  private slab: WeakRef<ArrayBuffer> | undefined
  private used = 0
  private size = FIRST_SLAB_BYTES

  copy (chunk: Uint8Array): Uint8Array {
    const n = chunk.byteLength
    if (n > MAX_SLAB_WRITE) {
      return Buffer.from(chunk)
    }
    let slab = this.slab?.deref()
    if (slab == null || this.used + n > slab.byteLength) {
      // a connection that keeps writing gets bigger slabs; one that went quiet starts small again
      this.size = slab == null ? FIRST_SLAB_BYTES : Math.min(MAX_SLAB_BYTES, this.size * 2)
      slab = new ArrayBuffer(Math.max(this.size, n))
      this.slab = new WeakRef(slab)
      this.used = 0
    }
    // a Buffer, and so are the packets cut from within one write: node:dgram takes those as they are
    const out = Buffer.from(slab, this.used, n)
    out.set(chunk)
    this.used += n
    return out
  }
}
