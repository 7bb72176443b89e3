/**
 * libutp raw, receiving side: a utp-native socket (4 MiB kernel buffers) accepting one connection
 * and reading it to its end. Reports `ready` {port, recvBuffer}, then `result` {bytes, endMs, cpu}.
 * With `warmupBytes`, the first connection is the warm-up: read the same way, reported as `warmup`.
 */

import { acceptor } from '../lib/accept.ts'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { receiveAll } from '../lib/node-stream-transfer.ts'
import { nativeSocket } from '../lib/utp-native.ts'
import type { ReceiveResult } from '../lib/node-stream-transfer.ts'
import type { UtpNativeConnection } from 'utp-native'

interface Args {
  bufferSize: number
  warmupBytes: number
}

runWorker(async () => {
  const { bufferSize, warmupBytes } = workerArgs<Args>()
  const socket = await nativeSocket(bufferSize, true)
  const accept = acceptor<UtpNativeConnection>(socket)
  const receive = async (): Promise<ReceiveResult> => {
    const conn = await accept()
    const result = await receiveAll(conn)
    // allowHalfOpen is utp-native's default: end our side too, so the connection closes
    conn.end()
    return result
  }
  report({ type: 'ready', port: socket.address().port, recvBuffer: socket.getRecvBufferSize() })
  if (warmupBytes > 0) {
    report({ type: 'warmup', ...await receive() })
  }
  report({ type: 'result', ...await receive() })
})
