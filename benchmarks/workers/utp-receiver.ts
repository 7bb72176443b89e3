/**
 * utp raw, receiving side: our UtpSocket listening on 127.0.0.1, one connection read to its end
 * through its data sink (packet payloads as they arrived, no joining copy: the way the libp2p
 * transport reads). Reports `ready` {port}, then `result` {bytes, endMs, cpu, stats}. With
 * `warmupBytes`, the first connection is the warm-up: it is read the same way and reported as
 * `warmup`.
 */

import { UtpSocket } from '../../src/socket/index.ts'
import { acceptor } from '../lib/accept.ts'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { receiveAllFromSink } from '../lib/node-stream-transfer.ts'
import type { UtpConnection } from '../../src/socket/index.ts'

interface Args {
  packetSize: number
  pathMtuProbing: boolean
  warmupBytes: number
}

runWorker(async () => {
  const { packetSize, pathMtuProbing, warmupBytes } = workerArgs<Args>()
  const socket = new UtpSocket({ packetSize, pathMtuProbing })
  await socket.bind(0, '127.0.0.1')
  socket.listen()
  const accept = acceptor<UtpConnection>(socket)
  report({ type: 'ready', port: socket.address().port })
  if (warmupBytes > 0) {
    const warm = await accept()
    report({ type: 'warmup', ...await receiveAllFromSink(warm) })
    warm.end()
  }
  const conn = await accept()
  const result = await receiveAllFromSink(conn)
  report({ type: 'result', ...result, stats: { ...conn.stats } })
})
