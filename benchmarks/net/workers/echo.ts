/** The probe's echo, run in host B's namespace: returns every datagram to its sender. Reports `ready` {port}. */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { report, runWorker, workerArgs } from '../../lib/channel.ts'

interface Args {
  host: string
}

runWorker(async () => {
  const { host } = workerArgs<Args>()
  const socket = createSocket('udp4')
  socket.on('message', (msg, rinfo) => { socket.send(msg, rinfo.port, rinfo.address) })
  socket.bind(0, host)
  await once(socket, 'listening')
  report({ type: 'ready', port: socket.address().port })
})
