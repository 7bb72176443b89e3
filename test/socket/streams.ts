/**
 * Helpers for real-socket tests: write a reproducible byte stream with backpressure and hash it,
 * hash whatever arrives.
 */

import { createHash } from 'node:crypto'
import type { Duplex } from 'node:stream'

/** A reproducible pseudo-random chunk: the same (seed, index) always gives the same bytes */
export function chunkOf (seed: number, index: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  let x = (seed * 0x9e3779b1 + index * 0x85ebca6b) >>> 0
  for (let i = 0; i < size; i += 4) {
    // xorshift32
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out.writeUInt32LE(x, i)
  }
  return out
}

/** The chunks of the `total`-byte stream of `seed`, `chunkSize` bytes each (the last may be shorter) */
function * chunksOf (total: number, seed: number, chunkSize: number): Generator<Buffer> {
  let sent = 0
  let index = 0
  while (sent < total) {
    const chunk = chunkOf(seed, index++, Math.min(chunkSize, total - sent))
    sent += chunk.byteLength
    yield chunk
  }
}

/** Writes `total` bytes (a multiple of 4) with backpressure, ends, resolves the sha256 once 'finish' */
export async function sendStream (stream: Duplex, total: number, seed: number, chunkSize = 64 * 1024): Promise<string> {
  const hash = createHash('sha256')
  for (const chunk of chunksOf(total, seed, chunkSize)) {
    hash.update(chunk)
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = (): void => { stream.off('error', onError); resolve() }
        const onError = (err: Error): void => { stream.off('drain', onDrain); reject(err) }
        stream.once('drain', onDrain)
        stream.once('error', onError)
      })
    }
  }
  await new Promise<void>((resolve, reject) => {
    stream.end(() => { resolve() })
    stream.once('error', reject)
  })
  return hash.digest('hex')
}

/** Reads until the end, resolves the sha256 and the byte count */
export async function receiveStream (stream: Duplex): Promise<{ sha256: string, bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  // keep the stream open when reading ends: our side may still be writing
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
    hash.update(chunk)
    bytes += chunk.byteLength
  }
  return { sha256: hash.digest('hex'), bytes }
}

/** The sha256 of what {@link sendStream} sends */
export function expectedHash (total: number, seed: number, chunkSize = 64 * 1024): string {
  const hash = createHash('sha256')
  for (const chunk of chunksOf(total, seed, chunkSize)) {
    hash.update(chunk)
  }
  return hash.digest('hex')
}
