import { UtpSocket } from '../socket/utp-socket.ts'
import { isLoopback, isWildcard } from './addresses.ts'
import type { UtpSocketOptions } from '../socket/utp-socket.ts'
import type { Logger } from '@libp2p/interface'

/**
 * How long a socket given back for good waits for its connections to finish closing before it
 * resets them: a libp2p connection's close is done once the engine has everything written, which
 * it still delivers, with the FIN, in the background (normally within a round trip or two)
 */
const CLOSE_GRACE_MS = 2_000

interface PooledSocket {
  socket: UtpSocket
  host: string
  listening: boolean
  /** listener plus live connections that use the socket */
  refs: number
  /** the bind under way: the socket is in the pool from the start, so that dials wait for it */
  binding?: Promise<void>
}

/**
 * The UDP sockets of one transport. A listener binds one socket per listen address; dials leave
 * from a listening socket of the same family when there is one (so the peer sees the listen port,
 * which NAT hole punching needs), or from one shared ephemeral socket per family. A socket closes
 * when neither a listener nor a connection holds it any more.
 */
export class SocketPool {
  private readonly sockets = new Set<PooledSocket>()
  /** sockets given back for good whose port is not free yet */
  private readonly closing = new Set<Promise<void>>()
  private readonly options: UtpSocketOptions
  private readonly log: Logger

  constructor (options: UtpSocketOptions, log: Logger) {
    this.options = options
    this.log = log
  }

  /**
   * A listening socket on `host`:`port`; the caller holds one reference. The socket a closed
   * listener left to its outbound connections listens again (its port is taken: a new bind fails)
   */
  async listen (type: 'udp4' | 'udp6', host: string, port: number): Promise<UtpSocket> {
    const kept = port === 0
      ? undefined
      : [...this.sockets].find(p => !p.listening && p.binding == null && p.socket.type === type && p.host === host && p.socket.address().port === port)
    if (kept != null) {
      kept.listening = true
      kept.refs++
      kept.socket.listen()
      return kept.socket
    }
    const socket = new UtpSocket({ ...this.options, type })
    await this.add({ socket, host, listening: true, refs: 1 }, port, host)
    socket.listen()
    return socket
  }

  /** The socket a dial to `host` leaves from; the caller holds one reference */
  async forDial (type: 'udp4' | 'udp6', host: string): Promise<UtpSocket> {
    // a listening socket still binding (libp2p starts redialling while its listeners start) is
    // the one to leave from: the peer must see the listening port
    const binding = [...this.sockets].filter(p => p.listening && p.binding != null && p.socket.type === type)
    if (binding.length > 0) {
      await Promise.allSettled(binding.map(async p => p.binding))
    }
    const candidates = [...this.sockets].filter(p => p.socket.type === type)
    // a socket bound to one address sends only where that address reaches: a loopback one not
    // off the host, whether a listener still holds it or only connections do
    const reaches = (p: PooledSocket): boolean => isWildcard(p.host) || isLoopback(p.host) === isLoopback(host)
    const pick = candidates.find(p => p.listening && isWildcard(p.host)) ??
      candidates.find(p => p.listening && reaches(p)) ??
      candidates.find(p => !p.listening && reaches(p))
    if (pick == null) {
      const socket = new UtpSocket({ ...this.options, type })
      await this.add({ socket, host: type === 'udp4' ? '0.0.0.0' : '::', listening: false, refs: 1 }, 0)
      return socket
    }
    pick.refs++
    if (pick.binding != null) {
      // the shared ephemeral socket another dial is binding, or a listening one whose bind began
      // after this dial's wait: if that bind fails (a listen on a port taken), the dial is not
      // its to fail; the failed socket has left the pool, and the dial picks again
      try {
        await pick.binding
      } catch (err) {
        pick.refs--
        if (pick.listening) {
          return this.forDial(type, host)
        }
        throw err
      }
    }
    return pick.socket
  }

  /** Binds `pooled`'s socket, in the pool meanwhile; out of it again if the bind fails */
  private async add (pooled: PooledSocket, port: number, host?: string): Promise<void> {
    this.sockets.add(pooled)
    pooled.binding = bindOrClose(pooled.socket, port, host)
    try {
      await pooled.binding
    } catch (err) {
      this.sockets.delete(pooled)
      throw err
    } finally {
      pooled.binding = undefined
    }
  }

  /**
   * Gives back one reference; the socket closes with the last one, once the connections still
   * closing in the background are done (at most {@link CLOSE_GRACE_MS}). Resolves once that
   * socket's port is free (at once when others still hold it): a node that stops and starts again
   * on the same port must find it free.
   */
  async release (socket: UtpSocket): Promise<void> {
    const pooled = this.find(socket)
    if (pooled == null) {
      return
    }
    pooled.refs--
    if (pooled.refs > 0) {
      return
    }
    this.sockets.delete(pooled)
    const closing = socket.close(CLOSE_GRACE_MS).catch((err) => { this.log.error('closing a UDP socket failed - %e', err) })
    this.closing.add(closing)
    try {
      await closing
    } finally {
      this.closing.delete(closing)
    }
  }

  /**
   * The listener gives up its socket: it stops accepting, and closes once no outbound connection
   * uses it (inbound ones hold no reference: the listener aborts them before it lets go)
   */
  async unlisten (socket: UtpSocket): Promise<void> {
    const pooled = this.find(socket)
    if (pooled == null) {
      return
    }
    pooled.listening = false
    socket.unlisten()
    await this.release(socket)
  }

  /**
   * Closes every socket (transport stop), each once the connections still closing in the
   * background are done (at most {@link CLOSE_GRACE_MS}); resolves once every port is free
   */
  async closeAll (): Promise<void> {
    const all = [...this.sockets]
    this.sockets.clear()
    await Promise.all([
      ...all.map(async p => { await p.socket.close(CLOSE_GRACE_MS) }),
      ...this.closing
    ])
  }

  private find (socket: UtpSocket): PooledSocket | undefined {
    for (const p of this.sockets) {
      if (p.socket === socket) {
        return p
      }
    }
    return undefined
  }
}

/** Binds, or frees the socket's descriptor when binding fails (EADDRINUSE...) */
async function bindOrClose (socket: UtpSocket, port: number, host?: string): Promise<void> {
  try {
    await socket.bind(port, host)
  } catch (err) {
    await socket.close(0)
    throw err
  }
}
