/**
 * What the senders write: one 64 KiB chunk of random bytes, written again and again, so that no
 * CPU is spent making data while the transfer is measured.
 */

import { randomFillSync } from 'node:crypto'

export const CHUNK_SIZE = 64 * 1024

/** A fresh chunk of random bytes (callers keep it and write it repeatedly) */
export function makeChunk (size = CHUNK_SIZE): Buffer {
  return randomFillSync(Buffer.allocUnsafe(size))
}
