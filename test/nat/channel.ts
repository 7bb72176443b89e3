/**
 * The worker side of the test-worker channel: JSON lines. A worker takes its settings from one JSON
 * argument, reports on stdout and answers commands from stdin (`{ type, id, ... }` answered by
 * `{ type: '<type>:result', id, ... }`). It exits when its stdin closes, so no worker outlives the
 * test process. Uncaught exceptions and unhandled rejections are reported, not fatal, so the
 * test can say what escaped.
 */

import { createInterface } from 'node:readline'

export interface Message {
  type: string
  [key: string]: unknown
}

export type Handler = (command: Message) => Promise<Record<string, unknown>>

const handlers = new Map<string, Handler>()

export function workerConfig<T> (): T {
  return JSON.parse(process.argv[2] ?? '{}') as T
}

export function report (message: Message): void {
  process.stdout.write(`${JSON.stringify({ ...message, at: Date.now() })}\n`)
}

/** Answers commands of this type with what `handler` resolves, or with `{ error }` */
export function handle (type: string, handler: Handler): void {
  handlers.set(type, handler)
}

function describe (err: any): string {
  return String(err?.stack ?? err)
}

process.on('uncaughtException', (err) => { report({ type: 'uncaught', kind: 'exception', error: describe(err) }) })
process.on('unhandledRejection', (err) => { report({ type: 'uncaught', kind: 'rejection', error: describe(err) }) })

createInterface({ input: process.stdin })
  .on('line', (line) => {
    let command: Message
    try {
      command = JSON.parse(line) as Message
    } catch {
      return
    }
    const handler = handlers.get(command.type)
    if (handler == null) {
      report({ type: `${command.type}:result`, id: command.id, error: `no handler for ${command.type}` })
      return
    }
    handler(command).then(
      (result) => { report({ ...result, type: `${command.type}:result`, id: command.id }) },
      (err) => { report({ type: `${command.type}:result`, id: command.id, error: describe(err) }) }
    )
  })
  .on('close', () => { process.exit(0) })
