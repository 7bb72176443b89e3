import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { UTP } from '../../src/index.ts'
import { toUtpAddress, toUtpMultiaddr } from '../../src/transport/addresses.ts'

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
})
