/**
 * The test side of a worker: a Node process started inside a network namespace
 * (`ip netns exec <ns> node <script> '<json>'`), whose JSON-line reports are kept in order so a
 * test can wait for one that already arrived. Every wait has a deadline and fails with the
 * worker's last stderr lines when the worker dies. With NAT_BENCH_LOGS=<dir>, each worker's
 * stdout and stderr are also written to <dir>/<name>.log (run with DEBUG=libp2p:utp* and so on).
 */

import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { JsonLinesChild } from '../../benchmarks/lib/json-lines-child.ts'
import type { Message } from './channel.ts'

interface Waiter {
  match(message: Message): boolean
  resolve(message: Message): void
  reject(err: Error): void
}

export class WorkerProcess extends JsonLinesChild {
  /** every report so far, in order */
  readonly messages: Message[] = []
  private readonly waiters = new Set<Waiter>()
  private nextId = 0

  constructor (name: string, ns: string, script: string, config: object) {
    const path = fileURLToPath(new URL(script, import.meta.url))
    super(name, ['ip', 'netns', 'exec', ns, process.execPath, '--disable-warning=ExperimentalWarning', path, JSON.stringify(config)], {
      stderrTail: 4_000,
      stopGraceMs: 5_000
    })
    const logDir = process.env.NAT_BENCH_LOGS
    if (logDir != null && logDir !== '') {
      const log = createWriteStream(join(logDir, `${ns}-${name}.log`))
      this.child.stdout?.pipe(log)
      this.child.stderr?.pipe(log)
    }
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

  /** Whatever escaped the worker's own error handling */
  uncaught (): Message[] {
    return this.messages.filter(m => m.type === 'uncaught')
  }

  protected onMessage (message: Message): void {
    this.messages.push(message)
    for (const waiter of this.waiters) {
      if (waiter.match(message)) {
        this.waiters.delete(waiter)
        waiter.resolve(message)
      }
    }
  }

  protected rejectWaiters (err: Error): void {
    for (const waiter of this.waiters) {
      waiter.reject(err)
    }
    this.waiters.clear()
  }

  protected describeStderr (): string {
    return `: ${this.stderrLines().slice(-8).join('\n')}`
  }
}
