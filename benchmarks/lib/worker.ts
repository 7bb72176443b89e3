/**
 * The runner side of a worker process: spawns `process.execPath` on a script in ../workers/ (or
 * another directory) with its settings as one JSON argument, optionally inside a network
 * namespace, reads its JSON-line reports from stdout and sends it commands on stdin. Each report
 * is taken once, by the first wait for its type. Every wait has a deadline; a worker that fails
 * says why (its 'error' report or the end of its stderr).
 */

import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonLinesChild } from './json-lines-child.ts'
import type { Message } from './channel.ts'

export interface WorkerOptions {
  /** extra flags for node, such as --expose-gc */
  nodeArgs?: string[]
  /** directory of the script (default: ../workers/) */
  dir?: URL
  /** run inside this network namespace (`ip netns exec`, which execs the command: same pid) */
  netns?: string
  /** a program speaking the same JSON lines, run instead of a Node script (`script` names it) */
  command?: string[]
}

/**
 * Set by the runner with `--cpu-prof`: each Node worker started from then on writes a V8 CPU
 * profile into a directory of its own under `dir`, named after `row` and its script
 */
export const profiling: { dir?: string, row: string } = { row: '' }
let profiled = 0

function profileArgs (script: string): string[] {
  if (profiling.dir == null) {
    return []
  }
  const name = `${String(++profiled).padStart(3, '0')}-${profiling.row}-${script}`
  return ['--cpu-prof', `--cpu-prof-dir=${join(profiling.dir, name)}`]
}

interface Waiter {
  type: string
  resolve(message: Message): void
  reject(err: Error): void
}

export class Worker extends JsonLinesChild {
  private readonly queued: Message[] = []
  private readonly waiters = new Set<Waiter>()

  constructor (script: string, args: object, options: WorkerOptions = {}) {
    const path = fileURLToPath(new URL(`${script}.ts`, options.dir ?? new URL('../workers/', import.meta.url)))
    let argv = options.command ?? [process.execPath, ...(options.nodeArgs ?? []), ...profileArgs(script), '--disable-warning=ExperimentalWarning', path, JSON.stringify(args)]
    if (options.netns != null) {
      argv = ['ip', 'netns', 'exec', options.netns, ...argv]
    }
    super(script, argv, { stderrTail: 2_000, stopGraceMs: 2_000 })
  }

  /** The next report of this type; rejects on the worker's error report, its exit or the deadline */
  async next (type: string, timeoutMs: number): Promise<Message> {
    const index = this.queued.findIndex(m => m.type === type)
    if (index >= 0) {
      return this.queued.splice(index, 1)[0]
    }
    if (this.failure != null) {
      throw this.failure
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`${this.name}: no '${type}' within ${(timeoutMs / 1000).toFixed(0)} s`))
      }, timeoutMs)
      const waiter: Waiter = {
        type,
        resolve: (m) => { clearTimeout(timer); resolve(m) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      }
      this.waiters.add(waiter)
    })
  }

  protected onMessage (message: Message): void {
    if (message.type === 'error') {
      this.fail(new Error(`${this.name}: ${String(message.message)}`))
      return
    }
    for (const waiter of this.waiters) {
      if (waiter.type === message.type) {
        this.waiters.delete(waiter)
        waiter.resolve(message)
        return
      }
    }
    this.queued.push(message)
  }

  protected rejectWaiters (err: Error): void {
    for (const waiter of this.waiters) {
      waiter.reject(err)
    }
    this.waiters.clear()
  }

  protected describeStderr (): string {
    const lines = this.stderrLines()
    // the error's own line says most; a stack or Node's banner says little
    const error = lines.find(l => /^[\w.]*(Error|Exception)\b/.test(l))
    const line = error ?? lines.at(-1)
    return line == null ? '' : `: ${line.slice(0, 300)}`
  }
}

/** Stops every worker, whatever state it is in */
export async function stopAll (workers: Worker[]): Promise<void> {
  await Promise.all(workers.map(async (w) => { await w.stop() }))
}
