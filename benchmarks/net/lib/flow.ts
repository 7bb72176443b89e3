/**
 * One bulk flow as the workers run it: the sender writes fresh random bytes for a given time and
 * hashes what it wrote; the receiver hashes what it reads and counts the bytes in short bins of
 * the machine's wall clock, so that the runner can cut any window out of the timeline afterwards
 * and compare the two hashes (byte-exact delivery).
 */

import { createHash, randomFillSync } from 'node:crypto'
import { once } from 'node:events'
import { wallClockMs } from '../../lib/clock.ts'
import { CHUNK_SIZE } from '../../lib/payload.ts'
import type { Readable, Writable } from 'node:stream'

/** Receiver bins, ms: fine enough to re-bin into any 100-250 ms grid aligned to the scenario */
export const BIN_MS = 10

export interface SentFlow {
  startMs: number
  /** when writing stopped (the stream then drains and ends) */
  stopMs: number
  /** when the stream finished (for uTP: everything acknowledged) */
  finishMs: number
  bytes: number
  sha256: string
}

/** Writes fresh random chunks for `durationMs`, honouring backpressure, then ends the stream */
export async function sendFor (stream: Writable, durationMs: number): Promise<SentFlow> {
  const hash = createHash('sha256')
  const startMs = wallClockMs()
  const deadline = startMs + durationMs
  let bytes = 0
  while (wallClockMs() < deadline) {
    // a new buffer each time: a stack may still hold the previous one
    const chunk = randomFillSync(Buffer.allocUnsafe(CHUNK_SIZE))
    hash.update(chunk)
    bytes += chunk.byteLength
    if (!stream.write(chunk)) {
      await once(stream, 'drain')
    }
  }
  const stopMs = wallClockMs()
  // registered first: utp-native's readable-stream emits 'finish' synchronously inside end()
  const finished = once(stream, 'finish')
  stream.end()
  await finished
  return { startMs, stopMs, finishMs: wallClockMs(), bytes, sha256: hash.digest('hex') }
}

export interface ReceivedFlow {
  bytes: number
  /** undefined until the stream has ended */
  sha256?: string
  ended: boolean
  firstByteMs?: number
  lastByteMs?: number
  binMs: number
  /** index of bins[0] on the wall clock: bins[i] covers [(firstBin + i) * binMs, + binMs) */
  firstBin: number
  bins: number[]
}

/** Counts, bins and hashes what arrives; `snapshot()` reports it so far, `done` at the end */
export function receiveBinned (stream: Readable): { done: Promise<ReceivedFlow>, snapshot(): ReceivedFlow } {
  const hash = createHash('sha256')
  const bins: number[] = []
  const flow: ReceivedFlow = { bytes: 0, ended: false, binMs: BIN_MS, firstBin: 0, bins }
  stream.on('data', (data: Uint8Array) => {
    const now = wallClockMs()
    const bin = Math.floor(now / BIN_MS)
    if (flow.firstByteMs == null) {
      flow.firstByteMs = now
      flow.firstBin = bin
    }
    flow.lastByteMs = now
    flow.bytes += data.byteLength
    const index = bin - flow.firstBin
    while (bins.length <= index) {
      bins.push(0)
    }
    bins[index] += data.byteLength
    hash.update(data)
  })
  const done = once(stream, 'end').then(() => {
    flow.ended = true
    flow.sha256 = hash.digest('hex')
    return flow
  })
  return { done, snapshot: () => ({ ...flow, bins: [...bins] }) }
}
