/**
 * The worker side of the parent-worker channel: JSON lines. A worker reads its settings from one
 * JSON argument, reports on stdout and takes commands on stdin. It exits when its stdin closes,
 * so no worker outlives the runner.
 */

import { createInterface } from 'node:readline'

export interface Message {
  type: string
  [key: string]: unknown
}

/** The worker's settings: the JSON object in its first argument */
export function workerArgs<T> (): T {
  return JSON.parse(process.argv[2] ?? '{}') as T
}

/** Sends one message to the runner */
export function report (message: Message): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

const waiting = new Map<string, Array<(message: Message) => void>>()
const queued: Message[] = []

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let message: Message
  try {
    message = JSON.parse(line) as Message
  } catch {
    return
  }
  const waiter = waiting.get(message.type)?.shift()
  if (waiter != null) {
    waiter(message)
  } else {
    queued.push(message)
  }
})
lines.on('close', () => { process.exit(0) })

/** Resolves with the next command of this type from the runner */
export async function command (type: string): Promise<Message> {
  const index = queued.findIndex(m => m.type === type)
  if (index >= 0) {
    return queued.splice(index, 1)[0]
  }
  return new Promise((resolve) => {
    const list = waiting.get(type) ?? []
    list.push(resolve)
    waiting.set(type, list)
  })
}

/** Runs a worker's main function: a failure is reported, then the worker exits */
export function runWorker (main: () => Promise<void>): void {
  main().catch((err: any) => {
    process.stderr.write(`${String(err?.stack ?? err)}\n`)
    report({ type: 'error', message: String(err?.message ?? err) })
    process.exit(1)
  })
}
