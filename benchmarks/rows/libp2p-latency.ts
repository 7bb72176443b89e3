/**
 * connect and rtt: one server process listening on every libp2p transport and one client process
 * with all of them, which takes turns between the transports (see each client's comment): many
 * dials (connect) or many 1-byte ping-pongs over one stream per transport (rtt). A line per
 * transport: median, min and max. Without a loadable quic package, or when the turns with quic
 * fail, the quic line says why and the others are measured without it.
 */

import { failed, measured, notMeasured } from '../lib/line.ts'
import { quicMissing } from '../lib/quic-install.ts'
import { median, summarize } from '../lib/stats.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'
import type { Line } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'
import type { ConnectTimings } from '../workers/libp2p-connect-client.ts'

const TRANSPORTS: Libp2pTransport[] = ['utp', 'tcp', 'quic']

interface LineSpec {
  key: string
  label: string
  unit: string
}

/**
 * Runs `client` against a server, both with every transport that loads, and makes each transport's
 * line from the client's `byTransport[transport]` result
 */
async function inTurns (client: string, args: object, spec: (t: Libp2pTransport) => LineSpec, toLine: (t: Libp2pTransport, result: any, others: string) => Line, options: BenchOptions): Promise<Line[]> {
  const quic = await quicMissing()
  let transports = TRANSPORTS.filter(t => t !== 'quic' || quic == null)
  const notRun = (t: Libp2pTransport, reason: string): Line => failed(spec(t).key, spec(t).label, spec(t).unit, reason)
  const skipped = quic == null ? [] : [notMeasured(spec('quic').key, spec('quic').label, spec('quic').unit, quic)]
  let byTransport: Record<string, unknown>
  try {
    byTransport = await runClient(transports, client, args, options)
  } catch (err: any) {
    if (!transports.includes('quic')) {
      return [...transports.map(t => notRun(t, String(err?.message ?? err))), ...skipped]
    }
    // quic, installed on demand, must not take the other lines with it: measure them without it
    skipped.push(notRun('quic', `with quic in the turns: ${String(err?.message ?? err)}`))
    transports = transports.filter(t => t !== 'quic')
    try {
      byTransport = await runClient(transports, client, args, options)
    } catch (err: any) {
      return [...transports.map(t => notRun(t, String(err?.message ?? err))), ...skipped]
    }
  }
  const lines = transports.map(t => toLine(t, byTransport[t], transports.filter(o => o !== t).join(' and ')))
  return [...lines, ...skipped]
}

async function runClient (transports: Libp2pTransport[], client: string, args: object, options: BenchOptions): Promise<Record<string, unknown>> {
  const server = new Worker('libp2p-server', { transport: transports })
  const workers = [server]
  try {
    const ready = await server.next('ready', options.runTimeoutMs)
    const worker = new Worker(client, { ...args, transports, addrs: ready.addrs })
    workers.push(worker)
    const result = await worker.next('result', options.runTimeoutMs)
    return result.byTransport as Record<string, unknown>
  } finally {
    await stopAll(workers)
  }
}

function p90 (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length * 0.9)]
}

export async function connect (options: BenchOptions): Promise<Line[]> {
  const spec = (t: Libp2pTransport): LineSpec => ({ key: `connect-${t}`, label: `connect (libp2p ${t})`, unit: 'ms' })
  const args = { dials: options.connectDials, warmup: options.connectWarmup }
  return inTurns('libp2p-connect-client', args, spec, (t, timings: ConnectTimings, others) => {
    const { ms, transportMs, warmupMs, afterOtherMs, closeErrors, closeError } = timings
    // where the time goes: the transport's connection; the rest is the dial queue's bookkeeping
    // and the upgrade (Noise, Yamux)
    const counted = transportMs.length === ms.length ? '' : ` (${transportMs.length} dials)`
    const split = transportMs.length > 0 ? `, transport connection ${median(transportMs).toFixed(2)} ms of it${counted}` : ''
    const afterOther = afterOtherMs.length === 0 ? '' : `; dials right after one of ${others}, not counted: median ${median(afterOtherMs).toFixed(2)} ms of ${afterOtherMs.length}`
    const closing = closeErrors > 0 ? `, closing failed after ${closeErrors} dials (not timed): ${closeError}` : ''
    const turns = others === '' ? '' : `, taking turns with ${others}`
    return measured(spec(t).key, spec(t).label, 'ms', ms, `median of ${ms.length} dials after ${warmupNote(warmupMs, 'ms', 2)}${turns}, p90 ${p90(ms).toFixed(2)} ms${split}${afterOther}${closing}`)
  }, options)
}

export async function rtt (options: BenchOptions): Promise<Line[]> {
  const spec = (t: Libp2pTransport): LineSpec => ({ key: `rtt-${t}`, label: `rtt (libp2p ${t}, 1 B)`, unit: 'us' })
  const args = { pings: options.rttPings, warmup: options.rttWarmup }
  return inTurns('libp2p-rtt-client', args, spec, (t, { us, warmupUs }: { us: number[], warmupUs: number[] }, others) => {
    const turns = others === '' ? '' : `, taking turns with ${others}`
    return measured(spec(t).key, spec(t).label, 'us', us, `median of ${us.length} ping-pongs after ${warmupNote(warmupUs, 'us', 0)}${turns}, p90 ${p90(us).toFixed(0)} us, mean ${mean(us).toFixed(0)} us`)
  }, options)
}

/** "2000 of warm-up (their median 198 us)" */
function warmupNote (warmup: unknown, unit: string, digits: number): string {
  const values = Array.isArray(warmup) ? warmup as number[] : []
  return values.length === 0 ? 'no warm-up' : `${values.length} of warm-up (their median ${median(values).toFixed(digits)} ${unit})`
}

function mean (values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / summarize(values).n
}
