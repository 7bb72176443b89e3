/**
 * many row, client side: one UtpSocket opens `count` connections to the server (a few dials at a
 * time), writing one byte on each as soon as it is open so the server counts it as established.
 * Reports `connected` {count, failed}; on `move` {connections, bytes}, writes that many bytes on
 * each of its first `connections` connections at once and reports `started` {startMs}.
 */

import { UtpSocket } from '../../src/index.ts'
import { command, report, runWorker, workerArgs } from '../lib/channel.ts'
import { wallClockMs } from '../lib/clock.ts'
import { makeChunk } from '../lib/payload.ts'
import type { UtpConnection } from '../../src/index.ts'

interface Args {
  port: number
  count: number
  concurrency: number
}

runWorker(async () => {
  const { port, count, concurrency } = workerArgs<Args>()
  // no ICMP probe per dial: it opens a throwaway UDP socket for each
  const socket = new UtpSocket({ probeUnreachable: false })
  await socket.bind(0, '127.0.0.1')
  const conns: UtpConnection[] = []
  let next = 0
  let failed = 0
  let lastError = ''
  const first = new Uint8Array([1])
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      next++
      try {
        const conn = await socket.connect(port, '127.0.0.1')
        conn.on('error', () => {})
        conn.write(first)
        conns.push(conn)
      } catch (err: any) {
        failed++
        lastError = String(err?.message ?? err)
      }
    }
  }))
  report({ type: 'connected', count: conns.length, failed, lastError })

  const move = await command('move')
  const chunk = makeChunk(Number(move.bytes))
  const startMs = wallClockMs()
  for (const conn of conns.slice(0, Number(move.connections))) {
    conn.write(chunk)
  }
  report({ type: 'started', startMs })
})
