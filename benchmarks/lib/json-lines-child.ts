/**
 * A child process that reports in JSON lines on stdout and takes commands on stdin: the plumbing
 * the bench runner's workers and the NAT tests' workers share. It keeps the end of the child's
 * stderr for error messages, fails every pending wait once the child exits (or cannot start), and
 * stops it by closing its stdin, killing it if it has not exited after a grace period. What a
 * report means, and how a caller waits for one, is the subclass's.
 */

import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import type { Message } from './channel.ts'
import type { ChildProcess } from 'node:child_process'

export interface JsonLinesChildLimits {
  /** characters of the child's stderr kept for error messages */
  stderrTail: number
  /** how long `stop()` waits for the child to exit before it kills it, ms */
  stopGraceMs: number
}

export abstract class JsonLinesChild {
  readonly name: string
  protected readonly child: ChildProcess
  /** why the child can no longer answer: it exited, could not start, or reported an error */
  protected failure: Error | undefined
  private readonly limits: JsonLinesChildLimits
  private stderrTail = ''
  private hasExited = false
  private readonly exitPromise: Promise<void>

  constructor (name: string, argv: string[], limits: JsonLinesChildLimits) {
    this.name = name
    this.limits = limits
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stderr?.on('data', (data: Buffer) => {
      this.stderrTail = (this.stderrTail + data.toString()).slice(-limits.stderrTail)
    })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let message: Message
      try {
        message = JSON.parse(line) as Message
      } catch {
        return
      }
      this.onMessage(message)
    })
    // a child that died with its stdin open must not take this process with it
    this.child.stdin?.on('error', () => {})
    this.exitPromise = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.hasExited = true
        this.fail(new Error(`${this.name} exited (${signal ?? `code ${code}`})${this.describeStderr()}`))
        resolve()
      })
      this.child.once('error', (err) => {
        this.hasExited = true
        this.fail(new Error(`${this.name} could not start: ${err.message}`))
        resolve()
      })
    })
  }

  /** A report from the child */
  protected abstract onMessage (message: Message): void

  /** Rejects whatever waits for a report: the child will send none */
  protected abstract rejectWaiters (err: Error): void

  /** The end of the child's stderr, as it describes the child's failure (after a `: `, or empty) */
  protected abstract describeStderr (): string

  /** The child's stderr kept so far, as trimmed non-empty lines */
  protected stderrLines (): string[] {
    return this.stderrTail.trim().split('\n').map(l => l.trim()).filter(l => l !== '')
  }

  protected fail (err: Error): void {
    this.failure ??= err
    this.rejectWaiters(this.failure)
  }

  /** Sends a command to the child */
  send (message: Message): void {
    this.sendLine(`${JSON.stringify(message)}\n`)
  }

  /** Sends a raw line (for a program with a plain-text command syntax) */
  sendLine (line: string): void {
    if (!this.hasExited) {
      this.child.stdin?.write(line)
    }
  }

  /** Asks the child to exit (closing its stdin), and kills it if it has not after the grace period */
  async stop (): Promise<void> {
    if (this.hasExited || this.child.exitCode != null || this.child.signalCode != null) {
      return
    }
    this.child.stdin?.end()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, this.limits.stopGraceMs)
    await this.exitPromise
    clearTimeout(timer)
  }
}
