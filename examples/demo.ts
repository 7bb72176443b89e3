/**
 * `npm start`: two libp2p nodes in separate processes on 127.0.0.1 talk over uTP with Noise and
 * Yamux: a ping, then 256 MiB on one stream with a progress bar, then a one-line summary.
 */

import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { pEvent } from 'p-event'
import { BULK_PROTOCOL, createNode } from './node.ts'

const TOTAL = 256 * 1024 * 1024
const CHUNK = 64 * 1024

function print (line: string): void {
  process.stdout.write(`${line}\n`)
}

let lastPrinted = 0

function progress (sent: number, startedAt: number): void {
  if (sent === lastPrinted) {
    return
  }
  const fraction = sent / TOTAL
  const width = 30
  const filled = Math.round(fraction * width)
  const mbps = sent / ((performance.now() - startedAt) / 1000) / 1e6
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)} % ${mbps.toFixed(1)} MB/s`
  if (process.stdout.isTTY) {
    process.stdout.write(`\r${bar}`)
  } else if (Math.floor(sent / (TOTAL / 8)) > Math.floor(lastPrinted / (TOTAL / 8)) || sent === TOTAL) {
    print(bar)
  }
  lastPrinted = sent
}

const server = spawn(process.execPath, [fileURLToPath(new URL('./demo-server.ts', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] })
const [line] = await once(server.stdout, 'data') as [Buffer]
const serverAddr = multiaddr(String(line).trim())
print(`server (pid ${server.pid}) listens on ${serverAddr.toString()}`)

const client = await createNode(['/ip4/127.0.0.1/udp/0/utp'])
print(`client (pid ${process.pid}) listens on ${client.getMultiaddrs()[0].toString()}`)
try {
  const rtts: number[] = []
  for (let i = 0; i < 5; i++) {
    rtts.push(await client.services.ping.ping(serverAddr))
  }
  const connection = client.getConnections()[0]
  print(`connected over ${connection.remoteAddr.toString()} with ${connection.encryption ?? 'noise'} and ${connection.multiplexer ?? 'yamux'}; ping ${rtts.join(', ')} ms`)

  const stream = await client.dialProtocol(serverAddr, BULK_PROTOCOL)
  const hash = createHash('sha256')
  const startedAt = performance.now()
  // the server reports what it received: the bar shows delivered bytes, not queued ones
  let final: { bytes: number, sha256?: string } = { bytes: 0 }
  const replies = (async () => {
    let pending = ''
    for await (const chunk of stream) {
      pending += new TextDecoder().decode(chunk.subarray())
      let newline: number
      while ((newline = pending.indexOf('\n')) >= 0) {
        final = JSON.parse(pending.slice(0, newline))
        pending = pending.slice(newline + 1)
        progress(final.bytes, startedAt)
      }
    }
  })()
  let x = 0x12345678
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    const chunk = new Uint8Array(CHUNK)
    const words = new Uint32Array(chunk.buffer)
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      words[i] = x
    }
    hash.update(chunk)
    if (!stream.send(chunk)) {
      // the 'drain' event, not onDrain(): @libp2p/utils 7.4 resolves every onDrain() after the first at once
      await pEvent(stream, 'drain', { rejectionEvents: ['close'] })
    }
  }
  await stream.close()
  await replies
  const seconds = (performance.now() - startedAt) / 1000
  if (process.stdout.isTTY) {
    process.stdout.write('\n')
  }
  const verified = final.bytes === TOTAL && final.sha256 === hash.digest('hex')
  const rtt = [...rtts].sort((a, b) => a - b)[rtts.length >> 1]
  print(`256 MiB over uTP + Noise + Yamux in ${seconds.toFixed(2)} s: ${(TOTAL / seconds / 1e6).toFixed(1)} MB/s, ping RTT ${rtt} ms (median of ${rtts.length}), sha256 ${verified ? 'verified' : 'MISMATCH'}`)
  if (!verified) {
    process.exitCode = 1
  }
} finally {
  await client.stop()
  server.stdin.end()
  await once(server, 'exit')
}
