/**
 * The bench's network, built from namespaces: two sites, each a host behind its own home router
 * (a NAT or an IPv6 firewall, see nft.ts), and a public segment (a bridge) where the routers' WAN
 * ports and the relay live.
 *
 * ```
 * host A ─ router A ─┐                  ┌─ router B ─ host B
 *  10.0.1.2   wan 203.0.113.10   relay 203.0.113.100   wan 203.0.113.20   10.0.2.2
 *  fd00:a::2      3fff::a         3fff::100             3fff::b            fd00:b::2
 * ```
 *
 * IPv6 uses 3fff::/20 (RFC 9637, documentation) on the public side: libp2p takes it for a public
 * address, so DCUtR dials it. With a `firewall` router the host has 3fff:a::2 itself, routed.
 */

import { addNamespace, deleteNamespaces, run, PREFIX } from './netns.ts'
import { MAPPING_TIMEOUT_S, ruleset } from './nft.ts'
import type { NatKind } from './nft.ts'

export const RELAY4 = '203.0.113.100'
export const RELAY6 = '3fff::100'

export interface Site {
  name: 'a' | 'b'
  kind: NatKind
  hostNs: string
  routerNs: string
  host4: string
  host6: string
  /** where the rest of the world sees the host: the router's WAN address, or the host's own */
  public4: string
  public6: string
}

export interface Topology {
  relayNs: string
  a: Site
  b: Site
  /** the router's UDP conntrack table (`conntrack -L`) */
  conntrack(site: Site): Promise<string>
  teardown(): Promise<void>
}

let built = 0

/** Builds the network with router A of kind `a` and router B of kind `b` */
export async function buildTopology (a: NatKind, b: NatKind): Promise<Topology> {
  const base = `${PREFIX}${process.pid}-${++built}`
  const relayNs = `${base}pub`
  const namespaces = [relayNs]
  const teardown = async (): Promise<void> => { await deleteNamespaces(namespaces) }
  try {
    await addNamespace(relayNs)
    await ipIn(relayNs, 'link', 'add', 'br0', 'type', 'bridge')
    await ipIn(relayNs, 'link', 'set', 'br0', 'up')
    await ipIn(relayNs, 'addr', 'add', `${RELAY4}/24`, 'dev', 'br0')
    await ipIn(relayNs, 'addr', 'add', `${RELAY6}/64`, 'dev', 'br0', 'nodad')
    await sysctl(relayNs, { 'net.ipv6.conf.all.forwarding': 1 })

    const sites = [site(base, 'a', 1, a), site(base, 'b', 2, b)] as const
    for (const s of sites) {
      namespaces.push(s.routerNs, s.hostNs)
      await buildSite(relayNs, s)
    }
    // a firewalled site's LAN is public: the relay and the other router route to it
    for (const s of sites) {
      if (s.kind === 'firewall') {
        const other = s === sites[0] ? sites[1] : sites[0]
        for (const ns of [relayNs, other.routerNs]) {
          await ipIn(ns, '-6', 'route', 'add', lanPrefix6(s), 'via', wan6(s))
        }
      }
    }
    for (const s of sites) {
      await ping(s.hostNs, RELAY4)
      await ping(s.hostNs, RELAY6)
    }
    return {
      relayNs,
      a: sites[0],
      b: sites[1],
      conntrack: async (s) => run('ip', ['netns', 'exec', s.routerNs, 'conntrack', '-L', '-p', 'udp']),
      teardown
    }
  } catch (err) {
    await teardown()
    throw err
  }
}

function site (base: string, letter: 'a' | 'b', index: number, kind: NatKind): Site {
  const lan6 = kind === 'firewall' ? `3fff:${letter}::` : `fd00:${letter}::`
  const s: Site = {
    name: letter,
    kind,
    hostNs: `${base}h${letter}`,
    routerNs: `${base}r${letter}`,
    host4: `10.0.${index}.2`,
    host6: `${lan6}2`,
    public4: `203.0.113.${index * 10}`,
    public6: `3fff::${letter}`
  }
  if (kind === 'firewall') {
    s.public6 = s.host6
  }
  return s
}

/** the router's own public address (a NAT's is also the host's public address) */
function wan6 (s: Site): string {
  return `3fff::${s.name}`
}

function lanPrefix6 (s: Site): string {
  return `${s.host6.slice(0, -1)}/64`
}

async function buildSite (relayNs: string, s: Site): Promise<void> {
  const letter = s.name
  const router4 = s.host4.replace(/\.2$/, '.1')
  const router6 = s.host6.replace(/::2$/, '::1')
  const wan4 = s.public4
  await addNamespace(s.routerNs)
  await addNamespace(s.hostNs)
  // the router's WAN port on the public bridge
  await ipIn(s.routerNs, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', `w${letter}`, 'netns', relayNs)
  await ipIn(relayNs, 'link', 'set', `w${letter}`, 'master', 'br0', 'up')
  await ipIn(s.routerNs, 'link', 'set', 'wan', 'up')
  await ipIn(s.routerNs, 'addr', 'add', `${wan4}/24`, 'dev', 'wan')
  await ipIn(s.routerNs, 'addr', 'add', `${wan6(s)}/64`, 'dev', 'wan', 'nodad')
  // the host on the router's LAN port
  await ipIn(s.hostNs, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'lan', 'netns', s.routerNs)
  await ipIn(s.routerNs, 'link', 'set', 'lan', 'up')
  await ipIn(s.hostNs, 'link', 'set', 'eth0', 'up')
  await ipIn(s.routerNs, 'addr', 'add', `${router4}/24`, 'dev', 'lan')
  await ipIn(s.routerNs, 'addr', 'add', `${router6}/64`, 'dev', 'lan', 'nodad')
  await ipIn(s.hostNs, 'addr', 'add', `${s.host4}/24`, 'dev', 'eth0')
  await ipIn(s.hostNs, 'addr', 'add', `${s.host6}/64`, 'dev', 'eth0', 'nodad')
  await ipIn(s.hostNs, 'route', 'add', 'default', 'via', router4)
  await ipIn(s.hostNs, '-6', 'route', 'add', 'default', 'via', router6)

  await sysctl(s.routerNs, {
    'net.ipv4.ip_forward': 1,
    'net.ipv6.conf.all.forwarding': 1,
    // short, as many home routers have, so the keep-alive test means something
    'net.netfilter.nf_conntrack_udp_timeout': MAPPING_TIMEOUT_S,
    'net.netfilter.nf_conntrack_udp_timeout_stream': MAPPING_TIMEOUT_S
  })
  await run('ip', ['netns', 'exec', s.routerNs, 'nft', '-f', '-'], { input: ruleset(s.kind, s) })
  for (const key of ['net.netfilter.nf_conntrack_udp_timeout', 'net.netfilter.nf_conntrack_udp_timeout_stream']) {
    const value = (await run('ip', ['netns', 'exec', s.routerNs, 'sysctl', '-n', key])).trim()
    if (value !== String(MAPPING_TIMEOUT_S)) {
      throw new Error(`${key} is ${value} in ${s.routerNs}, not ${MAPPING_TIMEOUT_S}`)
    }
  }
}

async function ipIn (ns: string, ...args: string[]): Promise<void> {
  await run('ip', ['-n', ns, ...args])
}

async function sysctl (ns: string, values: Record<string, number>): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', ...Object.entries(values).map(([k, v]) => `${k}=${v}`)])
}

/** One echo request, to fail fast with a clear message when the network is not as built */
async function ping (ns: string, to: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'ping', '-q', '-c', '1', '-W', '2', to])
}
