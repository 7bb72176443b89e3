/**
 * Loads utp-native (libutp's Node binding, CommonJS) and opens one of its sockets (on 127.0.0.1
 * unless told otherwise) with its kernel buffers enlarged: with the kernel's default 208 KiB,
 * libutp's bursts overflow the receiver and it crawls (see the README).
 */

import { once } from 'node:events'
import { createRequire } from 'node:module'
import type { UtpNative } from 'utp-native'

type UtpNativeModule = typeof import('utp-native')

export function loadUtpNative (): UtpNativeModule {
  return createRequire(import.meta.url)('utp-native') as UtpNativeModule
}

/** A bound utp-native socket; `listen` makes it accept connections */
export async function nativeSocket (bufferSize: number, listen: boolean, host = '127.0.0.1'): Promise<UtpNative> {
  const utp = loadUtpNative()
  const socket = utp()
  if (listen) {
    socket.listen(0, host)
  } else {
    socket.bind(0, host)
  }
  await once(socket, 'listening')
  socket.setRecvBufferSize(bufferSize)
  socket.setSendBufferSize(bufferSize)
  return socket
}
