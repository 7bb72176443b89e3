/**
 * A libp2p node with the uTP transport, Noise, Yamux, identify and ping, and a `/bulk/1.0.0`
 * protocol that reads a stream to its end, reporting progress as it goes (one JSON line per
 * 8 MiB received) and at the end the byte count and the sha256 of what it received.
 */

import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { createLibp2p } from 'libp2p'
import { utp } from '../src/index.ts'
import type { Identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import type { Ping } from '@libp2p/ping'

export const BULK_PROTOCOL = '/bulk/1.0.0'
const PROGRESS_EVERY = 8 * 1024 * 1024

export type DemoNode = Libp2p<{ ping: Ping, identify: Identify }>

export async function createNode (listen: string[]): Promise<DemoNode> {
  const node = await createLibp2p({
    addresses: { listen },
    transports: [utp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { ping: ping(), identify: identify() }
  })
  await node.handle(BULK_PROTOCOL, async (stream) => {
    const hash = createHash('sha256')
    let bytes = 0
    let reported = 0
    for await (const chunk of stream) {
      const data = chunk.subarray()
      hash.update(data)
      bytes += data.byteLength
      if (bytes - reported >= PROGRESS_EVERY) {
        reported = bytes
        stream.send(new TextEncoder().encode(`${JSON.stringify({ bytes })}\n`))
      }
    }
    stream.send(new TextEncoder().encode(`${JSON.stringify({ bytes, sha256: hash.digest('hex') })}\n`))
    await stream.close()
  })
  return node
}
