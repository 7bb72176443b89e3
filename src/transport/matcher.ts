import { CODE_P2P, CODE_UDP, CODE_UTP } from '@multiformats/multiaddr'
import { IP } from '@multiformats/multiaddr-matcher'
import { and, code, fmt, optional, value } from '@multiformats/multiaddr-matcher/utils'

/**
 * Matches `/ip4/<addr>/udp/<port>/utp` and `/ip6/<addr>/udp/<port>/utp`, with an optional
 * trailing `/p2p/<peer id>`. DNS names are not matched: the transport dials IP literals only.
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
export const UTP = fmt(and(...IP.matchers, value(CODE_UDP), code(CODE_UTP), optional(value(CODE_P2P))))
