/**
 * many: one server process with one UtpSocket, and a few client processes, each with one
 * UtpSocket dialling many connections to the server's port. First the server's resident memory
 * per idle connection ((RSS after - RSS before) / N, both after garbage collection), then some of
 * those connections each move 64 KiB to the server at once: the time until the server has it all.
 */

import { failed, failureNote, measured, repeat } from '../lib/line.ts'
import { median } from '../lib/stats.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Line } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'

const KiB = 1024
const MOVE_BYTES = 64 * KiB
/** dials each client process keeps in flight (the server accepts 1,024 half-open at a time) */
const DIAL_CONCURRENCY = 100

interface ManyRun {
  connections: number
  rssPerConnKiB: number
  heapPerConnKiB: number
  moveMs: number
}

/** splits n into k near-equal parts */
function split (n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0))
}

async function once (options: BenchOptions): Promise<ManyRun> {
  const { manyIdle: idle, manyMoving: moving, runTimeoutMs } = options
  const server = new Worker('many-server', { expected: idle, timeoutMs: runTimeoutMs }, { nodeArgs: ['--expose-gc'] })
  const workers = [server]
  try {
    const ready = await server.next('ready', runTimeoutMs)
    const clients = split(idle, options.manyClients).map(count => new Worker('many-client', { port: ready.port, count, concurrency: DIAL_CONCURRENCY }))
    workers.push(...clients)
    const connected = await Promise.all(clients.map(async c => c.next('connected', runTimeoutMs)))
    const failures = connected.reduce((n, m) => n + Number(m.failed), 0)
    if (failures > 0) {
      throw new Error(`${failures} of ${idle} dials failed: ${connected.map(m => String(m.lastError)).filter(s => s !== '')[0]}`)
    }
    server.send({ type: 'measure' })
    const m = await server.next('measured', runTimeoutMs)
    const before = m.before as NodeJS.MemoryUsage
    const after = m.after as NodeJS.MemoryUsage
    const n = Number(m.connections)

    server.send({ type: 'move', bytes: moving * MOVE_BYTES })
    const shares = split(moving, clients.length)
    clients.forEach((c, i) => { c.send({ type: 'move', connections: shares[i], bytes: MOVE_BYTES }) })
    const started = await Promise.all(clients.map(async c => c.next('started', runTimeoutMs)))
    const moved = await server.next('moved', runTimeoutMs)
    const startMs = Math.min(...started.map(s => Number(s.startMs)))
    return {
      connections: n,
      rssPerConnKiB: (after.rss - before.rss) / n / KiB,
      heapPerConnKiB: (after.heapUsed - before.heapUsed) / n / KiB,
      moveMs: Number(moved.endMs) - startMs
    }
  } finally {
    await stopAll(workers)
  }
}

export async function many (options: BenchOptions): Promise<Line[]> {
  const { manyIdle: idle, manyMoving: moving } = options
  const memLabel = `many: memory per idle conn (${idle.toLocaleString('en')})`
  const moveLabel = `many: ${moving.toLocaleString('en')} conns x 64 KiB`
  const r = await repeat(options.runs, async () => once(options))
  if (r.ok.length === 0) {
    return [failed('many-memory', memLabel, 'KiB', r.failures[0]), failed('many-move', moveLabel, 'ms', r.failures[0])]
  }
  const fail = failureNote(r)
  const moveMs = median(r.ok.map(x => x.moveMs))
  return [
    measured('many-memory', memLabel, 'KiB', r.ok.map(x => x.rssPerConnKiB),
      [`server RSS; JS heap ${median(r.ok.map(x => x.heapPerConnKiB)).toFixed(1)} KiB/conn`, `${options.manyClients} client processes`, fail].filter(s => s !== '').join(', '), r.ok),
    measured('many-move', moveLabel, 'ms', r.ok.map(x => x.moveMs),
      [`${(moving * MOVE_BYTES / (moveMs / 1000) / 1e6).toFixed(0)} MB/s aggregate, all ${idle.toLocaleString('en')} open`, fail].filter(s => s !== '').join(', '))
  ]
}
