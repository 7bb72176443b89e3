/**
 * Makes libp2p's circuit relay transport work over a uTP relay.
 *
 * `@multiformats/multiaddr-matcher` (3.0.2) knows relay addresses over TCP, QUIC, WebSockets,
 * WebRTC and WebTransport, not `/udp/<port>/utp`. A connection relayed through a peer reached
 * over uTP gets the remote address `/ip6/<relay>/udp/<port>/utp/p2p/<relay>/p2p-circuit/p2p/<peer>`,
 * which its `Circuit` matcher rejects: DCUtR then takes the relayed connection for a direct one
 * and never starts. Naming the relay by peer id alone (`/p2p/<relay>/p2p-circuit/p2p/<peer>`) is
 * understood everywhere, so inbound relayed connections get that form here; dial and listen with
 * that form too (`/p2p/<relay>/p2p-circuit/p2p/<peer>`, and `/p2p-circuit` to reserve on any
 * connected relay).
 */

import { multiaddr } from '@multiformats/multiaddr'
import { Circuit } from '@multiformats/multiaddr-matcher'
import type { MultiaddrConnection, Transport, Upgrader } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/** `/<anything>/p2p/<relay>/p2p-circuit/p2p/<peer>` as `/p2p/<relay>/p2p-circuit/p2p/<peer>` */
export function relayById (ma: Multiaddr): Multiaddr {
  const text = ma.toString()
  const circuit = text.lastIndexOf('/p2p-circuit')
  if (circuit < 0 || Circuit.exactMatch(ma)) {
    return ma
  }
  const relay = text.lastIndexOf('/p2p/', circuit)
  return relay < 0 ? ma : multiaddr(text.slice(relay))
}

function rewritingInbound (upgrader: Upgrader): Upgrader {
  return new Proxy(upgrader, {
    get (target, prop) {
      if (prop === 'upgradeInbound') {
        return async (maConn: MultiaddrConnection, options: Parameters<Upgrader['upgradeInbound']>[1]) => {
          maConn.remoteAddr = relayById(maConn.remoteAddr)
          await target.upgradeInbound(maConn, options)
        }
      }
      const value = (target as any)[prop]
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/**
 * Wraps a circuit relay transport factory (`circuitRelayTransport()` from
 * `@libp2p/circuit-relay-v2`) so that its inbound relayed connections are recognised as relayed
 * when the relay is reached over uTP.
 *
 * @example
 *
 * ```TypeScript
 * import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
 * import { relayedOverUtp, utp } from 'libp2p-utp'
 *
 * const transports = [utp(), relayedOverUtp(circuitRelayTransport())]
 * ```
 */
export function relayedOverUtp<C extends { upgrader: Upgrader }> (factory: (components: C) => Transport): (components: C) => Transport {
  return (components: C) => factory(new Proxy(components, {
    get (target, prop) {
      const value = (target as any)[prop]
      return prop === 'upgrader' ? rewritingInbound(value) : value
    }
  }))
}
