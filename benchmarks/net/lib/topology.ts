/**
 * Two hosts and a router, each in its own network namespace, joined by veth pairs:
 * A (10.9.1.2, eth0) -- (ra) router (rb) -- (eth0, 10.9.2.2) B, with two TUN devices in the router
 * (tunab, tunba) read and written by the link emulator (delay, jitter, loss, duplication,
 * reordering).
 *
 * Whatever reaches the router from A on `ra` is routed into `tunab`, from B on `rb` into `tunba`;
 * the emulator writes each packet back into its TUN, where the kernel takes it as received and
 * forwards it by the main table. The bottleneck is a `tbf` (rate, drop-tail queue in bytes) on the
 * router's egress toward B, so data from A to B, TCP as much as UDP, meets the same queue.
 */

import { readFile, writeFile } from 'node:fs/promises'
import { namespaceName, sweepStale, trackNamespace, untrackNamespace } from './cleanup.ts'
import { Emulator } from './emulator.ts'
import { run } from './shell.ts'
import type { Direction, Impairment } from './emulator.ts'

export const ADDRESS_A = '10.9.1.2'
export const ADDRESS_B = '10.9.2.2'
const ROUTER_A = '10.9.1.1'
const ROUTER_B = '10.9.2.1'
const TABLE_FROM_A = '100'
const TABLE_FROM_B = '101'
const ETHERNET_MTU_FRAME = 1514
/** the TUN queue between kernel and emulator must not be where packets are dropped */
const TUN_QUEUE_PACKETS = '10000'

export interface Bottleneck {
  rateMbit: number
  /** drop-tail queue, as the time it takes to drain at the rate */
  queueMs: number
}

export interface LinkConfig {
  bottleneck: Bottleneck
  ab: Impairment
  ba: Impairment
  seed: number
}

const ALLOWED_CONGESTION_CONTROL = '/proc/sys/net/ipv4/tcp_allowed_congestion_control'

let created = 0

/**
 * A namespace other than the first may only default to a congestion control that the machine
 * allows for unprivileged sockets; cubic is added to that list if missing (this only widens what
 * sockets may choose; the machine's own default is untouched)
 */
async function allowCubic (): Promise<void> {
  const allowed = (await readFile(ALLOWED_CONGESTION_CONTROL, 'utf8')).trim().split(/\s+/)
  if (!allowed.includes('cubic')) {
    await writeFile(ALLOWED_CONGESTION_CONTROL, [...allowed, 'cubic'].join(' '))
  }
}

async function sysctl (netns: string, settings: string[]): Promise<void> {
  await run('ip', ['netns', 'exec', netns, 'sysctl', '-q', '-w', ...settings])
}

function tbfArgs ({ rateMbit, queueMs }: Bottleneck): string[] {
  const bytesPerSecond = rateMbit * 1e6 / 8
  // the bucket holds two frames, or 1 ms at the rate if that is more: the queue, not the bucket,
  // decides the delay
  const burst = Math.max(2 * ETHERNET_MTU_FRAME, Math.round(bytesPerSecond / 1000))
  const limit = Math.round(bytesPerSecond * queueMs / 1000)
  return ['rate', `${rateMbit}mbit`, 'burst', String(burst), 'limit', String(limit)]
}

export class Topology {
  readonly hostA: string
  readonly hostB: string
  readonly router: string
  readonly config: LinkConfig
  private emulator: Emulator | undefined
  private readonly namespaces: string[] = []

  private constructor (config: LinkConfig) {
    const tag = `${created++}`
    this.hostA = namespaceName(`${tag}-a`)
    this.router = namespaceName(`${tag}-r`)
    this.hostB = namespaceName(`${tag}-b`)
    this.config = config
  }

  /** Builds everything; on failure, whatever was built is torn down before the error is thrown */
  static async create (config: LinkConfig): Promise<Topology> {
    sweepStale(await run('ip', ['netns', 'list']))
    const topology = new Topology(config)
    try {
      await topology.build()
    } catch (err) {
      await topology.destroy()
      throw err
    }
    return topology
  }

  /** Whether the emulator runs with real-time priority (release times hold under load) */
  get realtime (): boolean {
    return this.emulator?.realtime ?? false
  }

  /** Changes impairments while traffic flows */
  async impair (direction: Direction, p: Partial<Impairment>): Promise<void> {
    await this.requireEmulator().set(direction, p)
  }

  async emulatorStats (): Promise<Record<string, unknown>> {
    return this.requireEmulator().stats()
  }

  /** Stops the emulator and deletes the namespaces (their veths and TUNs go with them) */
  async destroy (): Promise<void> {
    await this.emulator?.stop()
    this.emulator = undefined
    for (const name of this.namespaces.splice(0)) {
      await run('ip', ['netns', 'del', name]).catch(() => {})
      untrackNamespace(name)
    }
  }

  private requireEmulator (): Emulator {
    if (this.emulator == null) {
      throw new Error('the topology was torn down')
    }
    return this.emulator
  }

  private async addNamespace (name: string): Promise<void> {
    trackNamespace(name)
    await run('ip', ['netns', 'add', name])
    this.namespaces.push(name)
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    // no IPv6 chatter (router solicitations, DAD) on the measured path
    await sysctl(name, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])
  }

  private async build (): Promise<void> {
    const { hostA: a, hostB: b, router: r } = this
    await allowCubic()
    for (const name of [a, r, b]) {
      await this.addNamespace(name)
    }
    // the veths are made inside the namespaces, so names never collide with parallel runs
    await run('ip', ['-n', r, 'link', 'add', 'ra', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', a])
    await run('ip', ['-n', r, 'link', 'add', 'rb', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b])
    for (const [ns, address, gateway] of [[a, ADDRESS_A, ROUTER_A], [b, ADDRESS_B, ROUTER_B]]) {
      await run('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0'])
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up'])
      await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', gateway])
      // a new namespace inherits the machine's default, which may be bbr; the reference is cubic
      await sysctl(ns, ['net.ipv4.tcp_congestion_control=cubic'])
    }
    await run('ip', ['-n', r, 'addr', 'add', `${ROUTER_A}/24`, 'dev', 'ra'])
    await run('ip', ['-n', r, 'addr', 'add', `${ROUTER_B}/24`, 'dev', 'rb'])
    await run('ip', ['-n', r, 'link', 'set', 'ra', 'up'])
    await run('ip', ['-n', r, 'link', 'set', 'rb', 'up'])

    this.emulator = await Emulator.start(r, 'tunab', 'tunba', this.config.seed)
    await this.emulator.set('ab', this.config.ab)
    await this.emulator.set('ba', this.config.ba)
    for (const tun of ['tunab', 'tunba']) {
      await run('ip', ['-n', r, 'link', 'set', tun, 'txqueuelen', TUN_QUEUE_PACKETS, 'up'])
    }
    // packets come back from a TUN with a source that is routed out of a veth: no reverse-path
    // filtering; and no redirects, the router is meant to forward
    const perInterface = ['all', 'default', 'ra', 'rb', 'tunab', 'tunba'].flatMap(i => [
      `net.ipv4.conf.${i}.rp_filter=0`,
      `net.ipv4.conf.${i}.send_redirects=0`
    ])
    await sysctl(r, ['net.ipv4.ip_forward=1', ...perInterface])
    await run('ip', ['-n', r, 'rule', 'add', 'iif', 'ra', 'lookup', TABLE_FROM_A])
    await run('ip', ['-n', r, 'route', 'add', 'default', 'dev', 'tunab', 'table', TABLE_FROM_A])
    await run('ip', ['-n', r, 'rule', 'add', 'iif', 'rb', 'lookup', TABLE_FROM_B])
    await run('ip', ['-n', r, 'route', 'add', 'default', 'dev', 'tunba', 'table', TABLE_FROM_B])
    await run('tc', ['-n', r, 'qdisc', 'add', 'dev', 'rb', 'root', 'tbf', ...tbfArgs(this.config.bottleneck)])
  }
}
