/**
 * One line of the network bench's table: a scenario run with one stack, its figures, the targets
 * it was held to (ours only; libutp and TCP are references) and notes on what else was seen.
 */

import { bytesBetween, longestStallMs } from './timeline.ts'
import type { ExperimentOutcome, FlowOutcome } from './experiment.ts'
import type { Stack } from './stacks.ts'
import type { DelaySummary } from './timeline.ts'

/** the emulator's timing is worth a note when more packets than this come out over 1 ms late */
const LATE_SHARE_WORTH_NOTING = 0.001

export interface TargetCheck {
  requirement: string
  met: boolean
}

export interface NetRow {
  scenario: string
  title: string
  stack: Stack
  /** goodput in the measured window, % of the bottleneck rate */
  goodputPct?: number
  /** queuing delay in the measured window, ms */
  delay?: DelaySummary
  /** scenario-specific figures, as printed */
  other: string
  /** 'byte-exact' or what went wrong, for the main flow */
  integrity?: string
  /** scenario-specific figures, for the JSON file */
  figures: Record<string, number | boolean | string | undefined>
  targets: TargetCheck[]
  notes: string[]
  /** a run that produced no figures */
  failure?: string
}

export function check (requirement: string, met: boolean): TargetCheck {
  return { requirement, met }
}

export function percentOfLink (mbit: number, rateMbit: number): number {
  return mbit / rateMbit * 100
}

/** 'byte-exact', or what went wrong */
export function integrity (flow: FlowOutcome): string {
  if (!flow.received.ended) {
    return `did not end (${(flow.received.bytes / 1e6).toFixed(1)} MB received)`
  }
  if (flow.sent == null) {
    return 'sender did not finish'
  }
  if (flow.sent.bytes !== flow.received.bytes || flow.sent.sha256 !== flow.received.sha256) {
    return `NOT byte-exact (sent ${flow.sent.bytes} B, received ${flow.received.bytes} B)`
  }
  return 'byte-exact'
}

/** Notes every row gets: stalls, our engine's counters, what the emulator did */
export function commonNotes (outcome: ExperimentOutcome, flow: FlowOutcome, fromMs: number, toMs: number): string[] {
  const notes: string[] = []
  const stall = longestStallMs(flow.received, fromMs, toMs)
  if (stall >= 500) {
    notes.push(`longest stall ${(stall / 1000).toFixed(1)} s`)
  }
  if (bytesBetween(flow.received, fromMs, toMs) === 0) {
    notes.push('nothing received in the measured window')
  }
  const s = flow.sent?.stats
  if (s != null) {
    notes.push(`retransmits ${s.retransmits} (fast ${s.fastRetransmits}, timeouts ${s.timeouts}, spurious ${s.spuriousRetransmits}, tail probes ${s.tailProbes}), window cuts ${s.windowCuts}`)
  }
  const e = outcome.emulator as Record<string, Record<string, number> | undefined>
  const ab = e.ab
  if (ab != null && (ab.lost > 0 || ab.duplicated > 0 || ab.reordered > 0)) {
    notes.push(`emulator A->B: ${ab.in} in, ${ab.lost} lost, ${ab.duplicated} duplicated, ${ab.reordered} reordered`)
  }
  const late = (e.ab?.late1ms ?? 0) + (e.ba?.late1ms ?? 0)
  const out = (e.ab?.out ?? 0) + (e.ba?.out ?? 0)
  if (late > out * LATE_SHARE_WORTH_NOTING || !outcome.realtime) {
    notes.push(`emulator: ${(late / out * 100).toFixed(2)} % of packets released over 1 ms late${outcome.realtime ? '' : ' (no real-time priority)'}`)
  }
  return notes
}
