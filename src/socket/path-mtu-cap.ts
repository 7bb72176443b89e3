import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'

/** IPv4 header (no options) + UDP header */
const IPV4_OVERHEAD = 28
/** IPv6 header (no extension headers) + UDP header */
const IPV6_OVERHEAD = 48
/** Largest UDP payload a socket can send (IPv4's 16-bit total length minus the headers) */
const MAX_UDP_PAYLOAD = 65_507
/** How long interface MTUs are trusted before they are read again */
const REFRESH_MS = 10_000

export type ReadMtu = (interfaceName: string) => number | undefined

/** Linux: `/sys/class/net/<name>/mtu`; elsewhere (or when unreadable) undefined */
export function readSysfsMtu (interfaceName: string): number | undefined {
  try {
    const mtu = Number.parseInt(readFileSync(`/sys/class/net/${interfaceName}/mtu`, 'utf8'), 10)
    return Number.isFinite(mtu) && mtu > 0 ? mtu : undefined
  } catch {
    return undefined
  }
}

/**
 * The largest datagram a path may carry without IP fragmentation as far as this host can tell:
 * the MTU of the interface the datagram leaves by, minus the IP and UDP headers. A loopback
 * destination leaves by the loopback interface. Paths that leave the host get a cap only when
 * `offHost` is set: Linux fragments a datagram larger than a path MTU it has learnt from ICMP
 * instead of dropping it, so a probe that is too big for a router on the way can still arrive
 * (in fragments) and look fine, and a port cannot ask for "don't fragment" from Node. Their cap
 * is then the smallest MTU among this host's interfaces of that family, which never exceeds the
 * real outgoing interface's (it is one of them); the route is not looked up. Undefined when no
 * MTU can be read (not Linux), in which case nothing is probed.
 */
export class PathMtuCaps {
  private readonly readMtu: ReadMtu
  private readonly interfaces: typeof networkInterfaces
  private readAt = -Infinity
  private readonly caps = new Map<string, number | undefined>()

  private readonly offHost: boolean

  constructor (readMtu: ReadMtu = readSysfsMtu, interfaces: typeof networkInterfaces = networkInterfaces, offHost = false) {
    this.readMtu = readMtu
    this.interfaces = interfaces
    this.offHost = offHost
  }

  capFor (address: string): number | undefined {
    const loopback = isLoopback(address)
    if (!this.offHost && !loopback) {
      return undefined
    }
    const ipv6 = address.includes(':')
    const key = `${ipv6 ? 6 : 4}${loopback ? 'lo' : ''}`
    const now = performance.now()
    if (now - this.readAt > REFRESH_MS) {
      this.caps.clear()
      this.readAt = now
    }
    if (!this.caps.has(key)) {
      this.caps.set(key, this.compute(ipv6, loopback))
    }
    return this.caps.get(key)
  }

  private compute (ipv6: boolean, loopback: boolean): number | undefined {
    let smallest: number | undefined
    for (const [name, addresses] of Object.entries(this.interfaces())) {
      const matches = addresses?.some(a => a.internal === loopback && a.family === (ipv6 ? 'IPv6' : 'IPv4')) === true
      if (!matches) {
        continue
      }
      // an IPv4 alias (eth0:1) has the MTU of its device
      const mtu = this.readMtu(name.split(':')[0])
      if (mtu == null) {
        // one interface we cannot read could be the one the datagram leaves by
        return undefined
      }
      smallest = Math.min(smallest ?? mtu, mtu)
    }
    if (smallest == null) {
      return undefined
    }
    return Math.min(MAX_UDP_PAYLOAD, smallest - (ipv6 ? IPV6_OVERHEAD : IPV4_OVERHEAD))
  }
}

function isLoopback (address: string): boolean {
  return address.startsWith('127.') || address === '::1'
}
