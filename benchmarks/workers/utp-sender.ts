/**
 * utp raw, sending side: our UtpSocket dials the receiver and writes the total in 64 KiB writes,
 * then ends and waits until the receiver has acknowledged everything. Reports `done` with the
 * timing, CPU and the connection's counters (packet size, retransmissions). With `warmupBytes`,
 * it first sends that much the same way over a connection of its own and reports `warmup`.
 */

import { UtpSocket } from '../../src/socket/index.ts'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { sendAll } from '../lib/node-stream-transfer.ts'
import { makeChunk } from '../lib/payload.ts'

interface Args {
  port: number
  total: number
  packetSize: number
  pathMtuProbing: boolean
  warmupBytes: number
}

runWorker(async () => {
  const { port, total, packetSize, pathMtuProbing, warmupBytes } = workerArgs<Args>()
  const socket = new UtpSocket({ packetSize, pathMtuProbing })
  await socket.bind(0, '127.0.0.1')
  const chunk = makeChunk()
  if (warmupBytes > 0) {
    const warm = await socket.connect(port, '127.0.0.1')
    report({ type: 'warmup', ...await sendAll(warm, chunk, warmupBytes) })
  }
  const conn = await socket.connect(port, '127.0.0.1')
  const result = await sendAll(conn, chunk, total)
  report({ type: 'done', ...result, packetSize, finalPacketSize: conn.packetSize, stats: { ...conn.stats } })
  await socket.close()
})
