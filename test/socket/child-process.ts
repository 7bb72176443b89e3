/**
 * Runs a script in a child Node (the project's Node 24), for tests of what keeps a process alive
 */

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url))

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  ms: number
  stdout: string
  stderr: string
  exitedByItself: boolean
}

/** Runs node with `args`; kills the child (by its pid) only if it has not exited within `limitMs` */
export async function runChild (args: string[], limitMs: number): Promise<ChildResult> {
  const start = performance.now()
  const child = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  let exitedByItself = true
  const killer = setTimeout(() => {
    exitedByItself = false
    child.kill('SIGKILL')
  }, limitMs)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    child.once('close', (code, signal) => { resolve([code, signal]) })
  })
  clearTimeout(killer)
  return { code, signal, ms: performance.now() - start, stdout, stderr, exitedByItself }
}
