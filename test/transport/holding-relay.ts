/**
 * A UDP relay on 127.0.0.1 in front of a listening peer (the target) that forwards at once, except
 * that it can hold back what the target sends, in order, until {@link HoldingRelay.release}: the
 * dialler's data still arrives while every answer (ACKs, the FIN) waits, so a test can tell what
 * completes without a round trip. The client is the first other port that sends to it.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'

export interface HoldingRelay {
  /** the port to dial instead of the target's */
  port: number
  /** from now on, what the target sends waits */
  hold(): void
  /** datagrams from the target waiting now */
  readonly held: number
  /** forwards what waits, and from now on everything at once */
  release(): void
  close(): void
}

export async function holdingRelay (target: number): Promise<HoldingRelay> {
  const sock = createSocket('udp4')
  sock.bind(0, '127.0.0.1')
  await once(sock, 'listening')
  let client: number | undefined
  let holding = false
  const waiting: Buffer[] = []
  sock.on('message', (msg, rinfo) => {
    if (rinfo.port === target) {
      if (client == null) {
        return
      }
      if (holding) {
        waiting.push(msg)
        return
      }
      sock.send(msg, client, '127.0.0.1')
      return
    }
    client ??= rinfo.port
    if (rinfo.port === client) {
      sock.send(msg, target, '127.0.0.1')
    }
  })
  return {
    port: sock.address().port,
    hold () { holding = true },
    get held () { return waiting.length },
    release () {
      holding = false
      for (const msg of waiting.splice(0)) {
        sock.send(msg, client as number, '127.0.0.1')
      }
    },
    close () { sock.close() }
  }
}
