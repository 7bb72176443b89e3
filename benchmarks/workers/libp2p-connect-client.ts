/**
 * connect row, dialling side: one node with every transport the row measures dials the server
 * (which listens on all of them) again and again, one dial per transport in each round, timing
 * `dial()` from the call until libp2p hands over the open connection (transport handshake,
 * Noise, Yamux), then closing it before the next. Interleaved dials share the process's state
 * and the machine's moment, so the row's ratios do not carry the drift between runs made one after
 * another. The rounds take the transports in each possible order in turn, so that each follows
 * each other equally often: a dial is slower right after a QUIC connection closed (its threads are
 * still busy), and a simple rotation put uTP there two times in three. The
 * first `warmup` rounds are not timed with the others: their times are reported apart, as
 * `warmupMs`. A failed close does not stop the row (it is not what is timed); it is counted.
 * Reports `result` {byTransport: {[transport]: {ms, transportMs, warmupMs}}, closeErrors,
 * closeError}.
 *
 * `transportMs` splits each dial where libp2p's own progress events allow, the same way for every
 * transport that libp2p upgrades: from libp2p picking the transport to the upgrade starting to
 * encrypt, which is the transport's connection (for uTP its handshake round trip, for TCP the
 * kernel's) plus the same few steps of libp2p on each. QUIC brings its own encryption and never
 * reports that event, so its list stays empty.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { addressFor, createBenchNode } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ProgressEvent } from 'progress-events'

interface Args {
  transports: Libp2pTransport[]
  addrs: string[]
  dials: number
  warmup: number
}

interface Timings {
  ms: number[]
  transportMs: number[]
  warmupMs: number[]
}

runWorker(async () => {
  const { transports, addrs, dials, warmup } = workerArgs<Args>()
  const node = await createBenchNode(transports)
  const targets = new Map<Libp2pTransport, Multiaddr>(transports.map(t => [t, multiaddr(addressFor(addrs, t))]))
  const byTransport: Record<string, Timings> = {}
  for (const transport of transports) {
    byTransport[transport] = { ms: [], transportMs: [], warmupMs: [] }
  }
  let closeErrors = 0
  let closeError = ''
  const orders = permutations(transports)
  for (let round = 0; round < warmup + dials; round++) {
    for (const transport of orders[round % orders.length]) {
      const timings = byTransport[transport]
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
      const connection = await node.dial(targets.get(transport)!, { onProgress })
      const elapsed = performance.now() - start
      if (round >= warmup) {
        timings.ms.push(elapsed)
        if (selected > 0 && encrypting > selected) {
          timings.transportMs.push(encrypting - selected)
        }
      } else {
        timings.warmupMs.push(elapsed)
      }
      try {
        await connection.close()
      } catch (err: any) {
        closeErrors++
        closeError = `${transport}: ${String(err?.message ?? err)}`
      }
    }
  }
  report({ type: 'result', byTransport, closeErrors, closeError })
  await node.stop()
})

function permutations<T> (items: T[]): T[][] {
  if (items.length <= 1) {
    return [items]
  }
  return items.flatMap((first, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map(rest => [first, ...rest]))
}
