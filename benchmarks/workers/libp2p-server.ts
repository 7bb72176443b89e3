/**
 * The listening libp2p node of the libp2p rows. It serves two protocols: bulk (reads a stream to
 * its end, answers one byte, reports `result` {bytes, endMs, cpu} to the runner; with
 * `warmupBytes`, the first such stream is reported as `warmup`) and echo (sends
 * back whatever arrives). Reports `ready` {addr, addrs} first: the first listening address, and all
 * of them for a node given several transports (the connect row's). With `cutReads`, its TCP reads reach libp2p
 * in datagram-sized pieces (the reference row).
 */

import { report, runWorker, workerArgs } from '../lib/channel.ts'
import { cpuSeconds, wallClockMs } from '../lib/clock.ts'
import { cutTcpReads } from '../lib/cut-reads.ts'
import { gcCounts, gcSince } from '../lib/gc-count.ts'
import { BULK_PROTOCOL, ECHO_PROTOCOL, createBenchNode } from '../lib/libp2p-node.ts'
import type { Libp2pTransport } from '../lib/libp2p-node.ts'

interface Args {
  transport: Libp2pTransport | Libp2pTransport[]
  /** uTP with path MTU probing (up to loopback's MTU) */
  loopbackMtu?: boolean
  /** when not 0, the first bulk stream is the warm-up: reported as `warmup` */
  warmupBytes?: number
  /** tcp only: hand libp2p each read in pieces of this many bytes (see lib/cut-reads.ts) */
  cutReads?: number
}

runWorker(async () => {
  const { transport, loopbackMtu, warmupBytes = 0, cutReads } = workerArgs<Args>()
  if (cutReads != null) {
    cutTcpReads(cutReads)
  }
  let bulkStreams = 0
  const node = await createBenchNode(transport, loopbackMtu)
  await node.handle(BULK_PROTOCOL, async (stream) => {
    const type = bulkStreams++ === 0 && warmupBytes > 0 ? 'warmup' : 'result'
    const cpuStart = cpuSeconds()
    const gcStart = gcCounts()
    let bytes = 0
    for await (const chunk of stream) {
      bytes += chunk.byteLength
    }
    const endMs = wallClockMs()
    const cpu = cpuSeconds() - cpuStart
    const gc = gcSince(gcStart)
    stream.send(new Uint8Array(1))
    await stream.close()
    report({ type, bytes, endMs, cpu, gc })
  })
  await node.handle(ECHO_PROTOCOL, async (stream) => {
    for await (const chunk of stream) {
      stream.send(chunk)
    }
    await stream.close()
  })
  const addrs = node.getMultiaddrs().map(String)
  report({ type: 'ready', addr: addrs[0], addrs })
})
