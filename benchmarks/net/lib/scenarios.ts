/**
 * The scenarios of the network bench, each a plan for the experiment and a reading of its
 * outcome into a row. Impairments apply to both directions (data and ACKs alike); the bottleneck
 * is on the data direction only. Quick mode shortens every phase. Targets bind our uTP only;
 * libutp and TCP rows are references.
 */

import { NO_IMPAIRMENT } from './emulator.ts'
import { check, commonNotes, integrity, percentOfLink } from './row.ts'
import { binnedMbit, bytesBetween, goodputMbit, queuingDelay } from './timeline.ts'
import type { Impairment } from './emulator.ts'
import type { ExperimentOutcome, ExperimentPlan, FlowOutcome } from './experiment.ts'
import type { NetRow, TargetCheck } from './row.ts'
import type { Stack } from './stacks.ts'
import type { Bottleneck } from './topology.ts'

/** goodput is measured after the first 5 s (slow start and first queue build-up) */
const WARM_UP_MS = 5_000
const SEED = 1
const GRACE_MS = 30_000
const RECOVERY_BIN_MS = 100
/** bins in a row whose mean must reach the recovery level */
const RECOVERY_BINS = 3
const RECOVERY_LEVEL = 0.9
const ALL_STACKS: readonly Stack[] = ['utp', 'libutp', 'tcp']

export interface Scenario {
  name: string
  /** the issue's scenario number, also accepted by --only */
  group: number
  title: string
  stacks: readonly Stack[]
  plan(stack: Stack, quick: boolean): ExperimentPlan
  evaluate(stack: Stack, outcome: ExperimentOutcome, plan: ExperimentPlan): NetRow
}

/** What a scenario reads from its outcome; the rest of the row is the same for all */
interface Reading {
  /** the main flow's measured window, for stalls in the notes */
  fromMs: number
  toMs: number
  goodputPct?: number
  delay?: NetRow['delay']
  other?: string
  figures?: NetRow['figures']
  targets: TargetCheck[]
  notes?: string[]
  failure?: string
}

interface Definition extends Omit<Scenario, 'evaluate'> {
  read(outcome: ExperimentOutcome, plan: ExperimentPlan): Reading
}

function define (d: Definition): Scenario {
  const { read, ...rest } = d
  return {
    ...rest,
    evaluate: (stack, outcome, plan) => {
      const r = read(outcome, plan)
      const main = outcome.flows[0]
      return {
        scenario: d.name,
        title: d.title,
        stack,
        goodputPct: r.goodputPct,
        delay: r.delay,
        other: r.other ?? '',
        integrity: integrity(main),
        figures: r.figures ?? {},
        targets: stack === 'utp' ? r.targets : [],
        notes: [...commonNotes(outcome, main, r.fromMs, r.toMs), ...(r.notes ?? [])],
        failure: r.failure
      }
    }
  }
}

const SLOW_LINK: Bottleneck = { rateMbit: 10, queueMs: 500 }
const FAST_LINK: Bottleneck = { rateMbit: 50, queueMs: 200 }

function link (bottleneck: Bottleneck, impairment: Partial<Impairment>): ExperimentPlan['link'] {
  const both = { ...NO_IMPAIRMENT, ...impairment }
  return { bottleneck, ab: both, ba: both, seed: SEED }
}

/** Goodput and queuing delay of the main flow from the end of warm-up to `endMs` after its start */
function steady (outcome: ExperimentOutcome, plan: ExperimentPlan, endMs = plan.flows[0].durationMs): Reading {
  const flow = outcome.flows[0]
  const fromMs = flow.startMs + WARM_UP_MS
  const toMs = flow.startMs + endMs
  return {
    fromMs,
    toMs,
    goodputPct: percentOfLink(goodputMbit(flow.received, fromMs, toMs), plan.link.bottleneck.rateMbit),
    delay: queuingDelay(outcome.probes, outcome.idleRttMs, fromMs, toMs),
    targets: []
  }
}

function alone (name: string, title: string, stacks: readonly Stack[], targetDelayMs: number | undefined,
  targets: (s: Reading) => TargetCheck[]): Scenario {
  return define({
    name,
    group: 1,
    title,
    stacks,
    plan: (stack, quick) => ({
      link: link(SLOW_LINK, { delayMs: 20 }),
      flows: [{ stack, startMs: 0, durationMs: quick ? 12_000 : 30_000, targetDelayMs }],
      changes: [],
      graceMs: GRACE_MS
    }),
    read: (outcome, plan) => {
      const s = steady(outcome, plan)
      return { ...s, targets: targets(s) }
    }
  })
}

/** When, after `fromMs`, the flow's goodput is back at 90 % of the link, in ms (undefined: never) */
function recoveryMs (flow: FlowOutcome, fromMs: number, toMs: number, rateMbit: number): number | undefined {
  const bins = binnedMbit(flow.received, fromMs, toMs, RECOVERY_BIN_MS)
  for (let i = 0; i + RECOVERY_BINS <= bins.length; i++) {
    const mean = bins.slice(i, i + RECOVERY_BINS).reduce((a, b) => a + b, 0) / RECOVERY_BINS
    if (mean >= RECOVERY_LEVEL * rateMbit) {
      return i * RECOVERY_BIN_MS
    }
  }
  return undefined
}

/** The main flow's share of what both flows delivered in [fromMs, toMs), % */
function share (main: FlowOutcome, other: FlowOutcome, fromMs: number, toMs: number): number {
  const ours = bytesBetween(main.received, fromMs, toMs)
  const theirs = bytesBetween(other.received, fromMs, toMs)
  return ours + theirs === 0 ? 0 : ours / (ours + theirs) * 100
}

/**
 * TCP runs from its receiver's first byte to its last (the sender's buffers drain after it stops
 * writing); the main flow's recovery is counted from that last byte
 */
function readTcpJoins (outcome: ExperimentOutcome, plan: ExperimentPlan): Reading {
  const [main, tcp] = outcome.flows
  const rate = plan.link.bottleneck.rateMbit
  const window = { fromMs: main.startMs + WARM_UP_MS, toMs: main.startMs + plan.flows[0].durationMs }
  const first = tcp.received.firstByteMs
  const last = tcp.received.lastByteMs
  if (first == null || last == null) {
    return { ...window, targets: [], failure: 'the TCP flow received nothing' }
  }
  const sharePct = share(main, tcp, first, last)
  const secondHalfPct = share(main, tcp, (first + last) / 2, last)
  const recovery = recoveryMs(main, last, window.toMs, rate)
  const tcpMbit = goodputMbit(tcp.received, first, last)
  const alonePct = percentOfLink(goodputMbit(main.received, window.fromMs, first), rate)
  const since = (ms: number): string => ((ms - main.startMs) / 1000).toFixed(1)
  return {
    ...window,
    other: `share ${sharePct.toFixed(1)} % (2nd half ${secondHalfPct.toFixed(1)} %), ${recovery == null ? 'never back at 90 %' : `back at 90 % in ${(recovery / 1000).toFixed(2)} s`}`,
    figures: { sharePct, secondHalfPct, recoveryS: recovery == null ? undefined : recovery / 1000, tcpMbit, alonePct },
    targets: [check('share <= 20 %', sharePct <= 20), check('back at 90 % <= 1.5 s', recovery != null && recovery <= 1_500)],
    notes: [
      `${alonePct.toFixed(1)} % of link before TCP joined`,
      `TCP ${tcpMbit.toFixed(1)} Mbit/s from ${since(first)} to ${since(last)} s, ${tcp.received.ended ? 'ended' : 'did not end'}`
    ]
  }
}

const tcpJoins = define({
  name: 'tcp-joins',
  group: 2,
  title: '2: same link, TCP cubic joins for 20 s',
  stacks: ALL_STACKS,
  plan: (stack, quick) => ({
    link: link(SLOW_LINK, { delayMs: 20 }),
    flows: [
      { stack, startMs: 0, durationMs: quick ? 24_000 : 40_000 },
      { stack: 'tcp', startMs: quick ? 8_000 : 10_000, durationMs: quick ? 8_000 : 20_000 }
    ],
    changes: [],
    graceMs: GRACE_MS
  }),
  read: readTcpJoins
})

function randomLoss (name: string, loss: number, minGoodput: number): Scenario {
  return define({
    name,
    group: 3,
    title: `3: 50 Mbit/s, 10 ms one-way, 200 ms queue, ${loss * 100} % loss each way, then none`,
    stacks: ALL_STACKS,
    plan: (stack, quick) => {
      const lossMs = quick ? 15_000 : 30_000
      const tailMs = quick ? 6_000 : 10_000
      return {
        link: link(FAST_LINK, { delayMs: 10, loss }),
        flows: [{ stack, startMs: 0, durationMs: lossMs + tailMs }],
        changes: [{ atMs: lossMs, direction: 'both', impairment: { loss: 0 } }],
        graceMs: GRACE_MS
      }
    },
    read: (outcome, plan) => {
      const lossMs = plan.changes[0].atMs
      const s = steady(outcome, plan, lossMs)
      const start = outcome.flows[0].startMs
      const end = start + plan.flows[0].durationMs
      const tail = queuingDelay(outcome.probes, outcome.idleRttMs, start + lossMs, end)
      const tailGoodput = percentOfLink(goodputMbit(outcome.flows[0].received, start + lossMs, end), plan.link.bottleneck.rateMbit)
      return {
        ...s,
        other: tail == null ? 'no probes in the tail' : `no-loss tail: delay p50 ${tail.p50.toFixed(0)} / p95 ${tail.p95.toFixed(0)} ms, goodput ${tailGoodput.toFixed(1)} %`,
        figures: { tailP50: tail?.p50, tailP95: tail?.p95, tailGoodputPct: tailGoodput },
        targets: [check(`goodput >= ${minGoodput} %`, (s.goodputPct ?? 0) >= minGoodput)]
      }
    }
  })
}

const reorder = define({
  name: 'reorder',
  group: 4,
  title: '4: 50 Mbit/s, 10 ms one-way, 200 ms queue, 5 % reordering (+5 ms), 1 % duplication each way',
  stacks: ALL_STACKS,
  plan: (stack, quick) => ({
    link: link(FAST_LINK, { delayMs: 10, reorder: 0.05, reorderMs: 5, dup: 0.01 }),
    flows: [{ stack, startMs: 0, durationMs: quick ? 12_000 : 30_000 }],
    changes: [],
    graceMs: GRACE_MS
  }),
  read: (outcome, plan) => {
    const s = steady(outcome, plan)
    const exact = integrity(outcome.flows[0]) === 'byte-exact'
    return { ...s, targets: [check('byte-exact', exact), check('goodput >= 80 %', (s.goodputPct ?? 0) >= 80)] }
  }
})

export const SCENARIOS: readonly Scenario[] = [
  alone('alone', '1: 10 Mbit/s, 20 ms one-way, 500 ms queue, alone', ALL_STACKS, undefined,
    s => [check('goodput >= 95 %', (s.goodputPct ?? 0) >= 95), check('p95 <= 100 ms', s.delay != null && s.delay.p95 <= 100)]),
  alone('target60', '1: same, LEDBAT target 60 ms', ['utp'], 60,
    s => [check('goodput >= 90 %', (s.goodputPct ?? 0) >= 90)]),
  tcpJoins,
  randomLoss('loss1', 0.01, 40),
  randomLoss('loss5', 0.05, 10),
  reorder
]
