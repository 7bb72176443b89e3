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
 * Filled slabs remembered for reuse, at most: 16 MiB of the largest slabs, four times the largest
 * default send buffer. A connection that has sent in bulk and gone quiet keeps this many small
 * records; a larger send buffer only means that some slabs are freed instead of reused.
 */
const MAX_RETIRED = 16

interface Retired {
  slab: WeakRef<ArrayBuffer>
  /** stream offset just past the slab's last byte */
  end: number
}

/**
 * Copies one connection's writes into slabs, side by side, so the engine can cut packets that
 * span two writes as views (no second copy), and the garbage collector sees one allocation per
 * slab instead of one per write. Only packets and queued writes hold a slab: this keeps it weakly,
 * so a slab whose bytes were all acknowledged is freed even while the connection stays open, and
 * a slow connection pins only slabs of its own data.
 *
 * A filled slab whose bytes the peer has all acknowledged, and that the garbage collector has not
 * taken yet, is filled again: fresh memory costs a page fault per 4 KiB on first touch, which made
 * the copy four times dearer than the bytes it moves. Nothing reads an acknowledged packet's bytes
 * again: the engine drops the packet, and a retransmission of it that the kernel still had queued
 * carries a sequence number the peer already has, so the peer drops it unread.
 */
export class SendSlab {
  private slab: WeakRef<ArrayBuffer> | undefined
  private used = 0
  private size = FIRST_SLAB_BYTES
  /** bytes copied so far (slab or not): the offset, in this slab's stream, of the next write */
  private copied = 0
  /** filled slabs, oldest first */
  private readonly retired: Retired[] = []

  /**
   * `unacknowledged`: how many of the bytes written before this chunk the peer has not
   * acknowledged yet (those still queued included)
   */
  copy (chunk: Uint8Array, unacknowledged: number): Uint8Array {
    const n = chunk.byteLength
    const acknowledged = this.copied - unacknowledged
    this.copied += n
    if (n > MAX_SLAB_WRITE) {
      return Buffer.from(chunk)
    }
    let slab = this.slab?.deref()
    if (slab == null || this.used + n > slab.byteLength) {
      if (slab != null) {
        this.retire(slab, this.copied - n)
      }
      // a connection that keeps writing gets bigger slabs; one that went quiet starts small again
      this.size = slab == null ? FIRST_SLAB_BYTES : Math.min(MAX_SLAB_BYTES, this.size * 2)
      const size = Math.max(this.size, n)
      // never read past what is written into it: its old bytes, or none, need no clearing
      slab = this.reusable(acknowledged, size) ?? Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer
      this.slab = new WeakRef(slab)
      this.used = 0
    }
    // a Buffer, and so are the packets cut from within one write: node:dgram takes those as they are
    const out = Buffer.from(slab, this.used, n)
    out.set(chunk)
    this.used += n
    return out
  }

  /** `end`: offset just past the slab's last byte */
  private retire (slab: ArrayBuffer, end: number): void {
    if (this.retired.length === MAX_RETIRED) {
      this.retired.shift()
    }
    this.retired.push({ slab: new WeakRef(slab), end })
  }

  /** The oldest filled slab of at least `size` bytes whose every byte was acknowledged */
  private reusable (acknowledged: number, size: number): ArrayBuffer | undefined {
    while (this.retired.length > 0 && this.retired[0].end <= acknowledged) {
      const slab = (this.retired.shift() as Retired).slab.deref()
      if (slab != null && slab.byteLength >= size) {
        return slab
      }
    }
    return undefined
  }
}
