/**
 * The nftables ruleset of one home router, by NAT behaviour (RFC 4787 terms).
 *
 * `cone`: endpoint-independent mapping and filtering ("full cone"). Masquerade keeps the host's
 * source port (one host behind the NAT, so no clash), which makes the mapping the same towards
 * every destination; each outbound packet refreshes its port in a set with the conntrack UDP
 * timeout, and inbound datagrams to a port in the set go to the host whoever sent them.
 *
 * `port-restricted`: the same mapping; inbound only as a reply to a flow the host opened to that
 * exact address and port (conntrack), everything else dropped. Plain Linux masquerade.
 *
 * `symmetric`: `masquerade fully-random`, a new random public port for every destination
 * (endpoint-dependent mapping), filtering as above.
 *
 * `firewall`: IPv6 routed without NAT (the host has a public address) behind a stateful firewall
 * that lets in only established flows, the common home IPv6 set-up; IPv4 as `port-restricted`.
 *
 * nat-behaviour.spec.ts checks each of these with plain UDP.
 */

export type NatKind = 'cone' | 'port-restricted' | 'symmetric' | 'firewall'

export const NAT_KINDS: readonly NatKind[] = ['cone', 'port-restricted', 'symmetric', 'firewall']

/** seconds; also the conntrack UDP timeouts the bench sets in each router */
export const MAPPING_TIMEOUT_S = 30

export interface RouterAddresses {
  /** the host behind the router */
  host4: string
  host6: string
}

/** The ruleset for a router whose interfaces are `wan` (public side) and `lan` (the host's side) */
export function ruleset (kind: NatKind, addresses: RouterAddresses): string {
  const cone = kind === 'cone'
  const masquerade = kind === 'symmetric' ? 'masquerade fully-random' : 'masquerade'
  const lines = [
    'table inet natbench {',
    ...(cone
      ? [
          `  set mapped4 { type inet_service; flags dynamic, timeout; timeout ${MAPPING_TIMEOUT_S}s; }`,
          `  set mapped6 { type inet_service; flags dynamic, timeout; timeout ${MAPPING_TIMEOUT_S}s; }`
        ]
      : []),
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    ...(cone
      ? [
          '    iifname "lan" oifname "wan" meta nfproto ipv4 udp sport != 0 update @mapped4 { udp sport }',
          '    iifname "lan" oifname "wan" meta nfproto ipv6 udp sport != 0 update @mapped6 { udp sport }'
        ]
      : []),
    '    iifname "lan" oifname "wan" accept',
    '    ct state established,related accept',
    ...(cone ? ['    ct status dnat accept'] : []),
    '  }',
    ...(cone
      ? [
          '  chain prerouting {',
          '    type nat hook prerouting priority dstnat;',
          `    iifname "wan" meta nfproto ipv4 udp dport @mapped4 dnat ip to ${addresses.host4}`,
          `    iifname "wan" meta nfproto ipv6 udp dport @mapped6 dnat ip6 to ${addresses.host6}`,
          '  }'
        ]
      : []),
    // unsolicited datagrams to the router itself (a port nothing is mapped to) are dropped too.
    // Answered by the router's stack instead, each would leave an ICMP port-unreachable, which a
    // dialer takes for a refusal, and a conntrack entry that makes masquerade give the host's own
    // flow to that peer another public port (seen here: port 5000 went out as 44923)
    '  chain input {',
    '    type filter hook input priority filter;',
    '    iifname "wan" meta l4proto udp ct state new drop',
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat;',
    `    oifname "wan" ${kind === 'firewall' ? 'meta nfproto ipv4 ' : ''}${masquerade}`,
    '  }',
    '}'
  ]
  return `${lines.join('\n')}\n`
}
