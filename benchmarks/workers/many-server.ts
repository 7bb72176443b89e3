/**
 * many row, server side (run with --expose-gc): one UtpSocket accepting every connection.
 * Reports `ready` {port, memory before any connection}; on `measure`, once the expected number of
 * connections have each sent their first byte, collects garbage and reports `measured` with the
 * memory again; on `move` {bytes}, reports `moved` {endMs} once that many more bytes arrived.
 */

import { UtpSocket } from '../../src/index.ts'
import { command, report, runWorker, workerArgs } from '../lib/channel.ts'
import { wallClockMs } from '../lib/clock.ts'
import { sleep } from '../lib/sleep.ts'

interface Args {
  expected: number
  timeoutMs: number
}

async function settledMemory (): Promise<NodeJS.MemoryUsage> {
  const gc = (globalThis as { gc?(): void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await sleep(50)
  }
  return process.memoryUsage()
}

async function until (condition: () => boolean, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what()}`)
    }
    await sleep(20)
  }
}

runWorker(async () => {
  const { expected, timeoutMs } = workerArgs<Args>()
  const socket = new UtpSocket()
  await socket.bind(0, '127.0.0.1')
  socket.listen()
  let connections = 0
  let bytes = 0
  let target = Infinity
  let reached: (() => void) | undefined
  socket.on('connection', (conn) => {
    connections++
    conn.on('error', () => {})
    conn.on('data', (data: Uint8Array) => {
      bytes += data.byteLength
      if (bytes >= target && reached != null) {
        reached()
        reached = undefined
      }
    })
  })
  const before = await settledMemory()
  report({ type: 'ready', port: socket.address().port, before })

  await command('measure')
  // every client writes one byte on each connection as soon as it is open
  await until(() => connections >= expected && bytes >= expected, timeoutMs,
    () => `${expected} connections (${connections} accepted, ${bytes} confirmed)`)
  const after = await settledMemory()
  report({ type: 'measured', connections, live: socket.connectionCount, before, after })

  const move = await command('move')
  await new Promise<void>((resolve) => {
    target = bytes + Number(move.bytes)
    reached = resolve
    if (bytes >= target) {
      resolve()
    }
  })
  report({ type: 'moved', endMs: wallClockMs() })
})
