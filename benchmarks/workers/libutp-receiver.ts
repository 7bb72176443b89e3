/**
 * libutp raw, receiving side: a utp-native socket (4 MiB kernel buffers) accepting one connection
 * and reading it to its end. Reports `ready` {port, recvBuffer}, then `result` {bytes, endMs, cpu}.
 */

import { once } from 'node:events'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { receiveAll } from '../lib/node-stream-transfer.ts'
import { nativeSocket } from '../lib/utp-native.ts'
import type { UtpNativeConnection } from 'utp-native'

interface Args {
  bufferSize: number
}

runWorker(async () => {
  const { bufferSize } = workerArgs<Args>()
  const socket = await nativeSocket(bufferSize, true)
  const accepted = once(socket, 'connection') as Promise<[UtpNativeConnection]>
  report({ type: 'ready', port: socket.address().port, recvBuffer: socket.getRecvBufferSize() })
  const [conn] = await accepted
  const result = await receiveAll(conn)
  report({ type: 'result', ...result })
  // allowHalfOpen is utp-native's default: end our side too, so the connection closes
  conn.end()
})
