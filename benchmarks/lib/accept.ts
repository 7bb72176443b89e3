/**
 * Taking a listening socket's connections one after the other (a warm-up connection, then the
 * timed one), without missing one that comes before the code is ready for it.
 */

import { on } from 'node:events'
import type { EventEmitter } from 'node:events'

/** A function that resolves with the next connection `socket` announces with 'connection' */
export function acceptor<T> (socket: EventEmitter): () => Promise<T> {
  const connections = on(socket, 'connection')
  return async () => {
    const next = await connections.next()
    if (next.done === true) {
      throw new Error('the socket closed before a connection came')
    }
    return next.value[0] as T
  }
}
