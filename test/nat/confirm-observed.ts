/**
 * A libp2p service for the bench: confirms the node's observed uTP addresses once the relay has
 * reported them through identify.
 *
 * Why (a workaround, not something a deployment should copy): DCUtR sends the peer only
 * `addressManager.getAddresses()`, which leaves out unverified addresses, and an address observed
 * through identify stays unverified until AutoNAT confirms it with dial-backs from several peers.
 * The bench has one public peer, the relay, so nothing would ever confirm the NAT's public
 * address and DCUtR would have no address to send. Here the relay's observation is taken as
 * confirmation, which is what AutoNAT would conclude on a network with enough public peers.
 */

import { isPrivate } from '@libp2p/utils'
import { UTP } from '../../src/index.ts'
import type { IdentifyResult, Libp2pEvents, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** the part of libp2p's address manager this service uses */
interface AddressManagerView {
  getObservedAddrs(): Multiaddr[]
  confirmObservedAddr(addr: Multiaddr): void
  getAddresses(): Multiaddr[]
}

export interface ConfirmObservedComponents {
  addressManager: AddressManagerView
  events: TypedEventTarget<Libp2pEvents>
}

export interface ConfirmObservedInit {
  /** peer id of the relay, the one observer trusted */
  relay: string
  /** called with the node's public uTP addresses after each confirmation */
  onConfirmed(addrs: Multiaddr[]): void
}

class ConfirmObserved implements Startable {
  private readonly components: ConfirmObservedComponents
  private readonly init: ConfirmObservedInit

  constructor (components: ConfirmObservedComponents, init: ConfirmObservedInit) {
    this.components = components
    this.init = init
    this.onIdentify = this.onIdentify.bind(this)
  }

  start (): void {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
  }

  stop (): void {
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    if (evt.detail.peerId.toString() !== this.init.relay) {
      return
    }
    const { addressManager } = this.components
    const observed = addressManager.getObservedAddrs().filter(ma => UTP.exactMatch(ma))
    if (observed.length === 0) {
      return
    }
    for (const ma of observed) {
      addressManager.confirmObservedAddr(ma)
    }
    this.init.onConfirmed(addressManager.getAddresses().filter(ma => UTP.matches(ma) && isPrivate(ma) !== true))
  }
}

export function confirmObserved (init: ConfirmObservedInit): (components: ConfirmObservedComponents) => Startable {
  return (components) => new ConfirmObserved(components, init)
}
