/**
 * utp raw, receiving side: our UtpSocket listening on 127.0.0.1, one connection read to its end
 * through its data sink (packet payloads as they arrived, no joining copy: the way the libp2p
 * transport reads). Reports `ready` {port}, then `result` {bytes, endMs, cpu, stats}.
 */

import { UtpSocket } from '../../src/index.ts'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { receiveAllFromSink } from '../lib/node-stream-transfer.ts'
import type { UtpConnection } from '../../src/index.ts'

interface Args {
  packetSize: number
  pathMtuProbing: boolean
}

runWorker(async () => {
  const { packetSize, pathMtuProbing } = workerArgs<Args>()
  const socket = new UtpSocket({ packetSize, pathMtuProbing })
  await socket.bind(0, '127.0.0.1')
  socket.listen()
  const accepted = new Promise<UtpConnection>((resolve) => { socket.once('connection', resolve) })
  report({ type: 'ready', port: socket.address().port })
  const conn = await accepted
  const result = await receiveAllFromSink(conn)
  report({ type: 'result', ...result, stats: { ...conn.stats } })
})
