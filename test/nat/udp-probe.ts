/**
 * Worker: plain UDP sockets, to check what a router does to datagrams. Settings: `{ bind:
 * [{ address, port }] }`. Reports `bound` once every socket is bound, then `datagram` `{ local,
 * from, port, payload }` for each datagram received. Command `send` `{ local, to, port, payload }`
 * sends one from the socket of `to`'s family bound to port `local`.
 */

import { createSocket } from 'node:dgram'
import { isIPv6 } from 'node:net'
import { handle, report, workerConfig } from './channel.ts'
import type { Socket } from 'node:dgram'

interface ProbeConfig {
  bind: Array<{ address: string, port: number }>
}

/** by family and port: `udp4:5000` */
const sockets = new Map<string, Socket>()

for (const { address, port } of workerConfig<ProbeConfig>().bind) {
  const type = isIPv6(address) ? 'udp6' : 'udp4'
  const socket = createSocket(type)
  socket.on('message', (msg, rinfo) => {
    report({ type: 'datagram', local: port, from: rinfo.address, port: rinfo.port, payload: msg.toString() })
  })
  await new Promise<void>((resolve) => { socket.bind(port, address, resolve) })
  sockets.set(`${type}:${port}`, socket)
}

handle('send', async (command) => {
  const key = `${isIPv6(String(command.to)) ? 'udp6' : 'udp4'}:${String(command.local)}`
  const socket = sockets.get(key)
  if (socket == null) {
    throw new Error(`no socket ${key}`)
  }
  await new Promise<void>((resolve, reject) => {
    socket.send(String(command.payload), Number(command.port), String(command.to), (err) => { err == null ? resolve() : reject(err) })
  })
  return {}
})

report({ type: 'bound' })
