/**
 * A plain UDP socket on 127.0.0.1 that speaks uTP by hand, for tests that need a peer doing what
 * our engine never would (a reset after its FIN, a forged packet)
 */

import { createSocket } from 'node:dgram'
import { decodePacket, encodePacket } from '../../src/index.ts'
import type { Packet } from '../../src/index.ts'
import type { Socket } from 'node:dgram'

export const HOST = '127.0.0.1'

/** The raw socket, bound, the packets it has received, and a send of a packet given in part */
export async function rawPeer (): Promise<{ raw: Socket, got: Packet[], send(p: Partial<Packet>, port: number): void }> {
  const raw = createSocket('udp4')
  await new Promise<void>((resolve) => { raw.bind(0, HOST, resolve) })
  const got: Packet[] = []
  raw.on('message', (m) => {
    const p = decodePacket(m)
    if (!(p instanceof Error)) {
      got.push(p)
    }
  })
  const send = (p: Partial<Packet>, port: number): void => {
    raw.send(encodePacket({ timestamp: 0, timestampDiff: 0, wndSize: 1 << 20, ...p } as any), port, HOST)
  }
  return { raw, got, send }
}
