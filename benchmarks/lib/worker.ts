/**
 * The runner side of a worker process: spawns `process.execPath` on a script in ../workers/ (or
 * another directory) with its settings as one JSON argument, optionally inside a network
 * namespace, reads its JSON-line reports from stdout and sends it commands on stdin. Every wait has
 * a deadline; a worker that fails says why (its 'error' report or the end of its stderr).
 */

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Message } from './channel.ts'
import type { ChildProcess } from 'node:child_process'

const STDERR_TAIL = 2_000
const EXIT_GRACE_MS = 2_000

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

export class Worker {
  readonly name: string
  private readonly child: ChildProcess
  private readonly queued: Message[] = []
  private readonly waiters = new Set<{ type: string, resolve(m: Message): void, reject(e: Error): void }>()
  private stderrTail = ''
  private exited = false
  private failure: Error | undefined
  private readonly exitPromise: Promise<void>

  constructor (script: string, args: object, options: WorkerOptions = {}) {
    this.name = script
    const path = fileURLToPath(new URL(`${script}.ts`, options.dir ?? new URL('../workers/', import.meta.url)))
    let argv = options.command ?? [process.execPath, ...(options.nodeArgs ?? []), '--disable-warning=ExperimentalWarning', path, JSON.stringify(args)]
    if (options.netns != null) {
      argv = ['ip', 'netns', 'exec', options.netns, ...argv]
    }
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr?.on('data', (data: Buffer) => {
      this.stderrTail = (this.stderrTail + data.toString()).slice(-STDERR_TAIL)
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => { this.onLine(line) })
    // a worker that dies with its stdin still open must not crash the runner
    this.child.stdin?.on('error', () => {})
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = true
        this.fail(new Error(`${this.name} exited (${signal ?? `code ${code}`})${this.describeStderr()}`))
        resolve()
      })
      this.child.on('error', (err) => {
        this.fail(new Error(`${this.name} could not start: ${err.message}`))
        resolve()
      })
    })
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
      const waiter = {
        type,
        resolve: (m: Message) => { clearTimeout(timer); resolve(m) },
        reject: (e: Error) => { clearTimeout(timer); reject(e) }
      }
      this.waiters.add(waiter)
    })
  }

  /** Sends a command to the worker */
  send (message: Message): void {
    this.sendLine(`${JSON.stringify(message)}\n`)
  }

  /** Sends a raw line (for a program with a plain-text command syntax) */
  sendLine (line: string): void {
    if (!this.exited) {
      this.child.stdin?.write(line)
    }
  }

  /** Asks the worker to exit (closing its stdin), and kills it if it has not after a grace period */
  async stop (): Promise<void> {
    if (this.exited) {
      return
    }
    this.child.stdin?.end()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, EXIT_GRACE_MS)
    await this.exitPromise
    clearTimeout(timer)
  }

  private onLine (line: string): void {
    let message: Message
    try {
      message = JSON.parse(line) as Message
    } catch {
      return
    }
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

  private fail (err: Error): void {
    this.failure ??= err
    for (const waiter of this.waiters) {
      waiter.reject(this.failure)
    }
    this.waiters.clear()
  }

  private describeStderr (): string {
    const lines = this.stderrTail.trim().split('\n').map(l => l.trim()).filter(l => l !== '')
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
