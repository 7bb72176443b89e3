import { InvalidMultiaddrError } from '@libp2p/interface'
import { getNetConfig } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { UTP } from './matcher.ts'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface UtpAddress {
  host: string
  port: number
  type: 'udp4' | 'udp6'
}

/** The UDP address of a uTP multiaddr; throws {@link InvalidMultiaddrError} for anything else */
export function toUtpAddress (ma: Multiaddr): UtpAddress {
  if (!UTP.exactMatch(ma)) {
    throw new InvalidMultiaddrError(`${ma.toString()} is not a uTP address: expected /ip4/<addr>/udp/<port>/utp or /ip6/<addr>/udp/<port>/utp`)
  }
  const config = getNetConfig(ma)
  if ((config.type !== 'ip4' && config.type !== 'ip6') || config.port == null) {
    throw new InvalidMultiaddrError(`${ma.toString()} has no IP address and UDP port`)
  }
  // a link-local IPv6 address means nothing without its zone (the interface): node:dgram takes it as
  // `fe80::1%eth0`. By name: node:dgram names the zone of a sender so, and a dial to `%2` would not
  // match the answers from `%eth0`
  const host = config.type === 'ip6' && config.zone != null ? `${config.host}%${config.zone}` : config.host
  return { host, port: config.port, type: config.type === 'ip4' ? 'udp4' : 'udp6' }
}

/** `/ipX/<host>/udp/<port>/utp`; an IPv6 zone (`fe80::1%eth0`) becomes `/ip6zone/<zone>` */
export function toUtpMultiaddr (host: string, port: number): Multiaddr {
  if (!host.includes(':')) {
    return multiaddr(`/ip4/${host}/udp/${port}/utp`)
  }
  const [address, zone] = host.split('%')
  return multiaddr(`${zone != null && zone !== '' ? `/ip6zone/${zone}` : ''}/ip6/${address}/udp/${port}/utp`)
}

export function isWildcard (host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

export function isLoopback (host: string): boolean {
  return host === '::1' || host.startsWith('127.')
}
