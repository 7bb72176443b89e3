import { TypedEventEmitter } from '@libp2p/interface'
import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { utpObservedAddresses } from '../../src/index.ts'
import type { IdentifyResult, Libp2pEvents, PeerId, Startable } from '@libp2p/interface'
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

  /** What the service confirms when `observer` reports each of `observed` through identify */
  async function confirmedOf (observer: PeerId, trusted: PeerId, observed: Multiaddr[]): Promise<string[]> {
    const confirmed: string[] = []
    const events = new TypedEventEmitter<Libp2pEvents>()
    service = utpObservedAddresses({ trustedObservers: [trusted.toString()] })({
      addressManager: { confirmObservedAddr: (addr) => { confirmed.push(addr.toString()) } },
      events,
      logger: defaultLogger()
    })
    await service.start?.()
    for (const observedAddr of observed) {
      events.safeDispatchEvent('peer:identify', { detail: { peerId: observer, observedAddr } as unknown as IdentifyResult })
    }
    return confirmed
  }

  it('confirms the public /utp address a trusted peer observes, and nothing else', async () => {
    const direct = multiaddr('/ip4/52.1.2.3/udp/4001/utp')
    const confirmed = await confirmedOf(RELAY, RELAY, [
      direct,
      // seen over a relayed connection: not an address of ours (it starts like one)
      multiaddr(`/ip4/52.1.2.9/udp/4001/utp/p2p/${RELAY.toString()}/p2p-circuit/p2p/${US.toString()}`),
      multiaddr('/ip4/192.168.1.20/udp/4001/utp'),
      multiaddr('/ip4/52.1.2.3/tcp/4001')
    ])
    expect(confirmed).to.deep.equal([direct.toString()])
  })

  it('ignores what an untrusted peer observes', async () => {
    expect(await confirmedOf(STRANGER, RELAY, [multiaddr('/ip4/52.1.2.3/udp/4001/utp')])).to.deep.equal([])
  })
})
