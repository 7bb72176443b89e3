import { createSocket } from 'node:dgram'

/**
 * Finds out fast that nobody listens at a UDP address. An unconnected socket (the shared uTP
 * socket) never hears of the ICMP port-unreachable that answers its SYN, so a dial to a closed
 * port would wait out the whole connect deadline; a connected socket does hear of it, as
 * ECONNREFUSED. The probe is one empty datagram from a throwaway connected socket: a uTP peer
 * passes it to its application as a non-uTP datagram and otherwise ignores it.
 *
 * Resolves true when the port is known to be closed, false when nothing was heard within
 * `waitMs` (the port may be open, or ICMP may be filtered).
 */
export async function probeUnreachable (type: 'udp4' | 'udp6', host: string, port: number, waitMs: number, signal?: AbortSignal): Promise<boolean> {
  const socket = createSocket({ type })
  // an answer helps a dial in progress; it is no reason to keep the process alive
  socket.unref()
  return new Promise<boolean>((resolve) => {
    let settled = false
    const finish = (refused: boolean): void => {
      if (settled) {
        return
      }
      settled = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      try {
        socket.close()
      } catch {
        // already closed
      }
      resolve(refused)
    }
    const onAbort = (): void => { finish(false) }
    const timer = setTimeout(() => { finish(false) }, waitMs)
    timer.unref()
    signal?.addEventListener('abort', onAbort, { once: true })
    socket.on('error', (err: NodeJS.ErrnoException) => { finish(err.code === 'ECONNREFUSED') })
    socket.on('message', () => {})
    try {
      socket.connect(port, host, (err?: Error) => {
        if (err != null) {
          // link-local without a zone, broadcast...: no verdict, the dial goes on without it
          finish(false)
          return
        }
        try {
          socket.send(new Uint8Array(0), (err) => {
            if (err != null) {
              finish((err as NodeJS.ErrnoException).code === 'ECONNREFUSED')
            }
          })
        } catch {
          finish(false)
        }
      })
    } catch {
      finish(false)
    }
  })
}
