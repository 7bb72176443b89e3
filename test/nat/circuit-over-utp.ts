/**
 * libp2p's circuit relay transport, unchanged, with one address rewritten so that relayed
 * connections over a uTP relay are recognised as relayed.
 *
 * Why (a workaround for a gap in `@multiformats/multiaddr-matcher` 3.0.2): its `Circuit` and `P2P`
 * matchers know TCP, QUIC, WebSockets, WebRTC and WebTransport relay addresses, not
 * `/udp/<port>/utp`. A relayed connection's remote address is the relay connection's address plus
 * `/p2p-circuit/p2p/<peer>`, so over a uTP relay it reads
 * `/ip6/3fff::100/udp/4001/utp/p2p/<relay>/p2p-circuit/p2p/<peer>`, which `Circuit.exactMatch`
 * rejects: DCUtR would take the relayed connection for a direct one and never start, and the
 * relay transport would neither dial nor listen on such an address. The bench therefore dials
 * `/p2p/<relay>/p2p-circuit/p2p/<peer>` (the relay by peer id alone, which the matchers accept;
 * the connection to the relay is already open), reserves with `/p2p-circuit` (any relay: the one
 * it is connected to), and this wrapper gives inbound relayed connections the peer-id-only form
 * of address too. Dialled relayed connections already carry the address dialled.
 */

import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { multiaddr } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import type { CircuitRelayTransportInit } from '@libp2p/circuit-relay-v2'
import type { MultiaddrConnection, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

type Factory = ReturnType<typeof circuitRelayTransport>
type Components = Parameters<Factory>[0]

/** `/<anything>/p2p/<relay>/p2p-circuit/p2p/<peer>` as `/p2p/<relay>/p2p-circuit/p2p/<peer>` */
export function byRelayId (ma: Multiaddr): Multiaddr {
  const text = ma.toString()
  const circuit = text.lastIndexOf('/p2p-circuit')
  if (circuit < 0 || Circuit.exactMatch(ma)) {
    return ma
  }
  return multiaddr(text.slice(text.lastIndexOf('/p2p/', circuit)))
}

function withRelayIdAddresses (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeInbound') {
        return async (maConn: MultiaddrConnection, options: Parameters<Upgrader['upgradeInbound']>[1]) => {
          maConn.remoteAddr = byRelayId(maConn.remoteAddr)
          await target.upgradeInbound(maConn, options)
        }
      }
      const value = (target as any)[prop]
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

export function circuitRelayTransportOverUtp (init?: CircuitRelayTransportInit): Factory {
  const factory = circuitRelayTransport(init)
  return (components: Components) => factory(new Proxy(components, {
    get (target, prop) {
      const value = (target as any)[prop]
      return prop === 'upgrader' ? withRelayIdAddresses(value) : value
    }
  }))
}
