/**
 * The test side of a worker: a Node process started inside a network namespace
 * (`ip netns exec <ns> node <script> '<json>'`), whose JSON-line reports are kept in order so a
 * test can wait for one that already arrived. Every wait has a deadline and fails with the
 * worker's last stderr lines when the worker dies. With NAT_BENCH_LOGS=<dir>, each worker's
 * stdout and stderr are also written to <dir>/<name>.log (run with DEBUG=libp2p:utp* and so on).
 */

import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Message } from './channel.ts'
import type { ChildProcess } from 'node:child_process'

const STDERR_TAIL = 4_000
const STOP_GRACE_MS = 5_000

interface Waiter {
  match(message: Message): boolean
  resolve(message: Message): void
  reject(err: Error): void
}

export class WorkerProcess {
  readonly name: string
  /** every report so far, in order */
  readonly messages: Message[] = []
  private readonly child: ChildProcess
  private readonly waiters = new Set<Waiter>()
  private readonly exited: Promise<void>
  private stderrTail = ''
  private failure: Error | undefined
  private nextId = 0

  constructor (name: string, ns: string, script: string, config: object) {
    this.name = name
    const path = fileURLToPath(new URL(script, import.meta.url))
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--disable-warning=ExperimentalWarning', path, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe']
    })
    const logDir = process.env.NAT_BENCH_LOGS
    if (logDir != null && logDir !== '') {
      const log = createWriteStream(join(logDir, `${ns}-${name}.log`))
      this.child.stdout?.pipe(log)
      this.child.stderr?.pipe(log)
    }
    this.child.stderr?.on('data', (data: Buffer) => {
      this.stderrTail = (this.stderrTail + data.toString()).slice(-STDERR_TAIL)
    })
    // a worker that died with its stdin open must not take the test process with it
    this.child.stdin?.on('error', () => {})
    createInterface({ input: this.child.stdout! }).on('line', (line) => { this.onLine(line) })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.fail(new Error(`${this.name} exited (${signal ?? `code ${code}`}): ${this.stderrTail.trim().split('\n').slice(-8).join('\n')}`))
        resolve()
      })
      this.child.once('error', (err) => {
        this.fail(new Error(`${this.name} could not start: ${err.message}`))
        resolve()
      })
    })
  }

  /** The first report of this type (already received or still to come) that passes `filter` */
  async waitFor (type: string, timeoutMs: number, filter: (m: Message) => boolean = () => true): Promise<Message> {
    const match = (m: Message): boolean => m.type === type && filter(m)
    const found = this.messages.find(match)
    if (found != null) {
      return found
    }
    if (this.failure != null) {
      throw this.failure
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter)
        reject(new Error(`${this.name}: no '${type}' report within ${timeoutMs} ms`))
      }, timeoutMs)
      const waiter: Waiter = {
        match,
        resolve: (m) => { clearTimeout(timer); resolve(m) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      this.waiters.add(waiter)
    })
  }

  /** Sends a command and resolves its result; rejects when the worker answers with an error */
  async request (type: string, fields: Record<string, unknown>, timeoutMs: number): Promise<Message> {
    const id = ++this.nextId
    this.send({ ...fields, type, id })
    const result = await this.waitFor(`${type}:result`, timeoutMs, m => m.id === id)
    if (result.error != null) {
      throw new Error(`${this.name} ${type}: ${String(result.error)}`)
    }
    return result
  }

  send (message: Message): void {
    if (this.failure == null) {
      this.child.stdin?.write(`${JSON.stringify(message)}\n`)
    }
  }

  /** Whatever escaped the worker's own error handling */
  uncaught (): Message[] {
    return this.messages.filter(m => m.type === 'uncaught')
  }

  /** Closes the worker's stdin (it stops its node and exits); kills it if it has not exited in time */
  async stop (): Promise<void> {
    if (this.child.exitCode != null || this.child.signalCode != null) {
      return
    }
    this.child.stdin?.end()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, STOP_GRACE_MS)
    await this.exited
    clearTimeout(timer)
  }

  private onLine (line: string): void {
    let message: Message
    try {
      message = JSON.parse(line) as Message
    } catch {
      return
    }
    this.messages.push(message)
    for (const waiter of this.waiters) {
      if (waiter.match(message)) {
        this.waiters.delete(waiter)
        waiter.resolve(message)
      }
    }
  }

  private fail (err: Error): void {
    this.failure ??= err
    for (const waiter of this.waiters) {
      waiter.reject(this.failure)
    }
    this.waiters.clear()
  }
}
