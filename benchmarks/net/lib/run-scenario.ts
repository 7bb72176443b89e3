/**
 * Runs one scenario with one stack: the experiment, its reading into a row, and a compact record
 * of the raw timeline for the JSON file. A run that fails becomes a row that says why.
 */

import { runExperiment } from './experiment.ts'
import { binnedMbit } from './timeline.ts'
import type { ExperimentOutcome, ExperimentPlan } from './experiment.ts'
import type { NetRow } from './row.ts'
import type { Scenario } from './scenarios.ts'
import type { Stack } from './stacks.ts'

const TIMELINE_BIN_MS = 100

export interface RawRun {
  idleRttMs: number
  /** when each answered probe was sent (ms from the first flow's start) and its queuing delay (ms) */
  probes: { sentMs: number[], delayMs: number[] }
  probesSent: number
  /** per flow: goodput in Mbit/s in 100 ms bins from the first flow's start */
  flows: Array<{ stack: Stack, startS: number, mbit: number[], sent?: unknown }>
  emulator: Record<string, unknown>
  emulatorRealtime: boolean
}

export interface ScenarioResult {
  row: NetRow
  plan: ExperimentPlan
  seconds: number
  raw?: RawRun
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits))

function compact (outcome: ExperimentOutcome): RawRun {
  const origin = outcome.flows[0].startMs
  const end = Math.max(...outcome.flows.map(f => f.received.lastByteMs ?? origin))
  return {
    idleRttMs: round(outcome.idleRttMs, 2),
    probes: {
      sentMs: outcome.probes.map(([sent]) => round(sent - origin, 1)),
      delayMs: outcome.probes.map(([, rtt]) => round(rtt - outcome.idleRttMs, 2))
    },
    probesSent: outcome.probesSent,
    flows: outcome.flows.map(f => ({
      stack: f.plan.stack,
      startS: round((f.startMs - origin) / 1000, 3),
      mbit: binnedMbit(f.received, origin, end + TIMELINE_BIN_MS, TIMELINE_BIN_MS).map(x => round(x, 2)),
      sent: f.sent
    })),
    emulator: outcome.emulator,
    emulatorRealtime: outcome.realtime
  }
}

export async function runScenario (scenario: Scenario, stack: Stack, quick: boolean): Promise<ScenarioResult> {
  const started = performance.now()
  const plan = scenario.plan(stack, quick)
  const seconds = (): number => (performance.now() - started) / 1000
  try {
    const outcome = await runExperiment(plan)
    return { row: scenario.evaluate(stack, outcome, plan), plan, seconds: seconds(), raw: compact(outcome) }
  } catch (err: any) {
    const failure = String(err?.message ?? err)
    const row: NetRow = { scenario: scenario.name, title: scenario.title, stack, other: '', figures: {}, targets: [], notes: [], failure }
    return { row, plan, seconds: seconds() }
  }
}
