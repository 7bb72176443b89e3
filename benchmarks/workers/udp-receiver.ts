/**
 * udp-limit, receiving side: a plain node:dgram socket with a large receive buffer that counts
 * datagrams until told to stop. Reports `ready` {port}, then on `stop` a `result`. With
 * `loadSocket`, it imports libp2p-utp/socket first and holds it, unused.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { command, report, runWorker, workerArgs } from '../lib/channel.ts'
import { cpuSeconds } from '../lib/clock.ts'

interface Args {
  bufferSize: number
  /** import libp2p-utp/socket first (the reference row udp-limit-loaded) */
  loadSocket?: boolean
}

runWorker(async () => {
  const { bufferSize, loadSocket = false } = workerArgs<Args>()
  if (loadSocket) {
    await import('../../src/socket/index.ts')
  }
  const socket = createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  socket.setRecvBufferSize(bufferSize)

  let received = 0
  let bytes = 0
  let first = 0
  let last = 0
  let cpuAtFirst = 0
  socket.on('message', (msg) => {
    last = performance.now()
    if (received === 0) {
      first = last
      cpuAtFirst = cpuSeconds()
    }
    received++
    bytes += msg.byteLength
  })
  report({ type: 'ready', port: socket.address().port, recvBuffer: socket.getRecvBufferSize() })

  await command('stop')
  report({ type: 'result', received, bytes, seconds: (last - first) / 1000, cpu: received > 0 ? cpuSeconds() - cpuAtFirst : 0 })
  socket.close()
})
