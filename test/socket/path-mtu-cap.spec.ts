/**
 * The path MTU cap a socket gives its connections: the MTU of the interfaces a datagram may leave
 * by, minus the IP and UDP headers. Interfaces and their MTUs are injected, so these tests run the
 * same on any host.
 */

import { expect } from 'aegir/chai'
import { PathMtuCaps } from '../../src/socket/path-mtu-cap.ts'
import type { NetworkInterfaceInfo } from 'node:os'

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>

function v4 (address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: '255.255.255.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal, cidr: `${address}/24` }
}

function v6 (address: string, internal = false): NetworkInterfaceInfo {
  return { address, netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '00:00:00:00:00:00', internal, cidr: `${address}/64`, scopeid: 0 }
}

const LO = [v4('127.0.0.1', true), v6('::1', true)]

/** A PathMtuCaps over fixed interfaces and MTUs; counts the MTU reads. Off-host paths capped too unless told otherwise. */
function caps (interfaces: Interfaces, mtus: Record<string, number | undefined>, offHost = true): { caps: PathMtuCaps, reads: string[] } {
  const reads: string[] = []
  const readMtu = (name: string): number | undefined => {
    reads.push(name)
    return mtus[name]
  }
  return { caps: new PathMtuCaps(readMtu, () => interfaces, offHost), reads }
}

describe('PathMtuCaps', () => {
  it('caps a loopback destination by the loopback interface: 65,507 at most over IPv4, MTU - 48 over IPv6', () => {
    const { caps: c } = caps({ lo: LO, eth0: [v4('192.0.2.10'), v6('2001:db8::10')] }, { lo: 65_536, eth0: 1500 })
    // 65,536 - 28 = 65,508 does not fit in a UDP datagram
    expect(c.capFor('127.0.0.1')).to.equal(65_507)
    expect(c.capFor('127.8.9.10')).to.equal(65_507)
    expect(c.capFor('::1')).to.equal(65_536 - 48)
  })

  it('subtracts the IPv4 and IPv6 headers from a smaller loopback MTU', () => {
    const { caps: c } = caps({ lo: LO }, { lo: 16_384 })
    expect(c.capFor('127.0.0.1')).to.equal(16_384 - 28)
    expect(c.capFor('::1')).to.equal(16_384 - 48)
  })

  it('by default caps only loopback destinations: a path that leaves the host gets no cap, so it is not probed', () => {
    const { caps: c, reads } = caps({ lo: LO, eth0: [v4('192.0.2.10'), v6('2001:db8::10')] }, { lo: 65_536, eth0: 9000 }, false)
    expect(c.capFor('203.0.113.7')).to.equal(undefined)
    expect(c.capFor('2001:db8::7')).to.equal(undefined)
    expect(reads).to.deep.equal([])
    expect(c.capFor('127.0.0.1')).to.equal(65_507)
    expect(c.capFor('::1')).to.equal(65_536 - 48)
  })

  it('with off-host probing, caps any other destination by the smallest MTU among the external interfaces of its family', () => {
    const { caps: c } = caps({
      lo: LO,
      eth0: [v4('192.0.2.10')],
      jumbo0: [v4('198.51.100.10')],
      wg0: [v6('2001:db8::1')],
      eth1: [v6('2001:db8:1::1'), v6('fe80::1')]
    }, { lo: 65_536, eth0: 1500, jumbo0: 9000, wg0: 1420, eth1: 1500 })
    expect(c.capFor('203.0.113.7')).to.equal(1500 - 28)
    expect(c.capFor('2001:db8:ffff::7')).to.equal(1420 - 48)
  })

  it('ignores interfaces without an address of the family, and loopback for outside destinations', () => {
    const { caps: c, reads } = caps({
      lo: LO,
      eth0: [v4('192.0.2.10')],
      // IPv6 only, and tiny: must not cap IPv4 destinations
      tun6: [v6('2001:db8::1')]
    }, { lo: 1000, eth0: 1500, tun6: 1280 })
    expect(c.capFor('203.0.113.7')).to.equal(1472)
    expect(reads).to.deep.equal(['eth0'])
    expect(c.capFor('2001:db8::9')).to.equal(1280 - 48)
    expect(c.capFor('127.0.0.1')).to.equal(1000 - 28)
  })

  it('gives no cap when an interface that could carry the datagram has no readable MTU', () => {
    const { caps: c } = caps({
      lo: LO,
      eth0: [v4('192.0.2.10')],
      mystery0: [v4('198.51.100.10')],
      eth6: [v6('2001:db8::1')]
    }, { lo: 65_536, eth0: 1500, eth6: 1500 })
    expect(c.capFor('203.0.113.7')).to.equal(undefined)
    // an unreadable IPv4 interface does not matter to IPv6 or loopback destinations
    expect(c.capFor('2001:db8::9')).to.equal(1452)
    expect(c.capFor('127.0.0.1')).to.equal(65_507)
  })

  it('gives no cap for a loopback destination when the loopback MTU is unreadable (not Linux)', () => {
    const { caps: c } = caps({ lo0: LO, en0: [v4('192.0.2.10')] }, { en0: 1500 })
    expect(c.capFor('127.0.0.1')).to.equal(undefined)
    expect(c.capFor('::1')).to.equal(undefined)
    expect(c.capFor('192.0.2.99')).to.equal(1472)
  })

  it('gives no cap when no interface has an address of the family', () => {
    const { caps: c } = caps({ lo: [v4('127.0.0.1', true)], eth0: [v4('192.0.2.10')] }, { lo: 65_536, eth0: 1500 })
    expect(c.capFor('2001:db8::9')).to.equal(undefined)
    expect(c.capFor('::1')).to.equal(undefined)
    expect(caps({}, {}).caps.capFor('192.0.2.1')).to.equal(undefined)
  })

  it('reads the interfaces once per kind of destination, not once per connection', () => {
    let listed = 0
    const reads: string[] = []
    const c = new PathMtuCaps((name) => { reads.push(name); return 1500 }, () => {
      listed++
      return { lo: LO, eth0: [v4('192.0.2.10'), v6('2001:db8::10')] }
    }, true)
    for (let i = 0; i < 10; i++) {
      expect(c.capFor(`203.0.113.${i}`)).to.equal(1472)
      expect(c.capFor('127.0.0.1')).to.equal(1472)
      expect(c.capFor('2001:db8::1')).to.equal(1452)
    }
    expect(listed).to.equal(3)
    expect(reads).to.deep.equal(['eth0', 'lo', 'eth0'])
  })
})
