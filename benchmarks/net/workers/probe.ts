/**
 * The queuing-delay probe, run in host A's namespace: a small UDP datagram to the echo in host B
 * every `intervalMs`, through the same bottleneck as the flows. Reports `idle` {rttMs} (the
 * median of the first `idleSamples` round trips, taken before any flow starts) and, on `collect`,
 * `samples` {samples: [sentMs, rttMs][], sent}. Lost probes simply have no sample.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import { command, report, runWorker, workerArgs } from '../../lib/channel.ts'
import { wallClockMs } from '../../lib/clock.ts'
import { median } from '../../lib/stats.ts'

interface Args {
  host: string
  port: number
  intervalMs: number
  idleSamples: number
}

const PROBE_SIZE = 64

runWorker(async () => {
  const { host, port, intervalMs, idleSamples } = workerArgs<Args>()
  const socket = createSocket('udp4')
  socket.bind(0)
  await once(socket, 'listening')
  const pending = new Map<number, number>()
  const samples: Array<[number, number]> = []
  socket.on('message', (msg) => {
    const now = wallClockMs()
    const seq = msg.readUInt32BE(0)
    const sentMs = pending.get(seq)
    // a duplicate has no pending entry left
    if (sentMs == null) {
      return
    }
    pending.delete(seq)
    samples.push([sentMs, now - sentMs])
    if (samples.length === idleSamples) {
      report({ type: 'idle', rttMs: median(samples.map(s => s[1])) })
    }
  })
  let seq = 0
  setInterval(() => {
    const packet = Buffer.alloc(PROBE_SIZE)
    packet.writeUInt32BE(seq)
    pending.set(seq, wallClockMs())
    socket.send(packet, port, host)
    seq++
  }, intervalMs)
  for (;;) {
    await command('collect')
    report({ type: 'samples', samples, sent: seq })
  }
})
