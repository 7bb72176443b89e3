/**
 * libp2p bulk transfer, sending side: dials the server, opens one bulk stream and sends the total
 * in 64 KiB messages honouring backpressure, closes its side and waits for the server's one-byte
 * answer. Reports `done` {startMs, cpu}. With `warmupBytes`, it first sends that much the same
 * way over a stream of its own on the same connection and reports `warmup`. (Closing the
 * connection in between and dialling again stalled the timed quic transfer in one run of 14.)
 */

import { multiaddr } from '@multiformats/multiaddr'
import { pEvent } from 'p-event'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { cpuSeconds, wallClockMs } from '../lib/clock.ts'
import { gcCounts, gcSince } from '../lib/gc-count.ts'
import { BULK_PROTOCOL, createBenchNode } from '../lib/libp2p-node.ts'
import { makeChunk } from '../lib/payload.ts'
import type { GcCounts } from '../lib/gc-count.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

interface Args {
  transport: Libp2pTransport
  addr: string
  total: number
  loopbackMtu?: boolean
  warmupBytes: number
}

/** Sends `total` bytes over a new bulk stream and waits for the server's answer */
async function sendOverStream (node: Libp2p, addr: Multiaddr, chunk: Uint8Array, total: number): Promise<{ startMs: number, finishMs: number, cpu: number, gc: GcCounts }> {
  const stream = await node.dialProtocol(addr, BULK_PROTOCOL)
  const answer = (async () => {
    for await (const chunk of stream) {
      if (chunk.byteLength > 0) {
        return
      }
    }
  })()
  const cpuStart = cpuSeconds()
  const gcStart = gcCounts()
  const startMs = wallClockMs()
  let left = total
  while (left > 0) {
    const piece = left >= chunk.byteLength ? chunk : chunk.subarray(0, left)
    left -= piece.byteLength
    if (!stream.send(piece)) {
      // the 'drain' event, not onDrain(): @libp2p/utils 7.4 resolves every onDrain() after the
      // first at once, and the rest of the transfer would queue in Yamux
      await pEvent(stream, 'drain', { rejectionEvents: ['close'] })
    }
  }
  await stream.close()
  await answer
  return { startMs, finishMs: wallClockMs(), cpu: cpuSeconds() - cpuStart, gc: gcSince(gcStart) }
}

runWorker(async () => {
  const { transport, addr, total, loopbackMtu, warmupBytes } = workerArgs<Args>()
  const node = await createBenchNode(transport, loopbackMtu)
  const server = multiaddr(addr)
  const chunk = makeChunk()
  if (warmupBytes > 0) {
    report({ type: 'warmup', ...await sendOverStream(node, server, chunk, warmupBytes) })
  }
  report({ type: 'done', ...await sendOverStream(node, server, chunk, total) })
  await node.stop()
})
