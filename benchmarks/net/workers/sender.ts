/**
 * Sending side of a flow on the emulated link, run in host A's namespace: listens with one of the
 * stacks and reports `ready` {port}; accepts the receiver's connection and, once its hello byte
 * is in, reports `connected`; waits for the runner's `start`, reports `started` {startMs}, writes
 * for `durationMs`, ends the stream and reports `done` {startMs, stopMs, finishMs, bytes, sha256,
 * stats}.
 */

import { once } from 'node:events'
import { command, report, runWorker, workerArgs } from '../../lib/channel.ts'
import { wallClockMs } from '../../lib/clock.ts'
import { sendFor } from '../lib/flow.ts'
import { listen } from '../lib/stacks.ts'
import type { Stack, StackOptions } from '../lib/stacks.ts'

interface Args extends StackOptions {
  stack: Stack
  host: string
  durationMs: number
}

runWorker(async () => {
  const { stack, host, durationMs, ...options } = workerArgs<Args>()
  const listening = await listen(stack, host, options)
  report({ type: 'ready', port: listening.port })
  const { stream, stats } = await listening.accepted
  await once(stream, 'data')
  // nothing more comes this way, but the end must be read for the connection to close
  stream.resume()
  report({ type: 'connected' })
  await command('start')
  report({ type: 'started', startMs: wallClockMs() })
  const sent = await sendFor(stream, durationMs)
  report({ type: 'done', ...sent, stats: stats() })
})
