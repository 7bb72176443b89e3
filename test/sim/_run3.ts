(globalThis as any).TRACE_RX = true
import { SimNetwork } from './network.ts'
import { UtpHost } from './utp-host.ts'
import { decodePacket, stringifyPacket } from '../../src/engine/packet.ts'
const MiB = 1024 * 1024
const seed = Number(process.argv[2])
const net = new SimNetwork({ seed })
const cfg = { rateBps: 100e6, queueBytes: 1e6, delayUs: 20_000, lossRate: 0.05, burstLoss: { enterRate: 0.01, exitRate: 0.25 }, reorderRate: 0.1, duplicateRate: 0.05, jitterUs: 20_000 }
net.link('a', 'b', cfg); net.link('b', 'a', cfg)
const mk = (name: string) => (remote: any, id: number) => Object.assign((f: string, ...a: any[]) => console.log(`${(net.now/1000).toFixed(1)} ${name}`, f, ...a), { trace: (f: string, ...a: any[]) => console.log(`${(net.now/1000).toFixed(1)} ${name} T`, f, ...a), enabled: true })
const aHost = new UtpHost({ address: { host: 'a', port: 5000 }, prng: net.prng.fork(), connectionLog: mk('A') })
const bHost = new UtpHost({ address: { host: 'b', port: 6000 }, prng: net.prng.fork(), connectionLog: mk('B'), onIncoming: () => ({ send: 4*MiB, sendSeed: seed * 2 + 1, recvSeed: seed * 2 }) })
net.attach(aHost.address, aHost); net.attach(bHost.address, bHost); bHost.listen()
net.tap = (now, from, to, bytes) => { const p = decodePacket(bytes); console.log(`${(now/1000).toFixed(1)} wire ${from.host}->${to.host}`, 'type' in p ? stringifyPacket(p) : p); return undefined }
const a = aHost.dial(net.now, bHost.address, { send: 4*MiB, sendSeed: seed * 2, recvSeed: seed * 2 + 1 })
net.kick()
net.runUntil(() => a.done && bHost.transfers[0]?.done, net.now + Number(process.argv[3] ?? 20e6))
console.log('a->b', net.link('a', 'b').stats, 'b->a', net.link('b', 'a').stats)
