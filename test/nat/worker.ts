/**
 * Worker: one libp2p node inside a network namespace, with `utp()` from src/, Noise, Yamux,
 * identify, ping, the circuit relay transport and DCUtR, or a circuit relay server. Settings: one
 * JSON argument ({@link PeerConfig}). Reports (JSON lines): `ready`, `public` (observed addresses
 * confirmed), `connection:open` / `connection:close`, `dcutr` (an attempt ended), `received`
 * (a transfer the sink read), `uncaught`. Commands: `dial`, `send`, `connections`, `stop`.
 */

import { setTimeout as delay } from 'node:timers/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { isPrivate } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { relayedOverUtp, UTP, utp, utpObservedAddresses } from '../../src/index.ts'
import { answerDigest, HASH_SINK, sendHashed } from '../transport/hash-stream.ts'
import { handle, report, workerConfig } from './channel.ts'
import { dcutrWithOutcome } from './dcutr-outcome.ts'
import type { Connection, Libp2p } from '@libp2p/interface'

export interface PeerConfig {
  name: string
  listen: string[]
  /** the relay's address with its /p2p/ id: dialled at start, the one observer trusted */
  relay?: string
  /** also listen through the relay (a reservation), so others can reach this node there */
  reserve?: boolean
  /** be the relay: a circuit relay server */
  relayServer?: boolean
  /**
   * nothing on idle connections but the transport's own keep-alives: no connection-monitor pings,
   * no yamux pings
   */
  quiet?: boolean
}

const config = workerConfig<PeerConfig>()
const relayAddr = config.relay == null ? undefined : multiaddr(config.relay)
const relayId = relayAddr?.getComponents().findLast(c => c.name === 'p2p')?.value

function isRelayed (connection: Connection): boolean {
  return connection.remoteAddr.toString().includes('/p2p-circuit')
}

function describe (connection: Connection): Record<string, unknown> {
  return {
    id: connection.id,
    peer: connection.remotePeer.toString(),
    remoteAddr: connection.remoteAddr.toString(),
    direction: connection.direction,
    limited: connection.limits != null,
    relayed: isRelayed(connection),
    opened: connection.timeline.open
  }
}

/** Resolves once the node listens through a relay */
async function reservation (node: Libp2p): Promise<void> {
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (node.getMultiaddrs().some(ma => ma.toString().includes('/p2p-circuit'))) {
        node.removeEventListener('self:peer:update', check)
        resolve()
      }
    }
    node.addEventListener('self:peer:update', check)
  })
}

const node: Libp2p = await createLibp2p({
  addresses: {
    // any relay: the reservation goes to the first peer found that offers one, the relay dialled
    // below (a listen address naming the relay by its uTP address is not understood: see
    // src/hole-punching/relayed-over-utp.ts)
    listen: [...config.listen, ...(config.reserve === true ? ['/p2p-circuit'] : [])]
  },
  // a listen address naming the relay by its uTP address is not understood, nor is an inbound
  // relayed connection over it without relayedOverUtp (see src/hole-punching/relayed-over-utp.ts)
  transports: [utp(), relayedOverUtp(circuitRelayTransport())],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux(config.quiet === true ? { enableKeepAlive: false } : {})],
  connectionMonitor: { enabled: config.quiet !== true },
  services: {
    identify: identify(),
    ping: ping(),
    ...(config.relayServer === true ? { relay: circuitRelayServer() } : {}),
    ...(relayId == null
      ? {}
      : {
          dcutr: dcutrWithOutcome({}, (outcome) => { report({ type: 'dcutr', ...outcome }) }),
          // the relay is the only public peer here: AutoNAT could never confirm our address
          observed: utpObservedAddresses({ trustedObservers: [relayId] })
        })
  },
  start: false
})

let publicAddrs = ''
node.addEventListener('self:peer:update', () => {
  const addrs = node.getMultiaddrs().filter(ma => UTP.matches(ma) && isPrivate(ma) !== true).map(String)
  if (addrs.length > 0 && addrs.join() !== publicAddrs) {
    publicAddrs = addrs.join()
    report({ type: 'public', addrs })
  }
})
node.addEventListener('connection:open', (evt) => { report({ type: 'connection:open', ...describe(evt.detail) }) })
node.addEventListener('connection:close', (evt) => { report({ type: 'connection:close', ...describe(evt.detail) }) })

await node.handle(HASH_SINK, async (stream, connection) => {
  const digest = await answerDigest(stream)
  report({ type: 'received', connection: connection.id, ...digest })
}, { runOnLimitedConnection: true })

/** `{ addr, at? }`: dials `addr`, at wall-clock time `at` (ms) when given */
handle('dial', async (command) => {
  if (typeof command.at === 'number') {
    // a start agreed in advance so that two workers dial at the same moment, which is the
    // subject of the simultaneous-dial test (both SYNs cross in flight)
    await delay(Math.max(0, command.at - Date.now()))
  }
  const connection = await node.dial(multiaddr(String(command.addr)))
  return { connection: describe(connection) }
})

/**
 * `{ peer, bytes, relayed, connection? }`: a transfer over the connection with id `connection`,
 * or else over the first open connection to `peer` of that kind (relayed or direct)
 */
handle('send', async (command) => {
  const relayed = command.relayed === true
  const connection = node.getConnections().find(c => command.connection == null
    ? c.remotePeer.toString() === command.peer && isRelayed(c) === relayed
    : c.id === command.connection)
  if (connection == null) {
    throw new Error(`no ${relayed ? 'relayed' : 'direct'} connection to ${String(command.peer)} ${String(command.connection ?? '')}`)
  }
  const start = performance.now()
  // a relayed connection is limited: streams on it must say they accept that
  const { sent, received } = await sendHashed(connection, Number(command.bytes), Math.floor(Math.random() * 2 ** 31), { runOnLimitedConnection: true })
  return { connection: describe(connection), sent, received, ms: performance.now() - start }
})

handle('connections', async () => ({ connections: node.getConnections().map(describe) }))

handle('stop', async () => {
  await node.stop()
  return {}
})

const reserved = config.reserve === true ? reservation(node) : undefined
await node.start()
if (relayAddr != null) {
  await node.dial(relayAddr)
}
await reserved
report({ type: 'ready', peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })
