/**
 * The send queue's slicing: a slice within one chunk, or across chunks that lie side by side in
 * one buffer, is a view of the written memory; any other slice is a copy. And the socket's send
 * slab, which makes consecutive writes lie side by side. A view is told from a copy by its
 * `.buffer`.
 */

import { expect } from 'aegir/chai'
import { ByteQueue } from '../../src/engine/byte-queue.ts'
import { SendSlab } from '../../src/socket/send-slab.ts'
import { Prng } from '../sim/prng.ts'
import { concatBytes, streamBytes } from './helpers.ts'

const KiB = 1024
const MiB = 1024 * KiB
/** `unacknowledged` for a peer that has acknowledged nothing yet: no slab is ever free again */
const NONE_ACKED = Number.POSITIVE_INFINITY

/** Default seed of the randomised test; BYTE_QUEUE_SEED=<n> explores another */
const SEED = ((): number => {
  const env = process.env.BYTE_QUEUE_SEED
  return env == null || env === '' ? 0xb17e_0001 : Number.parseInt(env, 10) >>> 0
})()

function queueOf (...chunks: Uint8Array[]): ByteQueue {
  const q = new ByteQueue()
  for (const c of chunks) {
    q.push(c)
  }
  return q
}

describe('ByteQueue.take', () => {
  const memory = streamBytes(1, 1000)

  it('returns a view for a slice within one chunk', () => {
    const q = queueOf(memory.subarray(100, 400))
    const out = q.take(50)
    expect(out.buffer).to.equal(memory.buffer)
    expect(out.byteOffset).to.equal(memory.byteOffset + 100)
    expect(Array.from(out)).to.deep.equal(Array.from(memory.subarray(100, 150)))
    expect(q.length).to.equal(250)
  })

  it('returns a view for a slice across chunks that lie side by side in one buffer', () => {
    const q = queueOf(memory.subarray(0, 100), memory.subarray(100, 250), memory.subarray(250, 300))
    const out = q.take(280)
    expect(out.buffer).to.equal(memory.buffer)
    expect(out.byteOffset).to.equal(memory.byteOffset)
    expect(out.byteLength).to.equal(280)
    expect(Array.from(out)).to.deep.equal(Array.from(memory.subarray(0, 280)))
    // the rest is the tail of the third chunk, still a view
    expect(q.length).to.equal(20)
    const rest = q.take(100)
    expect(rest.buffer).to.equal(memory.buffer)
    expect(rest.byteOffset).to.equal(memory.byteOffset + 280)
    expect(Array.from(rest)).to.deep.equal(Array.from(memory.subarray(280, 300)))
    expect(q.length).to.equal(0)
  })

  it('starts the view where the last slice left off inside the first chunk', () => {
    const q = queueOf(memory.subarray(0, 100), memory.subarray(100, 200))
    expect(q.take(30).byteOffset).to.equal(memory.byteOffset)
    const out = q.take(120)
    expect(out.buffer).to.equal(memory.buffer)
    expect(out.byteOffset).to.equal(memory.byteOffset + 30)
    expect(Array.from(out)).to.deep.equal(Array.from(memory.subarray(30, 150)))
    expect(Array.from(q.take(1000))).to.deep.equal(Array.from(memory.subarray(150, 200)))
  })

  it('copies a slice across chunks with a gap between them', () => {
    const q = queueOf(memory.subarray(0, 100), memory.subarray(101, 200))
    const out = q.take(150)
    expect(out.buffer).to.not.equal(memory.buffer)
    expect(Array.from(out)).to.deep.equal([...memory.subarray(0, 100), ...memory.subarray(101, 151)])
  })

  it('copies a slice across chunks of different buffers', () => {
    const other = streamBytes(2, 100)
    const q = queueOf(memory.subarray(0, 100), other)
    const out = q.take(150)
    expect(out.buffer).to.not.equal(memory.buffer)
    expect(out.buffer).to.not.equal(other.buffer)
    expect(Array.from(out)).to.deep.equal([...memory.subarray(0, 100), ...other.subarray(0, 50)])
  })

  it('copies a slice across chunks of one buffer pushed out of memory order', () => {
    const q = queueOf(memory.subarray(100, 200), memory.subarray(0, 100))
    const out = q.take(200)
    expect(out.buffer).to.not.equal(memory.buffer)
    expect(Array.from(out)).to.deep.equal([...memory.subarray(100, 200), ...memory.subarray(0, 100)])
  })

  it('views as far as chunks are adjacent and copies a slice that goes past them', () => {
    const other = streamBytes(3, 100)
    const chunks = [memory.subarray(0, 100), memory.subarray(100, 200), other]
    // within the adjacent pair: a view
    const viewed = queueOf(...chunks).take(200)
    expect(viewed.buffer).to.equal(memory.buffer)
    // beyond it: a copy of all three
    const copied = queueOf(...chunks).take(250)
    expect(copied.buffer).to.not.equal(memory.buffer)
    expect(Array.from(copied)).to.deep.equal([...memory.subarray(0, 200), ...other.subarray(0, 50)])
  })

  it('keeps shift() working after view slices', () => {
    const q = queueOf(memory.subarray(0, 100), memory.subarray(100, 200), memory.subarray(200, 300))
    expect(q.take(150).byteLength).to.equal(150)
    const next = q.shift()
    expect(next?.byteOffset).to.equal(memory.byteOffset + 150)
    expect(next?.byteLength).to.equal(50)
    expect(q.shift(10)?.byteOffset).to.equal(memory.byteOffset + 200)
    expect(q.length).to.equal(90)
  })

  it('hands out exactly the pushed bytes for random layouts and slice sizes, viewing whenever the slice is contiguous', () => {
    const note = ` (seed ${SEED}; rerun with BYTE_QUEUE_SEED=${SEED})`
    const rng = new Prng(SEED)
    /** contiguous slices that spanned more than one chunk, and slices that could not be views */
    let joinedViews = 0
    let copies = 0
    for (let round = 0; round < 200; round++) {
      const buffers = [streamBytes(SEED + round, 4096), streamBytes(SEED + round + 7, 4096)]
      const q = new ByteQueue()
      const pushed: Uint8Array[] = []
      // chunks in sequence, with a random gap or buffer switch now and then
      const at = [0, 0]
      let which = 0
      for (let i = 0; i < 12; i++) {
        if (rng.int(4) === 0) {
          which = 1 - which
        }
        if (rng.int(4) === 0) {
          at[which] += 1 + rng.int(8)
        }
        const len = rng.int(200)
        if (at[which] + len > 4096) {
          break
        }
        const chunk = buffers[which].subarray(at[which], at[which] + len)
        at[which] += len
        q.push(chunk)
        pushed.push(chunk)
      }
      const expected = concatBytes(pushed)
      // where each byte of the stream lives: [buffer index, offset]
      const home: Array<[number, number]> = []
      for (const chunk of pushed) {
        const b = chunk.buffer === buffers[0].buffer ? 0 : 1
        for (let i = 0; i < chunk.byteLength; i++) {
          home.push([b, chunk.byteOffset - buffers[b].byteOffset + i])
        }
      }
      let taken = 0
      while (q.length > 0) {
        const out = q.take(1 + rng.int(300))
        const where = `round ${round}, bytes ${taken}..${taken + out.byteLength}${note}`
        expect(Array.from(out), where).to.deep.equal(Array.from(expected.subarray(taken, taken + out.byteLength)))
        // contiguous in one buffer: it must be a view; otherwise it cannot be
        let contiguous = true
        for (let i = 1; i < out.byteLength; i++) {
          const [b0, o0] = home[taken + i - 1]
          const [b1, o1] = home[taken + i]
          contiguous &&= b0 === b1 && o1 === o0 + 1
        }
        const [b, o] = home[taken]
        const start = buffers[b].byteOffset + o
        const spansChunks = !pushed.some(c => c.buffer === buffers[b].buffer && c.byteOffset <= start && start + out.byteLength <= c.byteOffset + c.byteLength)
        if (contiguous && spansChunks) {
          joinedViews++
        } else if (!contiguous) {
          copies++
        }
        if (contiguous) {
          expect(out.buffer, `view expected, ${where}`).to.equal(buffers[b].buffer)
          expect(out.byteOffset, where).to.equal(buffers[b].byteOffset + o)
        } else {
          expect(out.buffer === buffers[0].buffer || out.buffer === buffers[1].buffer, `copy expected, ${where}`).to.equal(false)
        }
        taken += out.byteLength
      }
      expect(taken, `round ${round}${note}`).to.equal(expected.byteLength)
    }
    // both kinds of slices across chunks happened
    expect(joinedViews, `views across chunks${note}`).to.be.above(50)
    expect(copies, `copies${note}`).to.be.above(50)
  })
})

describe('SendSlab', () => {
  it('copies consecutive writes side by side into one slab', () => {
    const slab = new SendSlab()
    const a = streamBytes(11, 5000)
    const b = streamBytes(12, 7000)
    const ca = slab.copy(a, NONE_ACKED)
    const cb = slab.copy(b, NONE_ACKED)
    expect(cb.buffer).to.equal(ca.buffer)
    expect(cb.byteOffset).to.equal(ca.byteOffset + ca.byteLength)
    expect(ca.buffer).to.not.equal(a.buffer)
    expect(Array.from(ca)).to.deep.equal(Array.from(a))
    expect(Array.from(cb)).to.deep.equal(Array.from(b))
    // copies: the writer may reuse its buffers at once
    a.fill(0)
    expect(ca[0]).to.equal(streamBytes(11, 1)[0])
  })

  it('puts small writes in the slab too, side by side with the large ones (Noise length prefixes between frames)', () => {
    const slab = new SendSlab()
    const prefix = slab.copy(streamBytes(13, 2), NONE_ACKED)
    const frame = slab.copy(streamBytes(14, 60 * KiB), NONE_ACKED)
    const next = slab.copy(streamBytes(15, 2), NONE_ACKED)
    expect(frame.buffer).to.equal(prefix.buffer)
    expect(frame.byteOffset).to.equal(prefix.byteOffset + 2)
    expect(next.byteOffset).to.equal(frame.byteOffset + frame.byteLength)
    const q = new ByteQueue()
    q.push(prefix)
    q.push(frame)
    q.push(next)
    const packet = q.take(60 * KiB)
    expect(packet.buffer).to.equal(prefix.buffer)
    expect(Array.from(packet.subarray(0, 2))).to.deep.equal(Array.from(streamBytes(13, 2)))
  })

  it('lets the send queue cut packets across writes without copying', () => {
    const slab = new SendSlab()
    const q = new ByteQueue()
    const writes = [5000, 7000, 4100, 9000, 6000].map((n, i) => streamBytes(20 + i, n))
    for (const w of writes) {
      q.push(slab.copy(w, NONE_ACKED))
    }
    const first = q.take(4500)
    // straddles the first two writes
    const second = q.take(1426)
    expect(second.buffer).to.equal(first.buffer)
    expect(second.byteOffset).to.equal(first.byteOffset + 4500)
    expect(Array.from(concatBytes([first, second, q.take(Infinity)]))).to.deep.equal(Array.from(concatBytes(writes)))
  })

  it('gives a write larger than 256 KiB a buffer of its own, and goes on filling the slab after it', () => {
    const slab = new SendSlab()
    const small = slab.copy(streamBytes(31, 5000), NONE_ACKED)
    const bigSource = streamBytes(32, 256 * KiB + 1)
    const big = slab.copy(bigSource, NONE_ACKED)
    expect(big.buffer).to.not.equal(small.buffer)
    expect(big.buffer).to.not.equal(bigSource.buffer)
    expect(big.byteLength).to.equal(bigSource.byteLength)
    expect(big.byteOffset).to.equal(0)
    expect(big.buffer.byteLength).to.equal(bigSource.byteLength)
    expect(Array.from(big.subarray(-16))).to.deep.equal(Array.from(bigSource.subarray(-16)))
    const next = slab.copy(streamBytes(33, 5000), NONE_ACKED)
    expect(next.buffer).to.equal(small.buffer)
    expect(next.byteOffset).to.equal(small.byteOffset + 5000)
    // a slab neighbour that is not next in the queue is not joined to it: big lies between them
    const q = new ByteQueue()
    q.push(small)
    q.push(big)
    q.push(next)
    const all = q.take(Infinity)
    expect(Array.from(all.subarray(0, 5000))).to.deep.equal(Array.from(streamBytes(31, 5000)))
    expect(Array.from(all.subarray(-5000))).to.deep.equal(Array.from(streamBytes(33, 5000)))
  })

  it('starts with a 64 KiB slab and doubles each next one up to 1 MiB; a write is never split across two', () => {
    const slab = new SendSlab()
    const sizes: number[] = []
    let previous: ArrayBufferLike | undefined
    const kept: Uint8Array[] = []
    for (let i = 0; i < 40; i++) {
      const copy = slab.copy(streamBytes(40 + i, 60 * KiB), NONE_ACKED)
      kept.push(copy)
      expect(copy.byteLength).to.equal(60 * KiB)
      expect(copy.byteOffset + copy.byteLength).to.be.at.most(copy.buffer.byteLength)
      if (copy.buffer !== previous) {
        sizes.push(copy.buffer.byteLength)
        previous = copy.buffer
      }
    }
    expect(sizes.slice(0, 6)).to.deep.equal([64 * KiB, 128 * KiB, 256 * KiB, 512 * KiB, 1024 * KiB, 1024 * KiB])
    expect(Array.from(kept[39])).to.deep.equal(Array.from(streamBytes(79, 60 * KiB)))
  })

  it('gives each connection its own slabs: two connections never share a buffer', () => {
    const sx = new SendSlab()
    const sy = new SendSlab()
    const x = new ByteQueue()
    const y = new ByteQueue()
    const xs: Uint8Array[] = []
    const ys: Uint8Array[] = []
    for (let i = 0; i < 20; i++) {
      const wx = streamBytes(100 + i, 5000)
      const wy = streamBytes(200 + i, 5000)
      const cx = sx.copy(wx, NONE_ACKED)
      const cy = sy.copy(wy, NONE_ACKED)
      expect(cx.buffer).to.not.equal(cy.buffer)
      x.push(cx)
      y.push(cy)
      xs.push(wx)
      ys.push(wy)
    }
    expect(Array.from(x.take(Infinity))).to.deep.equal(Array.from(concatBytes(xs)))
    expect(Array.from(y.take(Infinity))).to.deep.equal(Array.from(concatBytes(ys)))
  })
  it('fills a slab again once the peer has acknowledged every byte of it, and not one byte sooner', () => {
    const slab = new SendSlab()
    let written = 0
    let acknowledged = 0
    let seed = 300
    const write = (): Uint8Array => {
      const copy = slab.copy(streamBytes(seed++, 60 * KiB), written - acknowledged)
      written += 60 * KiB
      return copy
    }
    // grow to the largest slabs with nothing acknowledged: 64, 128, 256, 512 KiB, then 1 MiB ones
    const buffers: ArrayBufferLike[] = []
    const starts: number[] = []
    while (buffers.length < 6) {
      const copy = write()
      if (copy.buffer !== buffers.at(-1)) {
        buffers.push(copy.buffer)
        starts.push(written - 60 * KiB)
      }
    }
    const [firstBig, secondBig] = buffers.slice(4)
    expect(firstBig.byteLength).to.equal(MiB)
    expect(secondBig.byteLength).to.equal(MiB)
    // all but the last byte of the first 1 MiB slab acknowledged: the next slab is a new one
    acknowledged = starts[5] - 1
    let copy: Uint8Array
    do {
      copy = write()
    } while (copy.buffer === secondBig)
    const third = copy.buffer
    expect(third).to.not.equal(firstBig)
    expect(third.byteLength).to.equal(MiB)
    // every byte of it acknowledged: the slab after the third is the first 1 MiB one again
    acknowledged = starts[5]
    do {
      copy = write()
    } while (copy.buffer === third)
    expect(copy.buffer).to.equal(firstBig)
    expect(copy.byteOffset).to.equal(0)
    expect(Array.from(copy)).to.deep.equal(Array.from(streamBytes(seed - 1, 60 * KiB)))
    const next = write()
    expect(next.buffer).to.equal(firstBig)
    expect(next.byteOffset).to.equal(60 * KiB)
    expect(Array.from(next)).to.deep.equal(Array.from(streamBytes(seed - 1, 60 * KiB)))
  })
})
