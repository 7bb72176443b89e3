/**
 * `npm run bench [-- --quick] [-- --only=row,row] [-- --cpu-prof]`: runs every row of the
 * benchmark suite (each measured side in its own process), prints the results and the issue's
 * target ratios as tables and writes them to benchmarks/results/<timestamp>.json. A row that
 * cannot run prints "failed: <reason>" and the others go on. With `--cpu-prof`, every Node worker
 * writes a CPU profile under benchmarks/results/profiles-<timestamp>/ and a table says where each
 * one's main thread spent its time. See README.md beside this file.
 */

import { fileURLToPath } from 'node:url'
import { summarizeProfiles } from './lib/cpu-profile.ts'
import { failed } from './lib/line.ts'
import { describeMachine, machineInfo } from './lib/machine.ts'
import { parseOptions } from './lib/options.ts'
import { writeResults } from './lib/results.ts'
import { linesTable, profilesTable, targetsTable } from './lib/table.ts'
import { evaluateTargets } from './lib/targets.ts'
import { profiling } from './lib/worker.ts'
import { cpu } from './rows/cpu.ts'
import { libp2pBulk, libp2pTcpCutReads } from './rows/libp2p-bulk.ts'
import { connect, rtt } from './rows/libp2p-latency.ts'
import { libutpRaw } from './rows/libutp-raw.ts'
import { many } from './rows/many.ts'
import { udpLimit, udpLimitLoaded } from './rows/udp-limit.ts'
import { utpRaw } from './rows/utp-raw.ts'
import type { Line } from './lib/line.ts'
import type { TransferOutcome } from './rows/transfer.ts'

export const ROWS = ['udp-limit', 'udp-limit-loaded', 'utp-raw', 'libutp-raw', 'libp2p-utp', 'libp2p-tcp', 'libp2p-tcp-cut', 'libp2p-quic', 'utp-raw-loopback', 'libp2p-utp-loopback', 'connect', 'rtt', 'many', 'cpu']

const options = parseOptions(process.argv.slice(2))
const unknown = options.only.filter(r => !ROWS.includes(r))
if (unknown.length > 0) {
  process.stderr.write(`unknown rows: ${unknown.join(', ')}; rows are ${ROWS.join(', ')}\n`)
  process.exit(2)
}
const started = performance.now()
const date = new Date().toISOString()
const machine = machineInfo()
const lines: Line[] = []
const profileDir = options.cpuProf ? fileURLToPath(new URL(`results/profiles-${date.replace(/[:.]/g, '-')}`, import.meta.url)) : undefined
profiling.dir = profileDir

function wanted (row: string): boolean {
  return options.only.length === 0 || options.only.includes(row)
}

function progress (message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(4)
  process.stderr.write(`[${seconds} s] ${message}\n`)
}

/** Runs one row; whatever it throws becomes a failed line, so the suite goes on */
async function step<T> (row: string, run: () => Promise<T>, toLines: (out: T) => Line[], unit: string): Promise<T | undefined> {
  if (!wanted(row)) {
    return undefined
  }
  progress(`${row}...`)
  profiling.row = row
  try {
    const out = await run()
    lines.push(...toLines(out))
    return out
  } catch (err: any) {
    lines.push(failed(row, row, unit, String(err?.message ?? err)))
    return undefined
  }
}

const transferLine = (o: TransferOutcome): Line[] => [o.line]

process.stderr.write(`libp2p-utp benchmarks${options.quick ? ' (quick)' : ''} on ${describeMachine(machine)}\n`)
const bareUdp = await step('udp-limit', async () => udpLimit(options), l => l, 'MB/s')
await step('udp-limit-loaded', async () => udpLimitLoaded(options, bareUdp), l => l, 'MB/s')
const utp = await step('utp-raw', async () => utpRaw(options), transferLine, 'MB/s')
const libutp = await step('libutp-raw', async () => libutpRaw(options), transferLine, 'MB/s')
const p2pUtp = await step('libp2p-utp', async () => libp2pBulk('utp', options), transferLine, 'MB/s')
const p2pTcp = await step('libp2p-tcp', async () => libp2pBulk('tcp', options), transferLine, 'MB/s')
// a reference: libp2p working through as many chunks as over uTP, the transport in the kernel
// (lib/cut-reads.ts); the estimate of what libp2p can reach over node:dgram starts there (ANALYSIS.md)
const p2pTcpCut = await step('libp2p-tcp-cut', async () => libp2pTcpCutReads(options, p2pTcp), transferLine, 'MB/s')
// quic rows install @chainsafe/libp2p-quic on first use, or print `not measured` with the reason
await step('libp2p-quic', async () => libp2pBulk('quic', options), transferLine, 'MB/s')
// the separate loopback-MTU rows: path MTU probing lets uTP use datagrams up to 65,507 bytes
const utpLoopback = await step('utp-raw-loopback', async () => utpRaw(options, true), transferLine, 'MB/s')
const p2pUtpLoopback = await step('libp2p-utp-loopback', async () => libp2pBulk('utp', options, true), transferLine, 'MB/s')
await step('connect', async () => connect(options), l => l, 'ms')
await step('rtt', async () => rtt(options), l => l, 'us')
await step('many', async () => many(options), l => l, 'KiB')
await step('cpu', async () => cpu([
  { key: 'utp-raw', label: 'utp raw', outcome: utp, reference: { label: 'libutp raw', outcome: libutp } },
  { key: 'libp2p-utp', label: 'libp2p utp', outcome: p2pUtp, reference: { label: 'libp2p tcp', outcome: p2pTcp } },
  { key: 'libp2p-tcp-cut', label: 'libp2p tcp, reads cut', outcome: p2pTcpCut, reference: { label: 'libp2p tcp', outcome: p2pTcp } },
  { key: 'utp-raw-loopback', label: 'utp raw, loopback MTU', outcome: utpLoopback, reference: { label: 'libutp raw', outcome: libutp } },
  { key: 'libp2p-utp-loopback', label: 'libp2p utp, loopback MTU', outcome: p2pUtpLoopback, reference: { label: 'libp2p tcp', outcome: p2pTcp } }
]), l => l, 's/GiB')

const targets = evaluateTargets(lines)
const durationSeconds = (performance.now() - started) / 1000
progress('done')
process.stdout.write(`\n${describeMachine(machine)}; ${options.quick ? 'quick: 1 run each' : `median of ${options.runs} runs`}; MB/s = 10^6 bytes/s\n\n`)
process.stdout.write(`${linesTable(lines)}\n\n${targetsTable(targets)}\n\n`)
const profiles = profileDir == null ? undefined : await summarizeProfiles(profileDir)
if (profiles != null) {
  process.stdout.write(`main-thread time of each worker, start-up and idle left out (profiles in ${profileDir}):\n\n${profilesTable(profiles)}\n\n`)
}
const path = await writeResults({ date, durationSeconds, machine, options, lines, targets, profiles })
process.stdout.write(`results: ${path} (${durationSeconds.toFixed(0)} s)\n`)
