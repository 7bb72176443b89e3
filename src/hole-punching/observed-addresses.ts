/**
 * Confirms the node's public uTP address as peers it trusts observe it.
 *
 * DCUtR tells the other peer only `addressManager.getAddresses()`, which leaves out unverified
 * addresses; an address observed through identify stays unverified until AutoNAT confirms it with
 * dial-backs, and behind a port-restricted or symmetric NAT (or an IPv6 firewall) those dial-backs
 * never arrive. So a node behind such a NAT has no address to offer and hole punching never
 * starts. This service takes the observation of trusted peers (your relays, say) as confirmation:
 * the uTP mapping they see is the one other peers will punch to, since dials leave from the
 * listening port. A wrong observation costs failed dials, nothing more.
 */

import { isPrivate } from '@libp2p/utils'
import { CODE_P2P, multiaddr } from '@multiformats/multiaddr'
import { UTP } from '../transport/matcher.ts'
import type { Connection, IdentifyResult, Libp2pEvents, Logger, ComponentLogger, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** The part of libp2p's address manager this service uses */
export interface ObservedAddressManager {
  confirmObservedAddr(addr: Multiaddr, options?: { type?: 'observed' }): void
  removeObservedAddr(addr: Multiaddr): void
  /** libp2p's has it; without it, nothing is kept back from a withdrawal */
  getAddressesWithMetadata?(): Array<{ multiaddr: Multiaddr, type: string }>
}

export interface UtpObservedAddressesComponents {
  addressManager: ObservedAddressManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface UtpObservedAddressesInit {
  /** peer ids (strings) whose observation of our address is trusted, such as our relays */
  trustedObservers: string[]
}

class UtpObservedAddresses implements Startable {
  readonly [Symbol.toStringTag] = 'libp2p-utp:observed-addresses'
  private readonly components: UtpObservedAddressesComponents
  private readonly trusted: Set<string>
  private readonly log: Logger
  /**
   * What each open connection to a trusted observer reports, by connection id: a node with
   * several sockets (ports, addresses) has a mapping for each, seen through different connections
   */
  private readonly reported = new Map<string, string>()

  constructor (components: UtpObservedAddressesComponents, init: UtpObservedAddressesInit) {
    this.components = components
    this.trusted = new Set(init.trustedObservers)
    this.log = components.logger.forComponent('libp2p:utp:observed-addresses')
    this.onIdentify = this.onIdentify.bind(this)
    this.onConnectionClose = this.onConnectionClose.bind(this)
  }

  start (): void {
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('connection:close', this.onConnectionClose)
  }

  stop (): void {
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('connection:close', this.onConnectionClose)
    this.reported.clear()
  }

  private onIdentify (evt: CustomEvent<IdentifyResult>): void {
    const { peerId, observedAddr, connection } = evt.detail
    if (observedAddr == null || !this.trusted.has(peerId.toString()) || !UTP.exactMatch(observedAddr) || isPrivate(observedAddr) === true) {
      return
    }
    this.log('%p observes us at %a: confirmed', peerId, observedAddr)
    // as an observed address whether or not libp2p holds it yet: it holds at most 10, unverified
    // ones never leave, and it confirms only what it holds, so once full it confirmed nothing
    this.components.addressManager.confirmObservedAddr(observedAddr, { type: 'observed' })
    // identify names its connection; an event from elsewhere that does not is only a confirmation
    const id = (connection as Connection | undefined)?.id
    if (id == null) {
      return
    }
    const previous = this.reported.get(id)
    // identify reports the address libp2p saw us at, with our peer id on the end
    this.reported.set(id, withoutPeerId(observedAddr).toString())
    if (previous != null) {
      this.withdrawUnlessReported(previous)
    }
  }

  /**
   * The mapping a connection reported goes with it, unless another still reports it: a NAT that
   * rebinds ends the connections through the old mapping, which would otherwise stay confirmed
   * for good, and peers would punch to it
   */
  private onConnectionClose (evt: CustomEvent<Connection>): void {
    const previous = this.reported.get(evt.detail.id)
    if (previous != null) {
      this.reported.delete(evt.detail.id)
      this.withdrawUnlessReported(previous)
    }
  }

  private withdrawUnlessReported (address: string): void {
    for (const reported of this.reported.values()) {
      if (reported === address) {
        return
      }
    }
    // libp2p's removal also unverifies a listen address (or an IP or DNS mapping) that is the
    // same: one AutoNAT verified, or our own public one, would go with the observer's connection
    const addr = multiaddr(address)
    for (const held of this.components.addressManager.getAddressesWithMetadata?.() ?? []) {
      if (held.type !== 'observed' && held.multiaddr.equals(addr)) {
        this.log('no trusted observer reports %s any more: kept, it is a %s address', address, held.type)
        return
      }
    }
    this.log('no trusted observer reports %s any more: withdrawn', address)
    this.components.addressManager.removeObservedAddr(addr)
  }
}

/**
 * A libp2p service that confirms the public `/utp` address that trusted peers observe (see the
 * module comment for why DCUtR needs it).
 *
 * @example
 *
 * ```TypeScript
 * services: {
 *   identify: identify(),
 *   dcutr: dcutr(),
 *   observed: utpObservedAddresses({ trustedObservers: [relayPeerId] })
 * }
 * ```
 */
export function utpObservedAddresses (init: UtpObservedAddressesInit): (components: UtpObservedAddressesComponents) => Startable {
  return (components) => new UtpObservedAddresses(components, init)
}

function withoutPeerId (addr: Multiaddr): Multiaddr {
  return addr.getComponents().at(-1)?.code === CODE_P2P ? addr.decapsulateCode(CODE_P2P) : addr
}
