/**
 * Runs one two-host bulk transfer on the simulated network and reports what happened.
 */

import { SimNetwork } from './network.ts'
import { UtpHost } from './utp-host.ts'
import type { LinkConfig } from './network.ts'
import type { Transfer } from './utp-host.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'

export interface TransferScenario {
  seed: number
  /** a to b */
  forward: LinkConfig
  /** b to a (default: same as forward) */
  reverse?: LinkConfig
  /** bytes a sends to b */
  aSends: number
  /** bytes b sends to a */
  bSends: number
  config?: Partial<ConnectionConfig>
  /** virtual time allowed, µs */
  limitUs?: number
  /** replaces the random bytes source of both hosts (to pin connection ids and sequence numbers) */
  randomBytes?(buf: Uint8Array): void
}

export interface TransferOutcome {
  completed: boolean
  /** virtual µs from dial until both sides closed */
  durationUs: number
  a: Transfer
  b: Transfer | undefined
  net: SimNetwork
  aHost: UtpHost
  bHost: UtpHost
}

export function runTransfer (s: TransferScenario): TransferOutcome {
  const net = new SimNetwork({ seed: s.seed })
  net.link('a', 'b', s.forward)
  net.link('b', 'a', s.reverse ?? s.forward)
  const aHost = new UtpHost({ address: { host: 'a', port: 5000 }, prng: net.prng.fork(), config: s.config, randomBytes: s.randomBytes })
  const bHost = new UtpHost({
    address: { host: 'b', port: 6000 },
    prng: net.prng.fork(),
    config: s.config,
    randomBytes: s.randomBytes,
    onIncoming: () => ({ send: s.bSends, sendSeed: s.seed * 2 + 1, recvSeed: s.seed * 2 })
  })
  net.attach(aHost.address, aHost)
  net.attach(bHost.address, bHost)
  bHost.listen()
  const start = net.now
  const a = aHost.dial(net.now, bHost.address, { send: s.aSends, sendSeed: s.seed * 2, recvSeed: s.seed * 2 + 1 })
  net.kick()
  const completed = net.runUntil(() => a.done && bHost.transfers[0]?.done, start + (s.limitUs ?? 600_000_000))
  const b = bHost.transfers[0]
  const end = Math.max(a.closed?.at ?? net.now, b?.closed?.at ?? net.now)
  return { completed, durationUs: end - start, a, b, net, aHost, bHost }
}

/** Human-readable summary of an outcome for assertion messages */
export function describeOutcome (o: TransferOutcome): string {
  const a = o.a
  const b = o.b
  const sa = a.entry.connection.stats
  return `completed=${o.completed} t=${(o.durationUs / 1e6).toFixed(2)}s ` +
    `a: sent=${a.sent} recv=${a.received} corruptAt=${a.corruptAt} closed=${a.closed?.reason}(${a.closed?.message}) ` +
    `b: sent=${b?.sent} recv=${b?.received} corruptAt=${b?.corruptAt} closed=${b?.closed?.reason}(${b?.closed?.message}) ` +
    `a.stats=${JSON.stringify(sa)}`
}
