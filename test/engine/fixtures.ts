/**
 * One connection under test against a peer whose packets the test builds by hand: the constants of
 * both roles, and the `connected()` initiator, that several engine specs share.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { FixedWindow } from '../../src/engine/congestion/fixed.ts'
import { Connection, maxPayloadFor } from '../../src/engine/connection.ts'
import { PacketType } from '../../src/engine/packet.ts'
import { seqAdd, seqDiff } from '../../src/engine/seq.ts'
import { drainEvents, expectTransmit, scriptedRandomBytes, send } from './helpers.ts'
import type { PacketRepr } from './helpers.ts'
import type { ConnectionConfig } from '../../src/engine/config.ts'
import type { CongestionController } from '../../src/engine/congestion/controller.ts'
import type { Packet } from '../../src/engine/packet.ts'

export const T0 = 1_000_000
export const RTT = 10_000
/** when `connected()` has received the SYN-ACK */
export const T1 = T0 + RTT
/** the test double's congestion window, and the peer's advertised window */
export const WINDOW = 1 << 20
export const EMPTY = new Uint8Array(0)
export const MSS = maxPayloadFor(resolveConnectionConfig().packetSize)

// the initiator under test: its SYN carries LOCAL_SEQ, the peer's SYN-ACK REMOTE_SEQ
export const LOCAL_ID = 0x1234
export const LOCAL_SEQ = 0x2000
export const REMOTE_SEQ = 0x7000

/** What the peer sends to an initiator (with LOCAL_ID) whose SYN carried `localSeq` */
export function fromPeer (localSeq: number): PacketRepr {
  return {
    type: PacketType.State,
    connectionId: LOCAL_ID,
    timestamp: 0,
    timestampDiff: 0,
    wndSize: WINDOW,
    seqNr: REMOTE_SEQ,
    ackNr: localSeq,
    payload: EMPTY
  }
}

/** what the peer sends to the initiator under test */
export const PEER: PacketRepr = fromPeer(LOCAL_SEQ)

// the acceptor under test: the initiator's SYN carries SYN_SEQ, the SYN-ACK ACCEPT_SEQ
export const SYN_ID = 0x4321
export const SYN_SEQ = 0x0100
export const ACCEPT_SEQ = 0xa000

/** the initiator's SYN, as the acceptor under test receives it */
export const SYN: PacketRepr = {
  type: PacketType.Syn,
  connectionId: SYN_ID,
  timestamp: 0,
  timestampDiff: 0,
  wndSize: WINDOW,
  seqNr: SYN_SEQ,
  ackNr: 0,
  payload: EMPTY
}

export function local (n: number): number {
  return seqAdd(LOCAL_SEQ, n)
}

export function remote (n: number): number {
  return seqAdd(REMOTE_SEQ, n)
}

/** CONNECTED initiator: the SYN-ACK came at T1 (one RTT sample) and was acknowledged */
export function connected (cfg: Readonly<ConnectionConfig>, options: { isn?: number, cc?: CongestionController } = {}): Connection {
  const isn = options.isn ?? LOCAL_SEQ
  const conn = Connection.connect({ config: cfg, randomBytes: scriptedRandomBytes([isn]), now: T0, recvId: LOCAL_ID, congestionController: options.cc ?? new FixedWindow(WINDOW) })
  expectTransmit(conn, T0, [{ type: PacketType.Syn, seqNr: isn }])
  send(conn, T1, { ...PEER, ackNr: isn })
  expect(drainEvents(conn)).to.deep.equal([{ type: 'connected' }])
  expectTransmit(conn, T1, [{ type: PacketType.State, seqNr: seqAdd(isn, 1) }])
  return conn
}

/** sequence numbers of the data packets, as offsets from `base` */
export function dataOffsets (packets: Packet[], base = LOCAL_SEQ): number[] {
  return packets.filter(p => p.type === PacketType.Data).map(p => seqDiff(p.seqNr, base))
}
