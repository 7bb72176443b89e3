/** The chunk list of every empty queue: frozen, so a write to it throws */
const NO_CHUNKS: Uint8Array[] = Object.freeze([]) as unknown as Uint8Array[]

/**
 * A FIFO of byte chunks that hands out slices of a given size. Slicing within one chunk returns a
 * view (no copy); only a slice that spans chunks is copied.
 */
export class ByteQueue {
  /** {@link NO_CHUNKS} while empty: an idle connection holds no array of its own */
  private chunks: Uint8Array[] = NO_CHUNKS
  private head = 0
  /** bytes already taken from `chunks[head]` */
  private offset = 0
  private bytes = 0

  get length (): number {
    return this.bytes
  }

  push (chunk: Uint8Array): void {
    if (chunk.byteLength === 0) {
      return
    }
    if (this.chunks === NO_CHUNKS) {
      this.chunks = []
    }
    this.chunks.push(chunk)
    this.bytes += chunk.byteLength
  }

  /**
   * Removes and returns up to `max` bytes. A slice within one chunk, or across chunks that lie
   * side by side in one buffer, is a view; any other slice across chunks is a copy.
   */
  take (max: number): Uint8Array {
    const n = Math.min(max, this.bytes)
    const first = this.chunks[this.head]
    const left = first.byteLength - this.offset
    if (n <= left) {
      const out = first.subarray(this.offset, this.offset + n)
      this.advance(n)
      return out
    }
    if (this.adjacentBytes(n) >= n) {
      const out = new Uint8Array(first.buffer, first.byteOffset + this.offset, n)
      this.skip(n)
      return out
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[this.head]
      const take = Math.min(n - filled, chunk.byteLength - this.offset)
      out.set(chunk.subarray(this.offset, this.offset + take), filled)
      filled += take
      this.advance(take)
    }
    return out
  }

  /** Removes and returns the next chunk (or what is left of it), at most `max` bytes */
  shift (max = Infinity): Uint8Array | undefined {
    if (this.bytes === 0) {
      return undefined
    }
    const first = this.chunks[this.head]
    const n = Math.min(max, first.byteLength - this.offset)
    const out = first.subarray(this.offset, this.offset + n)
    this.advance(n)
    return out
  }

  clear (): void {
    this.chunks = NO_CHUNKS
    this.head = 0
    this.offset = 0
    this.bytes = 0
  }

  /** Bytes from the read position that are contiguous in memory, counting until `enough` */
  private adjacentBytes (enough: number): number {
    const first = this.chunks[this.head]
    let bytes = first.byteLength - this.offset
    let end = first.byteOffset + first.byteLength
    for (let i = this.head + 1; bytes < enough && i < this.chunks.length; i++) {
      const next = this.chunks[i]
      if (next.buffer !== first.buffer || next.byteOffset !== end) {
        break
      }
      bytes += next.byteLength
      end += next.byteLength
    }
    return bytes
  }

  private skip (n: number): void {
    while (n > 0) {
      const step = Math.min(n, this.chunks[this.head].byteLength - this.offset)
      this.advance(step)
      n -= step
    }
  }

  private advance (n: number): void {
    this.bytes -= n
    this.offset += n
    if (this.offset === this.chunks[this.head].byteLength) {
      this.offset = 0
      this.head++
      if (this.head === this.chunks.length) {
        this.chunks = NO_CHUNKS
        this.head = 0
      } else if (this.head > 1024) {
        // drop consumed slots now and then so the array does not grow without bound
        this.chunks = this.chunks.slice(this.head)
        this.head = 0
      }
    }
  }
}
