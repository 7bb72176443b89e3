import { CODE_IP4, CODE_IP6, CODE_IP6ZONE, CODE_P2P, CODE_UDP, CODE_UTP } from '@multiformats/multiaddr'
import { and, code, fmt, optional, or, value } from '@multiformats/multiaddr-matcher/utils'

/**
 * Matches `/ip4/<addr>/udp/<port>/utp` and `/ip6/<addr>/udp/<port>/utp` (the latter with an
 * optional leading `/ip6zone/<zone>`), with an optional trailing `/p2p/<peer id>`. DNS names are
 * not matched: the transport dials IP literals only; nor is `/ipcidr`, which names a range, not
 * an address (the IP matchers of multiaddr-matcher allow it).
 *
 * @example
 *
 * ```TypeScript
 * import { multiaddr } from '@multiformats/multiaddr'
 * import { UTP } from 'libp2p-utp'
 *
 * UTP.exactMatch(multiaddr('/ip4/127.0.0.1/udp/4001/utp')) // true
 * UTP.exactMatch(multiaddr('/ip4/127.0.0.1/udp/4001/quic-v1')) // false
 * ```
 */
const IP_ADDRESS = or(value(CODE_IP4), and(optional(value(CODE_IP6ZONE)), value(CODE_IP6)))

export const UTP = fmt(and(IP_ADDRESS, value(CODE_UDP), code(CODE_UTP), optional(value(CODE_P2P))))
