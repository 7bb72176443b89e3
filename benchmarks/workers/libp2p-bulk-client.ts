/**
 * libp2p bulk transfer, sending side: dials the server, opens one bulk stream and sends the total
 * in 64 KiB messages honouring backpressure, closes its side and waits for the server's one-byte
 * answer. Reports `done` {startMs, cpu}.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { cpuSeconds, wallClockMs } from '../lib/clock.ts'
import { BULK_PROTOCOL, createBenchNode } from '../lib/libp2p-node.ts'
import { makeChunk } from '../lib/payload.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'

interface Args {
  transport: Libp2pTransport
  addr: string
  total: number
  loopbackMtu?: boolean
}

runWorker(async () => {
  const { transport, addr, total, loopbackMtu } = workerArgs<Args>()
  const node = await createBenchNode(transport, loopbackMtu)
  const stream = await node.dialProtocol(multiaddr(addr), BULK_PROTOCOL)
  const answer = (async () => {
    for await (const chunk of stream) {
      if (chunk.byteLength > 0) {
        return
      }
    }
  })()
  const chunk = makeChunk()
  const cpuStart = cpuSeconds()
  const startMs = wallClockMs()
  let left = total
  while (left > 0) {
    const piece = left >= chunk.byteLength ? chunk : chunk.subarray(0, left)
    left -= piece.byteLength
    if (!stream.send(piece)) {
      await stream.onDrain()
    }
  }
  await stream.close()
  await answer
  report({ type: 'done', startMs, finishMs: wallClockMs(), cpu: cpuSeconds() - cpuStart })
  await node.stop()
})
