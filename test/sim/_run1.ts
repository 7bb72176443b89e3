import { runTransfer, describeOutcome } from './scenario.ts'
const MiB = 1024 * 1024
const scen: Record<string, any> = {
  clean: { delayUs: 20_000 },
  loss1: { delayUs: 20_000, lossRate: 0.01 },
  loss5: { delayUs: 20_000, lossRate: 0.05 },
  loss20: { delayUs: 20_000, lossRate: 0.2 },
  burst: { delayUs: 20_000, burstLoss: { enterRate: 0.01, exitRate: 0.25, maxDurationUs: 200_000 } },
  reorder: { delayUs: 20_000, reorderRate: 0.1 },
  dup: { delayUs: 20_000, duplicateRate: 0.05 },
  jitter: { delayUs: 20_000, jitterUs: 20_000 },
  all: { delayUs: 20_000, lossRate: 0.05, burstLoss: { enterRate: 0.01, exitRate: 0.25, maxDurationUs: 200_000 }, reorderRate: 0.1, duplicateRate: 0.05, jitterUs: 20_000 },
}
const which = process.argv[2] ?? 'clean'
const seeds = Number(process.argv[3] ?? 1)
for (const name of which.split(',')) {
for (let seed = 1; seed <= seeds; seed++) {
  const t0 = performance.now()
  const o = runTransfer({ seed, forward: { rateBps: 100e6, queueBytes: 1e6, ...scen[name] }, aSends: 4 * MiB, bSends: 4 * MiB })
  const ok = o.completed && o.a.received === 4 * MiB && o.b?.received === 4 * MiB && o.a.corruptAt == null && o.b?.corruptAt == null
  console.log(name, seed, ok ? 'OK' : 'FAIL', `wall=${(performance.now() - t0).toFixed(0)}ms`, describeOutcome(o))
}
}
