import { networkInterfaces } from 'node:os'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { UTP, UtpTransport } from '../../src/index.ts'
import { toDialAddress, toUtpAddress, toUtpMultiaddr } from '../../src/transport/addresses.ts'
import type { Upgrader } from '@libp2p/interface'

describe('uTP multiaddrs', () => {
  it('keeps the zone of a link-local IPv6 address, both ways', () => {
    const ma = multiaddr('/ip6zone/eth0/ip6/fe80::1/udp/4001/utp')
    expect(UTP.exactMatch(ma)).to.equal(true)
    expect(toUtpAddress(ma)).to.deep.equal({ host: 'fe80::1%eth0', port: 4001, type: 'udp6' })
    // the remote address of an accepted connection from there names its zone: it can be dialled back
    expect(toUtpAddress(toUtpMultiaddr('fe80::1%eth0', 4001))).to.deep.equal({ host: 'fe80::1%eth0', port: 4001, type: 'udp6' })
  })

  it('matches IP addresses, not /ipcidr ranges (which it could not dial or listen on)', () => {
    expect(UTP.exactMatch(multiaddr('/ip4/192.0.2.1/udp/4001/utp'))).to.equal(true)
    expect(UTP.exactMatch(multiaddr('/ip6/2001:db8::1/udp/4001/utp/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'))).to.equal(true)
    expect(UTP.exactMatch(multiaddr('/ip4/192.0.2.1/ipcidr/24/udp/4001/utp'))).to.equal(false)
    expect(UTP.exactMatch(multiaddr('/ip6/2001:db8::/ipcidr/32/udp/4001/utp'))).to.equal(false)
    expect(UTP.exactMatch(multiaddr('/dns4/example.com/udp/4001/utp'))).to.equal(false)
  })

  it('names a numeric zone by its interface, as replies from it are named, and rejects an unknown one', () => {
    // a dial to `fe80::1%4` never matched the answers, which node:dgram names `fe80::1%eth0`
    for (const [name, addresses] of Object.entries(networkInterfaces())) {
      for (const a of addresses ?? []) {
        if (a.family === 'IPv6' && a.address.startsWith('fe80') && a.scopeid != null) {
          expect(toUtpAddress(multiaddr(`/ip6zone/${a.scopeid}/ip6/fe80::1/udp/4001/utp`)).host).to.equal(`fe80::1%${name}`)
        }
      }
    }
    expect(() => toUtpAddress(multiaddr('/ip6zone/99999/ip6/fe80::1/udp/4001/utp'))).to.throw().with.property('name', 'InvalidMultiaddrError')
  })

  it('does not dial port 0 nor an IPv4-mapped IPv6 address, with a typed error', async () => {
    const undialable = [
      multiaddr('/ip4/127.0.0.1/udp/0/utp'),
      multiaddr('/ip6/::ffff:127.0.0.1/udp/4001/utp')
    ]
    for (const ma of undialable) {
      expect(() => toDialAddress(ma), ma.toString()).to.throw().with.property('name', 'InvalidMultiaddrError')
    }
    const transport = new UtpTransport({ logger: defaultLogger() })
    const dialable = multiaddr('/ip4/127.0.0.1/udp/4001/utp')
    expect(transport.dialFilter([...undialable, dialable])).to.deep.equal([dialable])
    // port 0 is still a fine address to listen on
    expect(transport.listenFilter(undialable)).to.have.lengthOf(2)
    await expect(transport.dial(undialable[0], { upgrader: {} as unknown as Upgrader, signal: AbortSignal.timeout(5_000) })).to.eventually.be.rejected().with.property('name', 'InvalidMultiaddrError')
  })
})
