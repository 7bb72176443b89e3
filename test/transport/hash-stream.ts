/**
 * A byte-exact transfer over a libp2p stream: the sender streams reproducible bytes with
 * backpressure and hashes them, the sink hashes what it reads and answers with its digest.
 */

import { createHash } from 'node:crypto'
import { chunkOf } from '../socket/streams.ts'
import type { Connection, NewStreamOptions, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** reads everything, answers with the byte count and sha256 of what it read, closes */
export const HASH_SINK = '/libp2p-utp/test/hash-sink/1.0.0'

const CHUNK = 64 * 1024

export interface Digest {
  bytes: number
  sha256: string
}

function update (hash: ReturnType<typeof createHash>, chunk: Uint8Array | Uint8ArrayList): number {
  const parts = chunk instanceof Uint8Array ? [chunk] : [...chunk]
  let bytes = 0
  for (const part of parts) {
    hash.update(part)
    bytes += part.byteLength
  }
  return bytes
}

/** Reads the stream to its end, answers with the digest of what it read, and returns it */
export async function answerDigest (stream: Stream): Promise<Digest> {
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of stream) {
    bytes += update(hash, chunk)
  }
  const digest: Digest = { bytes, sha256: hash.digest('hex') }
  stream.send(new TextEncoder().encode(JSON.stringify(digest)))
  await stream.close()
  return digest
}

/**
 * Sends `total` reproducible bytes of `seed` over a new {@link HASH_SINK} stream with
 * backpressure; resolves what was sent and what the sink read
 */
export async function sendHashed (connection: Connection, total: number, seed: number, options: NewStreamOptions = {}): Promise<{ sent: Digest, received: Digest }> {
  const stream = await connection.newStream(HASH_SINK, options)
  const received = readDigest(stream)
  const hash = createHash('sha256')
  let index = 0
  for (let sent = 0; sent < total; sent += CHUNK) {
    const chunk = chunkOf(seed, index++, Math.min(CHUNK, total - sent))
    hash.update(chunk)
    if (!stream.send(chunk)) {
      await stream.onDrain()
    }
  }
  await stream.close()
  return { sent: { bytes: total, sha256: hash.digest('hex') }, received: await received }
}

async function readDigest (stream: Stream): Promise<Digest> {
  const parts: Uint8Array[] = []
  for await (const chunk of stream) {
    parts.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())
  }
  return JSON.parse(new TextDecoder().decode(Buffer.concat(parts)))
}
