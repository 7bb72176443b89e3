/**
 * connect row, dialling side: dials the server again and again, each time timing `dial()` from
 * the call until libp2p hands over the open connection (transport handshake, Noise, Yamux), then
 * closes it before the next. The first `warmup` dials are not timed with the others: their
 * times are reported apart, as `warmupMs`. A failed close
 * does not stop the row (it is not what is timed); it is counted. Reports `result`
 * {ms: number[], transportMs: number[], warmupMs: number[], closeErrors, closeError}.
 *
 * `transportMs` splits each dial where libp2p's own progress events allow, the same way for every
 * transport that libp2p upgrades: from libp2p picking the transport to the upgrade starting to
 * encrypt, which is the transport's connection (for uTP its handshake round trip, for TCP the
 * kernel's) plus the same few steps of libp2p on each. QUIC brings its own encryption and never
 * reports that event, so its list stays empty.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { createBenchNode } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { ProgressEvent } from 'progress-events'

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
  const warmupMs: number[] = []
  const transportMs: number[] = []
  let closeErrors = 0
  let closeError = ''
  for (let i = 0; i < warmup + dials; i++) {
    let selected = 0
    let encrypting = 0
    const onProgress = (event: ProgressEvent): void => {
      if (event.type === 'transport-manager:selected-transport') {
        selected = performance.now()
      } else if (event.type === 'upgrader:encrypt-outbound-connection') {
        encrypting = performance.now()
      }
    }
    const start = performance.now()
    const connection = await node.dial(target, { onProgress })
    const elapsed = performance.now() - start
    if (i >= warmup) {
      ms.push(elapsed)
      if (selected > 0 && encrypting > selected) {
        transportMs.push(encrypting - selected)
      }
    } else {
      warmupMs.push(elapsed)
    }
    try {
      await connection.close()
    } catch (err: any) {
      closeErrors++
      closeError = String(err?.message ?? err)
    }
  }
  report({ type: 'result', ms, transportMs, warmupMs, closeErrors, closeError })
  await node.stop()
})
