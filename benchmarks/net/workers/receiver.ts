/**
 * Receiving side of a flow on the emulated link, run in host B's namespace: dials the sender with
 * one of the stacks and says hello (one byte; see ../lib/stacks.ts for why the receiver dials),
 * reports `connected`, reads the stream to its end and reports `result` (bytes, sha256,
 * wall-clock bins; see ../lib/flow.ts). On `snapshot` it reports what it has so far
 * (`ended: false`), for a flow that stalls past the runner's deadline.
 */

import { command, report, runWorker, workerArgs } from '../../lib/channel.ts'
import { receiveBinned } from '../lib/flow.ts'
import { dial } from '../lib/stacks.ts'
import type { Stack, StackOptions } from '../lib/stacks.ts'

interface Args extends StackOptions {
  stack: Stack
  host: string
  port: number
}

runWorker(async () => {
  const { stack, host, port, ...options } = workerArgs<Args>()
  const { stream } = await dial(stack, host, port, options)
  const { done, snapshot } = receiveBinned(stream)
  stream.write(Buffer.from([1]))
  report({ type: 'connected' })
  void command('snapshot').then(() => { report({ type: 'result', ...snapshot() }) })
  const flow = await done
  report({ type: 'result', ...flow })
  // libutp keeps a half-open connection open: end our side too
  stream.end()
})
