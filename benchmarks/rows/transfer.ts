/**
 * The shape shared by every throughput row: a receiver process reports `ready`, a sender process
 * is started with what it said, the sender reports `done` {startMs, cpu} and the receiver
 * `result` {bytes, endMs, cpu}. Throughput is the bytes over the time from the sender's first
 * write to the receiver reading the end (both wall clocks of this machine).
 *
 * Both workers get `warmupBytes` in their settings: before the timed transfer they move that much
 * over a connection (libp2p: a stream) of its own and report `warmup` in the same shape (sender
 * {startMs}, receiver {bytes, endMs}); its MB/s is kept as the run's `warmupMbPerSecond`.
 */

import { failed, failureNote, measured, repeat } from '../lib/line.ts'
import { median } from '../lib/stats.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Message } from '../lib/channel.ts'
import type { GcCounts } from '../lib/gc-count.ts'
import type { Line, Repeated } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'

const MiB = 1024 ** 2
const GiB = 1024 ** 3

export interface TransferSpec {
  key: string
  label: string
  receiver: { script: string, args: object }
  sender(ready: Message): { script: string, args: object }
  /** extra details for the table, from the runs that worked */
  note?(runs: TransferRun[]): string
}

export interface TransferRun {
  mbPerSecond: number
  /** the untimed warm-up transfer's own speed, in a fresh process pair */
  warmupMbPerSecond?: number
  seconds: number
  /** CPU seconds per GiB moved */
  senderCpuPerGiB: number
  receiverCpuPerGiB: number
  /** garbage collections over the same spans as the CPU figures, where the worker counts them */
  senderGc?: GcCounts
  receiverGc?: GcCounts
  sender: Message
  receiver: Message
}

export interface TransferOutcome {
  line: Line
  runs: Repeated<TransferRun>
}

/** The two reports of one transfer and its seconds from the sender's first write to the receiver's end */
async function timedTransfer (sender: Worker, receiver: Worker, types: [sender: string, receiver: string], expected: number, options: BenchOptions): Promise<{ done: Message, result: Message, seconds: number }> {
  const [done, result] = await Promise.all([
    sender.next(types[0], options.runTimeoutMs),
    receiver.next(types[1], options.runTimeoutMs)
  ])
  const bytes = Number(result.bytes)
  if (bytes !== expected) {
    throw new Error(`${types[1]}: received ${bytes} bytes, expected ${expected}`)
  }
  return { done, result, seconds: (Number(result.endMs) - Number(done.startMs)) / 1000 }
}

async function once (spec: TransferSpec, options: BenchOptions): Promise<TransferRun> {
  const warmupBytes = options.transferWarmupBytes
  const receiver = new Worker(spec.receiver.script, { ...spec.receiver.args, warmupBytes })
  const workers = [receiver]
  try {
    const ready = await receiver.next('ready', options.runTimeoutMs)
    const s = spec.sender(ready)
    const sender = new Worker(s.script, { ...s.args, warmupBytes })
    workers.push(sender)
    const warmup = warmupBytes > 0 ? await timedTransfer(sender, receiver, ['warmup', 'warmup'], warmupBytes, options) : undefined
    const { done, result, seconds } = await timedTransfer(sender, receiver, ['done', 'result'], options.transferBytes, options)
    if (warmup != null && Number(done.startMs) < Number(warmup.result.endMs)) {
      throw new Error('the timed transfer started before the warm-up had arrived')
    }
    const bytes = options.transferBytes
    return {
      mbPerSecond: bytes / seconds / 1e6,
      warmupMbPerSecond: warmup != null ? warmupBytes / warmup.seconds / 1e6 : undefined,
      seconds,
      senderCpuPerGiB: Number(done.cpu) / (bytes / GiB),
      receiverCpuPerGiB: Number(result.cpu) / (bytes / GiB),
      senderGc: done.gc as GcCounts | undefined,
      receiverGc: result.gc as GcCounts | undefined,
      sender: done,
      receiver: result
    }
  } finally {
    await stopAll(workers)
  }
}

/** "after 64 MiB of warm-up (at 251 MB/s)" */
function warmupSpeedNote (runs: TransferRun[], options: BenchOptions): string {
  const speeds = runs.map(r => r.warmupMbPerSecond).filter(x => x != null)
  if (speeds.length === 0) {
    return 'no warm-up'
  }
  return `after ${options.transferWarmupBytes / MiB} MiB of warm-up (at ${median(speeds).toFixed(0)} MB/s)`
}

export async function transfer (spec: TransferSpec, options: BenchOptions): Promise<TransferOutcome> {
  const runs = await repeat(options.runs, async () => once(spec, options))
  if (runs.ok.length === 0) {
    return { line: failed(spec.key, spec.label, 'MB/s', runs.failures[0]), runs }
  }
  const note = [spec.note?.(runs.ok) ?? '', warmupSpeedNote(runs.ok, options), failureNote(runs)].filter(s => s !== '').join(', ')
  return { line: measured(spec.key, spec.label, 'MB/s', runs.ok.map(r => r.mbPerSecond), note, runs.ok), runs }
}
