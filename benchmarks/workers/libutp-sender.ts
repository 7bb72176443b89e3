/**
 * libutp raw, sending side: a utp-native socket (4 MiB kernel buffers) dials the receiver and
 * writes the total in 64 KiB writes, then ends. Reports `done` {startMs, cpu}.
 */

import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { sendAll } from '../lib/node-stream-transfer.ts'
import { makeChunk } from '../lib/payload.ts'
import { nativeSocket } from '../lib/utp-native.ts'

interface Args {
  port: number
  total: number
  bufferSize: number
}

runWorker(async () => {
  const { port, total, bufferSize } = workerArgs<Args>()
  const socket = await nativeSocket(bufferSize, false)
  const conn = socket.connect(port, '127.0.0.1')
  const result = await sendAll(conn, makeChunk(), total)
  report({ type: 'done', ...result })
})
