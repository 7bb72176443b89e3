import { TypedEventEmitter } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { createLibp2p } from 'libp2p'
import { utp, utpObservedAddresses } from '../../src/index.ts'
import type { Connection, IdentifyResult, Libp2pEvents, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The service reads nothing of a peer id but its string form */
function peerId (id: string): PeerId {
  return { toString: () => id } as unknown as PeerId
}

const RELAY = peerId('12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK')
const US = peerId('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')
const STRANGER = peerId('QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC')

describe('utpObservedAddresses', () => {
  let service: Startable | undefined

  afterEach(async () => {
    await service?.stop?.()
  })

  /**
   * What the service confirms (and withdraws, `-<addr>`) as each step happens: an identify of
   * [observer, address, connection id] (connection `c1` unless given), or the close of a connection
   */
  async function confirmedOf (trusted: PeerId[], steps: Array<[PeerId, Multiaddr, string?] | { close: string }>, listening: Multiaddr[] = []): Promise<string[]> {
    const confirmed: string[] = []
    const events = new TypedEventEmitter<Libp2pEvents>()
    service = utpObservedAddresses({ trustedObservers: trusted.map(String) })({
      addressManager: {
        confirmObservedAddr: (addr) => { confirmed.push(addr.toString()) },
        removeObservedAddr: (addr) => { confirmed.push(`-${addr.toString()}`) },
        // `listening`: the node's own listen addresses (AutoNAT verified them, say)
        getAddressesWithMetadata: () => listening.map(multiaddr => ({ multiaddr, type: 'transport' }))
      },
      events,
      logger: defaultLogger()
    })
    await service.start?.()
    for (const step of steps) {
      if ('close' in step) {
        events.safeDispatchEvent('connection:close', { detail: { id: step.close } as unknown as Connection })
        continue
      }
      const [peerId, observedAddr, id] = step
      events.safeDispatchEvent('peer:identify', { detail: { peerId, observedAddr, connection: { id: id ?? 'c1' } } as unknown as IdentifyResult })
    }
    return confirmed
  }

  it('confirms the public /utp address a trusted peer observes, and nothing else', async () => {
    const direct = multiaddr('/ip4/52.1.2.3/udp/4001/utp')
    const confirmed = await confirmedOf([RELAY], [
      [RELAY, direct],
      // seen over a relayed connection: not an address of ours (it starts like one)
      [RELAY, multiaddr(`/ip4/52.1.2.9/udp/4001/utp/p2p/${RELAY.toString()}/p2p-circuit/p2p/${US.toString()}`)],
      [RELAY, multiaddr('/ip4/192.168.1.20/udp/4001/utp')],
      [RELAY, multiaddr('/ip4/52.1.2.3/tcp/4001')]
    ])
    expect(confirmed).to.deep.equal([direct.toString()])
  })

  it('ignores what an untrusted peer observes', async () => {
    expect(await confirmedOf([RELAY], [[STRANGER, multiaddr('/ip4/52.1.2.3/udp/4001/utp')]])).to.deep.equal([])
  })

  it('withdraws a mapping when its connection reports another or closes, unless another connection still reports it', async () => {
    const old = '/ip4/52.1.2.3/udp/4001/utp'
    const now = '/ip4/52.1.2.3/udp/4002/utp'
    // the same connection re-identified with another mapping
    expect(await confirmedOf([RELAY], [
      [RELAY, multiaddr(old)],
      [RELAY, multiaddr(now)]
    ])).to.deep.equal([old, now, `-${old}`])
    await service?.stop?.()
    // a NAT rebinding: the connection through the old mapping ends, a new one reports the new
    expect(await confirmedOf([RELAY], [
      [RELAY, multiaddr(old), 'c1'],
      [RELAY, multiaddr(now), 'c2'],
      { close: 'c1' }
    ])).to.deep.equal([old, now, `-${old}`])
    await service?.stop?.()
    // another trusted observer still sees the old mapping
    expect(await confirmedOf([RELAY, STRANGER], [
      [RELAY, multiaddr(old), 'c1'],
      [STRANGER, multiaddr(old), 'c2'],
      { close: 'c1' }
    ])).to.deep.equal([old, old])
  })

  it('never withdraws an address that is also one of the node\'s own listen addresses', async () => {
    // libp2p's removal of an observed address also unverifies a listen address that is the same:
    // a public host's own address, verified by AutoNAT, went with its relay's connection
    const own = '/ip6/2600:1f18::1/udp/4001/utp'
    // identify reports it with our peer id on the end; the listen address has none
    const reported = `${own}/p2p/${US.toString()}`
    expect(await confirmedOf([RELAY], [
      [RELAY, multiaddr(reported), 'c1'],
      { close: 'c1' }
    ], [multiaddr(own)])).to.deep.equal([reported])
  })

  it('keeps both mappings of a node with two ports that one observer sees over two connections', async () => {
    // one connection per socket (one we dialled, one it dialled): each identify re-confirms its own
    const a = '/ip4/52.1.2.3/udp/4001/utp'
    const b = '/ip4/52.1.2.3/udp/4002/utp'
    expect(await confirmedOf([RELAY], [
      [RELAY, multiaddr(a), 'c1'],
      [RELAY, multiaddr(b), 'c2'],
      [RELAY, multiaddr(a), 'c1']
    ])).to.deep.equal([a, b, a])
  })

  it('confirms through libp2p\'s address manager even when its table of observed addresses is full', async () => {
    const node = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/udp/0/utp'] },
      transports: [utp()],
      services: { observed: utpObservedAddresses({ trustedObservers: [RELAY.toString()] }) }
    })
    try {
      const { addressManager, events } = (node as unknown as { components: { addressManager: { addObservedAddr(ma: Multiaddr): void }, events: TypedEventEmitter<Libp2pEvents> } }).components
      // identify adds what every peer observes, and libp2p keeps the first 10
      for (let i = 0; i < 10; i++) {
        addressManager.addObservedAddr(multiaddr(`/ip4/52.9.9.${i + 1}/udp/4001/utp`))
      }
      const report = (addr: string): void => {
        events.safeDispatchEvent('peer:identify', { detail: { peerId: RELAY, observedAddr: multiaddr(addr), connection: { id: 'c1' } } as unknown as IdentifyResult })
      }
      const published = (): string[] => node.getMultiaddrs().map(ma => ma.decapsulateCode(CODE_P2P).toString())
      report('/ip4/52.1.2.3/udp/4001/utp')
      expect(published()).to.include('/ip4/52.1.2.3/udp/4001/utp')
      report('/ip4/52.1.2.3/udp/4002/utp')
      expect(published()).to.include('/ip4/52.1.2.3/udp/4002/utp')
      expect(published()).to.not.include('/ip4/52.1.2.3/udp/4001/utp')
    } finally {
      await node.stop()
    }
  })
})
