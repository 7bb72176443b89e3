import { runTransfer, describeOutcome } from './scenario.ts'
const MiB = 1024 * 1024
const seed = Number(process.argv[2])
const o = runTransfer({ seed, forward: { rateBps: 100e6, queueBytes: 1e6, delayUs: 20_000, lossRate: 0.05, burstLoss: { enterRate: 0.01, exitRate: 0.25 }, reorderRate: 0.1, duplicateRate: 0.05, jitterUs: 20_000 }, aSends: 4 * MiB, bSends: 4 * MiB })
console.log(describeOutcome(o))
console.log('b stats', JSON.stringify(o.b?.entry.connection.stats), o.b?.connected, o.a.connected)
