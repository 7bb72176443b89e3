/**
 * rtt row, dialling side: opens one echo stream to the server and times 1-byte ping-pongs over
 * it, one at a time, in microseconds. The first `warmup` let V8 optimise both ends; they are
 * reported apart. Reports `result` {us: number[], warmupUs: number[]}.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { ECHO_PROTOCOL, createBenchNode } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'

interface Args {
  transport: Libp2pTransport
  addr: string
  pings: number
  warmup: number
}

runWorker(async () => {
  const { transport, addr, pings, warmup } = workerArgs<Args>()
  const node = await createBenchNode(transport)
  const stream = await node.dialProtocol(multiaddr(addr), ECHO_PROTOCOL)
  const replies = stream[Symbol.asyncIterator]()
  const ping = new Uint8Array([42])
  const us: number[] = []
  const warmupUs: number[] = []
  for (let i = 0; i < warmup + pings; i++) {
    const start = performance.now()
    stream.send(ping)
    const reply = await replies.next()
    const elapsed = (performance.now() - start) * 1000
    if (reply.done === true) {
      throw new Error('the echo stream ended')
    }
    if (i >= warmup) {
      us.push(elapsed)
    } else {
      warmupUs.push(elapsed)
    }
  }
  report({ type: 'result', us, warmupUs })
  await stream.close()
  await node.stop()
})
