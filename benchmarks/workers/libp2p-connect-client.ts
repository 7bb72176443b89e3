/**
 * connect row, dialling side: dials the server again and again, each time timing `dial()` from
 * the call until libp2p hands over the open connection (transport handshake, Noise, Yamux), then
 * closes it before the next. The first few dials warm up and are not reported. A failed close
 * does not stop the row (it is not what is timed); it is counted. Reports `result`
 * {ms: number[], closeErrors, closeError}.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { createBenchNode } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'

interface Args {
  transport: Libp2pTransport
  addr: string
  dials: number
  warmup: number
}

runWorker(async () => {
  const { transport, addr, dials, warmup } = workerArgs<Args>()
  const node = await createBenchNode(transport)
  const target = multiaddr(addr)
  const ms: number[] = []
  let closeErrors = 0
  let closeError = ''
  for (let i = 0; i < warmup + dials; i++) {
    const start = performance.now()
    const connection = await node.dial(target)
    const elapsed = performance.now() - start
    if (i >= warmup) {
      ms.push(elapsed)
    }
    try {
      await connection.close()
    } catch (err: any) {
      closeErrors++
      closeError = String(err?.message ?? err)
    }
  }
  report({ type: 'result', ms, closeErrors, closeError })
  await node.stop()
})
