/**
 * The main demo until the UDP socket layer lands: two uTP endpoints on a simulated
 * 10 Mbit/s link with a 500 ms drop-tail queue move 16 MiB each way, then a Reno-like flow
 * joins and LEDBAT steps aside. Everything runs on a virtual clock, so it takes about a second.
 */

import { Link, SimNetwork } from '../test/sim/network.ts'
import { RenoReceiver, RenoSender } from '../test/sim/reno.ts'
import { UtpHost } from '../test/sim/utp-host.ts'

const RATE = 10_000_000
const SECOND = 1_000_000
const MiB = 1024 * 1024

function print (line: string): void {
  process.stdout.write(`${line}\n`)
}

const net = new SimNetwork({ seed: 42 })
const bottleneck = new Link({ rateBps: RATE, delayUs: 20_000, queueBytes: RATE / 16 }, net.prng.fork())
net.link('a', 'b', bottleneck)
net.link('r', 'b', bottleneck)
net.link('b', 'a', { delayUs: 20_000 })
net.link('b', 'r', { delayUs: 20_000 })

const server = new UtpHost({ address: { host: 'b', port: 1 }, prng: net.prng.fork(), onIncoming: () => ({ send: 16 * MiB, sendSeed: 2, recvSeed: 1 }) })
const client = new UtpHost({ address: { host: 'a', port: 1 }, prng: net.prng.fork() })
net.attach(server.address, server)
net.attach(client.address, client)
server.listen()

const t0 = net.now
const transfer = client.dial(t0, server.address, { send: 16 * MiB, sendSeed: 1, recvSeed: 2 })
net.kick()
const reno = new RenoSender({ to: { host: 'b', port: 2 }, startAt: t0 + 8 * SECOND, stopAt: t0 + 20 * SECOND })
net.attach({ host: 'r', port: 1 }, reno)
net.attach({ host: 'b', port: 2 }, new RenoReceiver())

print('uTP over a simulated 10 Mbit/s link, 20 ms each way, 500 ms drop-tail queue')
print('  time   uTP Mbit/s   Reno Mbit/s   queue ms')
for (let s = 1; s <= 24; s++) {
  net.runTo(t0 + s * SECOND)
  const utp = server.transfers[0]?.goodput.bitsPerSecond(t0 + (s - 1) * SECOND, t0 + s * SECOND) ?? 0
  const tcp = reno.goodputBytesBetween(t0 + (s - 1) * SECOND, t0 + s * SECOND) * 8
  print(`  ${String(s).padStart(3)} s   ${(utp / 1e6).toFixed(2).padStart(9)}   ${(tcp / 1e6).toFixed(2).padStart(11)}   ${(bottleneck.queueDelayUs(net.now) / 1000).toFixed(0).padStart(8)}`)
}
net.runUntil(() => transfer.done && server.transfers[0]?.done, net.now + 120 * SECOND)
const ok = transfer.received === 16 * MiB && transfer.corruptAt == null && server.transfers[0]?.received === 16 * MiB
print(`both directions complete and byte-exact: ${ok ? 'yes' : 'NO'}; closed: ${transfer.closed?.reason ?? 'no'} after ${((net.now - t0) / SECOND).toFixed(1)} s of virtual time`)
