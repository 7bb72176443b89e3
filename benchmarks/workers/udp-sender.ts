/**
 * udp-limit, sending side: sends datagrams of one size to the receiver as fast as node:dgram takes
 * them for a fixed time, with a bounded number of sends in flight (as `send(buf, port, host)`, the
 * call our socket uses). Reports `done` {sent, seconds, cpu}.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { cpuSeconds } from '../lib/clock.ts'
import { makeChunk } from '../lib/payload.ts'

interface Args {
  port: number
  size: number
  durationMs: number
  bufferSize: number
}

/** sends handed to libuv and not yet called back */
const IN_FLIGHT = 64

runWorker(async () => {
  const { port, size, durationMs, bufferSize } = workerArgs<Args>()
  const socket = createSocket('udp4')
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  socket.setSendBufferSize(bufferSize)
  const datagram = makeChunk(size)

  const cpuStart = cpuSeconds()
  const start = performance.now()
  const deadline = start + durationMs
  let sent = 0
  let inFlight = 0
  await new Promise<void>((resolve) => {
    const onSent = (): void => {
      inFlight--
      sendMore()
    }
    const sendMore = (): void => {
      if (performance.now() >= deadline) {
        if (inFlight === 0) {
          resolve()
        }
        return
      }
      while (inFlight < IN_FLIGHT) {
        inFlight++
        sent++
        socket.send(datagram, port, '127.0.0.1', onSent)
      }
    }
    sendMore()
  })
  report({ type: 'done', sent, seconds: (performance.now() - start) / 1000, cpu: cpuSeconds() - cpuStart })
  socket.close()
})
