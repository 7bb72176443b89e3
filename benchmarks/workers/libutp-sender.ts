/**
 * libutp raw, sending side: a utp-native socket (4 MiB kernel buffers) dials the receiver and
 * writes the total in 64 KiB writes, then ends. Reports `done` {startMs, cpu}. With
 * `warmupBytes`, it first sends that much the same way over a connection of its own and reports
 * `warmup`.
 */

import { once } from 'node:events'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { sendAll } from '../lib/node-stream-transfer.ts'
import { makeChunk } from '../lib/payload.ts'
import { nativeSocket } from '../lib/utp-native.ts'

interface Args {
  port: number
  total: number
  bufferSize: number
  warmupBytes: number
}

runWorker(async () => {
  const { port, total, bufferSize, warmupBytes } = workerArgs<Args>()
  const socket = await nativeSocket(bufferSize, false)
  const chunk = makeChunk()
  if (warmupBytes > 0) {
    const warm = socket.connect(port, '127.0.0.1')
    const ended = once(warm, 'end')
    warm.resume()
    report({ type: 'warmup', ...await sendAll(warm, chunk, warmupBytes) })
    // utp-native finishes once libutp has taken the bytes, not once they are acknowledged: the
    // timed connection waits until the receiver has read everything and ended its side
    await ended
  }
  report({ type: 'done', ...await sendAll(socket.connect(port, '127.0.0.1'), chunk, total) })
})
