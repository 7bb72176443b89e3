/**
 * The shape shared by every throughput row: a receiver process reports `ready`, a sender process
 * is started with what it said, the sender reports `done` {startMs, cpu} and the receiver
 * `result` {bytes, endMs, cpu}. Throughput is the bytes over the time from the sender's first
 * write to the receiver reading the end (both wall clocks of this machine).
 */

import { failed, failureNote, measured, repeat } from '../lib/line.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Message } from '../lib/channel.ts'
import type { Line, Repeated } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'

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
  seconds: number
  /** CPU seconds per GiB moved */
  senderCpuPerGiB: number
  receiverCpuPerGiB: number
  sender: Message
  receiver: Message
}

export interface TransferOutcome {
  line: Line
  runs: Repeated<TransferRun>
}

async function once (spec: TransferSpec, options: BenchOptions): Promise<TransferRun> {
  const receiver = new Worker(spec.receiver.script, spec.receiver.args)
  const workers = [receiver]
  try {
    const ready = await receiver.next('ready', options.runTimeoutMs)
    const s = spec.sender(ready)
    const sender = new Worker(s.script, s.args)
    workers.push(sender)
    const [done, result] = await Promise.all([
      sender.next('done', options.runTimeoutMs),
      receiver.next('result', options.runTimeoutMs)
    ])
    const bytes = Number(result.bytes)
    if (bytes !== options.transferBytes) {
      throw new Error(`received ${bytes} bytes, expected ${options.transferBytes}`)
    }
    const seconds = (Number(result.endMs) - Number(done.startMs)) / 1000
    return {
      mbPerSecond: bytes / seconds / 1e6,
      seconds,
      senderCpuPerGiB: Number(done.cpu) / (bytes / GiB),
      receiverCpuPerGiB: Number(result.cpu) / (bytes / GiB),
      sender: done,
      receiver: result
    }
  } finally {
    await stopAll(workers)
  }
}

export async function transfer (spec: TransferSpec, options: BenchOptions): Promise<TransferOutcome> {
  const runs = await repeat(options.runs, async () => once(spec, options))
  if (runs.ok.length === 0) {
    return { line: failed(spec.key, spec.label, 'MB/s', runs.failures[0]), runs }
  }
  const note = [spec.note?.(runs.ok) ?? '', failureNote(runs)].filter(s => s !== '').join(', ')
  return { line: measured(spec.key, spec.label, 'MB/s', runs.ok.map(r => r.mbPerSecond), note, runs.ok), runs }
}
