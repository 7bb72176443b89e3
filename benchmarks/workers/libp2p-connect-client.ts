/**
 * connect row, dialling side: one node with every transport the row measures dials the server
 * (which listens on all of them) again and again, timing `dial()` from the call until libp2p
 * hands over the open connection (transport handshake, Noise, Yamux), then closing it before the
 * next. Reports `result` {byTransport: {[transport]: {ms, transportMs, warmupMs, afterOtherMs,
 * closeErrors, closeError}}}.
 *
 * The transports take turns in blocks of {@link BLOCK} dials, the blocks of a round in one of the
 * transports' possible orders, each order in turn. Turns share the processes and the machine's
 * moment, so the ratios do not carry the drift between rows run one after another. Only the dials
 * that follow a dial of the same transport are timed with the others, as in a node that dials over
 * one transport: a dial that follows another transport's (the first of most blocks) is reported
 * apart, as `afterOtherMs`. Here a dial right after a dial of another transport was up to 0.5 ms
 * slower or 0.2 ms faster than after one of its own (over uTP after TCP slower, over TCP after uTP
 * faster): what one transport's teardown leaves running, and what it leaves cold in the caches,
 * lands on the next dial. The first `warmup` dials of each transport are reported apart too, as
 * `warmupMs`. A failed close does not stop the row (it is not what is timed); it is counted.
 *
 * `transportMs` splits each dial where libp2p's own progress events allow, the same way for every
 * transport that libp2p upgrades: from libp2p picking the transport to the upgrade starting to
 * encrypt, which is the transport's connection (for uTP its handshake round trip, for TCP the
 * kernel's) plus the same few steps of libp2p on each. QUIC brings its own encryption and never
 * reports that event, so its list stays empty.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { addressFor, createBenchNode, turns } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Connection, Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressEvent } from 'progress-events'

/** dials of one transport in a row: the first mostly follows another transport's, the others its own */
const BLOCK = 3

interface Args {
  transports: Libp2pTransport[]
  addrs: string[]
  dials: number
  warmup: number
}

/** One transport's part of the `result` report */
export interface ConnectTimings {
  ms: number[]
  transportMs: number[]
  warmupMs: number[]
  afterOtherMs: number[]
  closeErrors: number
  closeError: string
}

runWorker(async () => {
  const { transports, addrs, dials, warmup } = workerArgs<Args>()
  const node = await createBenchNode(transports)
  const targets = new Map<Libp2pTransport, Multiaddr>(transports.map(t => [t, multiaddr(addressFor(addrs, t))]))
  const byTransport: Record<string, ConnectTimings> = {}
  for (const transport of transports) {
    byTransport[transport] = { ms: [], transportMs: [], warmupMs: [], afterOtherMs: [], closeErrors: 0, closeError: '' }
  }
  let previous: Libp2pTransport | undefined
  for (const transport of turns(transports, BLOCK)) {
    const timings = byTransport[transport]
    if (transports.every(t => byTransport[t].ms.length >= dials)) {
      break
    }
    const afterOther = previous != null && previous !== transport
    previous = transport
    const { connection, elapsed, transportMs } = await timedDial(node, targets.get(transport)!)
    if (timings.warmupMs.length < warmup) {
      timings.warmupMs.push(elapsed)
    } else if (afterOther) {
      timings.afterOtherMs.push(elapsed)
    } else if (timings.ms.length < dials) {
      timings.ms.push(elapsed)
      if (transportMs != null) {
        timings.transportMs.push(transportMs)
      }
    }
    try {
      await connection.close()
    } catch (err: any) {
      timings.closeErrors++
      timings.closeError = String(err?.message ?? err)
    }
  }
  report({ type: 'result', byTransport })
  await node.stop()
})

async function timedDial (node: Libp2p, target: Multiaddr): Promise<{ connection: Connection, elapsed: number, transportMs?: number }> {
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
  return { connection, elapsed, transportMs: selected > 0 && encrypting > selected ? encrypting - selected : undefined }
}
