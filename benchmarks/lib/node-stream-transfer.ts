/**
 * Moving bytes over a Node.js Duplex (our UtpConnection, utp-native's connection): write a total
 * in repeated chunks honouring backpressure, and count what arrives until the end (through the
 * Readable side, or our connection's data sink).
 */

import { once } from 'node:events'
import { wallClockMs, cpuSeconds } from './clock.ts'
import { gcCounts, gcSince } from './gc-count.ts'
import type { GcCounts } from './gc-count.ts'
import type { UtpConnection } from '../../src/socket/index.ts'
import type { Readable, Writable } from 'node:stream'

export interface SendResult {
  /** wall clock when the first byte was written */
  startMs: number
  /** wall clock when the stream finished */
  finishMs: number
  cpu: number
  gc: GcCounts
}

/** Writes `total` bytes as copies of `chunk`, then ends the stream and waits for 'finish' */
export async function sendAll (stream: Writable, chunk: Uint8Array, total: number): Promise<SendResult> {
  const cpuStart = cpuSeconds()
  const gcStart = gcCounts()
  const startMs = wallClockMs()
  let left = total
  while (left > 0) {
    const piece = left >= chunk.byteLength ? chunk : chunk.subarray(0, left)
    left -= piece.byteLength
    if (!stream.write(piece)) {
      await once(stream, 'drain')
    }
  }
  // registered first: utp-native's readable-stream emits 'finish' synchronously inside end()
  const finished = once(stream, 'finish')
  stream.end()
  await finished
  return { startMs, finishMs: wallClockMs(), cpu: cpuSeconds() - cpuStart, gc: gcSince(gcStart) }
}

export interface ReceiveResult {
  bytes: number
  /** wall clock when the end of the stream was read */
  endMs: number
  /** CPU time from the call to the end */
  cpu: number
  gc: GcCounts
}

/** Counts bytes until the stream ends */
export async function receiveAll (stream: Readable): Promise<ReceiveResult> {
  return countUntilEnd(stream, (add) => {
    stream.on('data', (data: Uint8Array) => { add(data.byteLength) })
  })
}

/** Counts bytes until the stream ends, taking them from our connection's data sink */
export async function receiveAllFromSink (conn: UtpConnection): Promise<ReceiveResult> {
  return countUntilEnd(conn, (add) => {
    conn.setDataSink((chunks) => {
      for (const chunk of chunks) {
        add(chunk.byteLength)
      }
    })
  })
}

/** CPU and byte count from now until `stream` ends; `attach` starts the reading and reports bytes */
async function countUntilEnd (stream: Readable, attach: (add: (bytes: number) => void) => void): Promise<ReceiveResult> {
  const cpuStart = cpuSeconds()
  const gcStart = gcCounts()
  let bytes = 0
  attach((n) => { bytes += n })
  await once(stream, 'end')
  return { bytes, endMs: wallClockMs(), cpu: cpuSeconds() - cpuStart, gc: gcSince(gcStart) }
}
