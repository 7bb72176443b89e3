/**
 * connect and rtt: a server process and a client process; the client times many dials (connect:
 * one pair of processes for all transports, their dials interleaved) or many 1-byte ping-pongs
 * over one stream (rtt: a pair per transport) and the row reports their median, min and max.
 * Without a loadable quic package the quic lines are not measured.
 */

import { failed, measured, notMeasured } from '../lib/line.ts'
import { quicMissing } from '../lib/quic-install.ts'
import { median, summarize } from '../lib/stats.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Line } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'

interface ClientResult {
  /** what else the client said worth a note */
  extra: string
  /** the client's whole result */
  result: Record<string, any>
}

interface Timings extends ClientResult {
  values: number[]
}

async function runClient (transport: Libp2pTransport | Libp2pTransport[], client: string, args: object, options: BenchOptions): Promise<ClientResult> {
  const server = new Worker('libp2p-server', { transport })
  const workers = [server]
  try {
    const ready = await server.next('ready', options.runTimeoutMs)
    const worker = new Worker(client, { transport, addr: ready.addr, addrs: ready.addrs, ...args })
    workers.push(worker)
    const result = await worker.next('result', options.runTimeoutMs)
    const closeErrors = Number(result.closeErrors ?? 0)
    const extra = closeErrors > 0 ? `closing failed after ${closeErrors} dials (not timed): ${String(result.closeError)}` : ''
    return { extra, result }
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

export const CONNECT_TRANSPORTS: Libp2pTransport[] = ['utp', 'tcp', 'quic']

/**
 * One server listening on every transport and one client dialling them in turn (see the client's
 * comment): a line per transport. Without a loadable quic package the others are still measured.
 */
export async function connect (options: BenchOptions): Promise<Line[]> {
  const key = (t: Libp2pTransport): string => `connect-${t}`
  const label = (t: Libp2pTransport): string => `connect (libp2p ${t})`
  const quic = await quicMissing()
  let transports = CONNECT_TRANSPORTS.filter(t => t !== 'quic' || quic == null)
  const skipped = quic == null ? [] : [notMeasured(key('quic'), label('quic'), 'ms', quic)]
  const args = { dials: options.connectDials, warmup: options.connectWarmup }
  let client: ClientResult
  try {
    client = await runClient(transports, 'libp2p-connect-client', { ...args, transports }, options)
  } catch (err: any) {
    if (!transports.includes('quic')) {
      return [...transports.map(t => failed(key(t), label(t), 'ms', String(err?.message ?? err))), ...skipped]
    }
    // quic, installed on demand, must not take the other lines with it: measure them without it
    skipped.push(failed(key('quic'), label('quic'), 'ms', `with quic in the turns: ${String(err?.message ?? err)}`))
    transports = transports.filter(t => t !== 'quic')
    try {
      client = await runClient(transports, 'libp2p-connect-client', { ...args, transports }, options)
    } catch (err: any) {
      return [...transports.map(t => failed(key(t), label(t), 'ms', String(err?.message ?? err))), ...skipped]
    }
  }
  const lines = transports.map(t => {
    const { ms, transportMs, warmupMs, afterOtherMs, closeErrors, closeError } = client.result.byTransport[t] as ConnectTimings
    // where the time goes: the transport's connection; the rest is the dial queue's bookkeeping
    // and the upgrade (Noise, Yamux)
    const counted = transportMs.length === ms.length ? '' : ` (${transportMs.length} dials)`
    const split = transportMs.length > 0 ? `, transport connection ${median(transportMs).toFixed(2)} ms of it${counted}` : ''
    const others = transports.filter(o => o !== t).join(' and ')
    const afterOther = afterOtherMs.length === 0 ? '' : `; dials right after one of ${others}, not counted: median ${median(afterOtherMs).toFixed(2)} ms of ${afterOtherMs.length}`
    const closing = closeErrors > 0 ? `, closing failed after ${closeErrors} dials (not timed): ${closeError}` : ''
    const turns = transports.length > 1 ? `, taking turns with ${others}` : ''
    return measured(key(t), label(t), 'ms', ms, `median of ${ms.length} dials after ${warmupNote(warmupMs, 'ms', 2)}${turns}, p90 ${p90(ms).toFixed(2)} ms${split}${afterOther}${closing}`)
  })
  return [...lines, ...skipped]
}

interface ConnectTimings {
  ms: number[]
  transportMs: number[]
  warmupMs: number[]
  afterOtherMs: number[]
  closeErrors: number
  closeError: string
}

export async function rtt (transport: Libp2pTransport, options: BenchOptions): Promise<Line> {
  const pings = options.rttPings
  return row(transport, `rtt-${transport}`, `rtt (libp2p ${transport}, 1 B)`, 'us',
    async () => {
      const client = await runClient(transport, 'libp2p-rtt-client', { pings, warmup: options.rttWarmup }, options)
      return { ...client, values: client.result.us as number[] }
    },
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
