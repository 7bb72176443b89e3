/**
 * connect and rtt: for each libp2p transport, a server process and a client process; the client
 * times many dials (connect) or many 1-byte ping-pongs over one stream (rtt) and the row reports
 * their median, min and max. Without a loadable quic package the quic lines are not measured.
 */

import { failed, measured, notMeasured } from '../lib/line.ts'
import { quicMissing } from '../lib/quic-install.ts'
import { median, summarize } from '../lib/stats.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Line } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'

interface Timings {
  values: number[]
  /** what else the client said worth a note */
  extra: string
  /** the client's whole result */
  result: Record<string, unknown>
}

async function timings (transport: Libp2pTransport, client: string, args: object, field: string, options: BenchOptions): Promise<Timings> {
  const server = new Worker('libp2p-server', { transport })
  const workers = [server]
  try {
    const ready = await server.next('ready', options.runTimeoutMs)
    const worker = new Worker(client, { transport, addr: ready.addr, ...args })
    workers.push(worker)
    const result = await worker.next('result', options.runTimeoutMs)
    const closeErrors = Number(result.closeErrors ?? 0)
    const extra = closeErrors > 0 ? `closing failed after ${closeErrors} dials (not timed): ${String(result.closeError)}` : ''
    return { values: result[field] as number[], extra, result }
  } finally {
    await stopAll(workers)
  }
}

async function row (transport: Libp2pTransport, key: string, label: string, unit: string, measure: () => Promise<Timings>, note: (timings: Timings) => string): Promise<Line> {
  const missing = transport === 'quic' ? await quicMissing() : undefined
  if (missing != null) {
    return notMeasured(key, label, unit, missing)
  }
  try {
    const timings = await measure()
    return measured(key, label, unit, timings.values, [note(timings), timings.extra].filter(s => s !== '').join(', '))
  } catch (err: any) {
    return failed(key, label, unit, String(err?.message ?? err))
  }
}

function p90 (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length * 0.9)]
}

export async function connect (transport: Libp2pTransport, options: BenchOptions): Promise<Line> {
  const dials = options.connectDials
  return row(transport, `connect-${transport}`, `connect (libp2p ${transport})`, 'ms',
    async () => timings(transport, 'libp2p-connect-client', { dials, warmup: options.connectWarmup }, 'ms', options),
    ({ values: ms, result }) => {
      const transportMs = (result.transportMs as number[] | undefined) ?? []
      // where the time goes: the transport's connection; the rest is the dial queue's bookkeeping
      // and the upgrade (Noise, Yamux)
      const counted = transportMs.length === ms.length ? '' : ` (${transportMs.length} dials)`
      const split = transportMs.length > 0 ? `, transport connection ${median(transportMs).toFixed(2)} ms of it${counted}` : ''
      return `median of ${ms.length} dials after ${warmupNote(result.warmupMs, 'ms', 2)}, p90 ${p90(ms).toFixed(2)} ms${split}`
    })
}

export async function rtt (transport: Libp2pTransport, options: BenchOptions): Promise<Line> {
  const pings = options.rttPings
  return row(transport, `rtt-${transport}`, `rtt (libp2p ${transport}, 1 B)`, 'us',
    async () => timings(transport, 'libp2p-rtt-client', { pings, warmup: options.rttWarmup }, 'us', options),
    ({ values: us, result }) => `median of ${us.length} ping-pongs after ${warmupNote(result.warmupUs, 'us', 0)}, p90 ${p90(us).toFixed(0)} us, mean ${summarizeMean(us).toFixed(0)} us`)
}

/** "2000 of warm-up (their median 198 us)" */
function warmupNote (warmup: unknown, unit: string, digits: number): string {
  const values = Array.isArray(warmup) ? warmup as number[] : []
  return values.length === 0 ? 'no warm-up' : `${values.length} of warm-up (their median ${median(values).toFixed(digits)} ${unit})`
}

function summarizeMean (values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / summarize(values).n
}
