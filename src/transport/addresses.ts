import { networkInterfaces } from 'node:os'
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
  const host = config.type === 'ip6' && config.zone != null ? `${config.host}%${zoneName(ma, config.zone)}` : config.host
  return { host, port: config.port, type: config.type === 'ip4' ? 'udp4' : 'udp6' }
}

/**
 * {@link toUtpAddress} for a dial: also throws {@link InvalidMultiaddrError} for what no dial can
 * reach, port 0 and an IPv4-mapped IPv6 address (the transport's IPv6 sockets are IPv6 only)
 */
export function toDialAddress (ma: Multiaddr): UtpAddress {
  const address = toUtpAddress(ma)
  if (address.port === 0) {
    throw new InvalidMultiaddrError(`${ma.toString()} has port 0: nothing can be dialled there`)
  }
  if (isIpv4Mapped(address.host)) {
    throw new InvalidMultiaddrError(`${ma.toString()} is an IPv4-mapped IPv6 address: dial its /ip4 form`)
  }
  return address
}

/** `ma` is a uTP address that a dial could reach */
export function isDialable (ma: Multiaddr): boolean {
  try {
    toDialAddress(ma)
    return true
  } catch {
    return false
  }
}

function isIpv4Mapped (host: string): boolean {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+|[0-9a-f]{1,4}:[0-9a-f]{1,4})$/i.test(host)
}

/** A numeric zone (an interface index) by its interface's name, as node:dgram names senders */
function zoneName (ma: Multiaddr, zone: string): string {
  if (!/^\d+$/.test(zone)) {
    return zone
  }
  const index = Number(zone)
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    if (addresses?.some(a => a.family === 'IPv6' && a.scopeid === index && a.address.startsWith('fe80')) === true) {
      return name
    }
  }
  throw new InvalidMultiaddrError(`${ma.toString()}: no interface with index ${zone} has a link-local address`)
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
