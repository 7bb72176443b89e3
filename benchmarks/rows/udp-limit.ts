/**
 * udp-limit: the ceiling for any JavaScript protocol over node:dgram on this machine. One process
 * sends datagrams of our engine's default packet size as fast as it can for a fixed time, another
 * (4 MiB receive buffer) counts them. Reported: datagrams and MB received per second, and loss.
 *
 * udp-limit-loaded, a reference: the same, with a receiver that has imported `libp2p-utp/socket`
 * and does nothing with it. Node allocates a buffer per datagram, the major collections that
 * brings on mark the whole heap, and so the modules a process holds lower its ceiling.
 */

import { failed, failureNote, measured, repeat } from '../lib/line.ts'
import { sleep } from '../lib/sleep.ts'
import { median } from '../lib/stats.ts'
import { Worker, stopAll } from '../lib/worker.ts'
import type { Line } from '../lib/line.ts'
import type { BenchOptions } from '../lib/options.ts'

/** after the sender stops, datagrams still queued in the kernel get this long to be read */
const DRAIN_MS = 300

interface UdpRun {
  datagramsPerSecond: number
  mbPerSecond: number
  loss: number
  sent: number
  received: number
  recvBuffer: number
  senderCpu: number
  receiverCpu: number
}

async function once (options: BenchOptions, loadSocket: boolean): Promise<UdpRun> {
  const receiver = new Worker('udp-receiver', { bufferSize: options.udpBuffer, loadSocket })
  const workers = [receiver]
  try {
    const ready = await receiver.next('ready', options.runTimeoutMs)
    const sender = new Worker('udp-sender', { port: ready.port, size: options.packetSize, durationMs: options.udpDurationMs, bufferSize: options.udpBuffer })
    workers.push(sender)
    const done = await sender.next('done', options.runTimeoutMs)
    await sleep(DRAIN_MS)
    receiver.send({ type: 'stop' })
    const result = await receiver.next('result', options.runTimeoutMs)
    const received = Number(result.received)
    const seconds = Number(result.seconds)
    if (received === 0 || seconds <= 0) {
      throw new Error('the receiver got nothing')
    }
    return {
      datagramsPerSecond: received / seconds,
      mbPerSecond: Number(result.bytes) / seconds / 1e6,
      loss: 1 - received / Number(done.sent),
      sent: Number(done.sent),
      received,
      recvBuffer: Number(ready.recvBuffer),
      senderCpu: Number(done.cpu) / Number(done.seconds),
      receiverCpu: Number(result.cpu) / seconds
    }
  } finally {
    await stopAll(workers)
  }
}

/** `bare`: the udp-limit row of the same run, for the ratio in the reference row's note */
export async function udpLimitLoaded (options: BenchOptions, bare?: Line[]): Promise<Line[]> {
  const label = `udp-limit, receiver holding libp2p-utp/socket (${options.packetSize} B)`
  const r = await repeat(options.runs, async () => once(options, true))
  if (r.ok.length === 0) {
    return [failed('udp-limit-loaded', label, 'MB/s', r.failures[0])]
  }
  const mbPerSecond = median(r.ok.map(x => x.mbPerSecond))
  const bareLine = bare?.find(l => l.key === 'udp-limit')
  const ratio = bareLine?.value != null ? `, ${(mbPerSecond / bareLine.value.median).toFixed(2)} x udp-limit` : ''
  const note = `reference: the receiver has imported the socket layer and counts, nothing more; ${(median(r.ok.map(x => x.datagramsPerSecond)) / 1000).toFixed(0)} k datagrams/s${ratio}${failureNote(r) === '' ? '' : `, ${failureNote(r)}`}`
  return [measured('udp-limit-loaded', label, 'MB/s', r.ok.map(x => x.mbPerSecond), note, r.ok)]
}

export async function udpLimit (options: BenchOptions): Promise<Line[]> {
  const label = `udp-limit (node:dgram, ${options.packetSize} B)`
  const r = await repeat(options.runs, async () => once(options, false))
  if (r.ok.length === 0) {
    return [failed('udp-limit', label, 'MB/s', r.failures[0])]
  }
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`
  const note = [
    `${(median(r.ok.map(x => x.datagramsPerSecond)) / 1000).toFixed(0)} k datagrams/s`,
    `loss ${pct(median(r.ok.map(x => x.loss)))}`,
    `CPU tx/rx ${pct(median(r.ok.map(x => x.senderCpu)))}/${pct(median(r.ok.map(x => x.receiverCpu)))}`,
    `${options.udpDurationMs / 1000} s`,
    failureNote(r)
  ].filter(s => s !== '').join(', ')
  return [
    measured('udp-limit', label, 'MB/s', r.ok.map(x => x.mbPerSecond), note, r.ok),
    measured('udp-limit-datagrams', 'udp-limit datagrams/s', 'k/s', r.ok.map(x => x.datagramsPerSecond / 1000), `loss ${r.ok.map(x => pct(x.loss)).join(' / ')}`)
  ]
}
