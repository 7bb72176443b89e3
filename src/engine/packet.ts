/**
 * BEP 29 packet codec, header version 1.
 *
 * ```
 * 0       4       8               16              24              32
 * +-------+-------+---------------+---------------+---------------+
 * | type  | ver   | extension     | connection_id                 |
 * +-------+-------+---------------+---------------+---------------+
 * | timestamp_microseconds                                        |
 * +---------------+---------------+---------------+---------------+
 * | timestamp_difference_microseconds                             |
 * +---------------+---------------+---------------+---------------+
 * | wnd_size                                                      |
 * +---------------+---------------+---------------+---------------+
 * | seq_nr                        | ack_nr                        |
 * +---------------+---------------+---------------+---------------+
 * ```
 *
 * Extensions follow as a chain of `[next extension type, length, bytes...]`. Strict in what it
 * sends (a selective ACK mask is a multiple of 4 bytes), liberal in what it accepts (any mask
 * length, unknown extensions skipped). Decoding never throws: malformed input comes back as an
 * {@link InvalidPacketError}.
 */

import { InvalidPacketError } from './errors.ts'

export const PacketType = {
  /** regular data packet; carries payload */
  Data: 0,
  /** finalize: the sender will send no more data; sequenced like data */
  Fin: 1,
  /** state: an ACK, carries no payload and takes no sequence number */
  State: 2,
  /** terminate the connection forcefully */
  Reset: 3,
  /** connect: opens a connection, sequenced */
  Syn: 4
} as const

export type PacketKind = typeof PacketType[keyof typeof PacketType]

const PACKET_TYPE_NAMES = ['ST_DATA', 'ST_FIN', 'ST_STATE', 'ST_RESET', 'ST_SYN']
const PATH_MTU_KIND_NAMES = ['capable', 'probe', 'echo']

export const VERSION = 1
export const HEADER_SIZE = 20

export const Extension = {
  None: 0,
  SelectiveAck: 1,
  /**
   * Path MTU probing (this implementation's own; other implementations skip unknown extensions,
   * as BEP 29 asks). Body: kind (1 byte, {@link PathMtuKind}), then a datagram size (2 bytes).
   */
  PathMtu: 0x50
} as const

/** What a path MTU extension says */
export const PathMtuKind = {
  /** in a SYN or SYN-ACK: the sender answers probes */
  Capable: 0,
  /** this datagram is a probe of its size; answer with an echo */
  Probe: 1,
  /** a probe of the given size arrived whole */
  Echo: 2
} as const

export type PathMtuKindValue = typeof PathMtuKind[keyof typeof PathMtuKind]

/** The path MTU extension of a packet */
export interface PathMtuExtension {
  kind: PathMtuKindValue
  /** datagram bytes: the probe's size (probe, echo); unused (0) in `Capable` */
  size: number
}

/** Bytes the path MTU extension takes on the wire, its two-byte link included */
export const PATH_MTU_EXT_BYTES = 2 + 3

/**
 * libutp takes a datagram whose first extension is 3 or more for something other than uTP (its
 * version check), so a path MTU extension never comes first: without a selective ACK ahead of
 * it, an empty "extension bits" extension (type 2, 8 zero bytes, which libutp reads and other
 * implementations skip) does
 */
const EXTENSION_BITS = 2
const EXTENSION_BITS_BYTES = 2 + 8

/** Byte offsets of the header fields */
const TYPE_VER = 0
const EXTENSION = 1
const CONNECTION_ID = 2
const TIMESTAMP = 4
const TIMESTAMP_DIFF = 8
const WND_SIZE = 12
const SEQ_NR = 16
const ACK_NR = 18

/**
 * Longest extension chain accepted. Real peers send at most two extensions; a long chain of
 * empty extensions costs a loop per link, so it is refused.
 */
export const MAX_EXTENSIONS = 8

/** Largest selective ACK mask this engine sends, in bytes (256 packets) */
export const MAX_SACK_BYTES = 32

export interface Packet {
  type: PacketKind
  connectionId: number
  /** sender's clock when sent, microseconds, modulo 2^32 */
  timestamp: number
  /** sender's view of our one-way delay, microseconds, modulo 2^32 */
  timestampDiff: number
  /** bytes the sender can still receive */
  wndSize: number
  seqNr: number
  ackNr: number
  /**
   * Selective ACK mask: bit i (LSB first within each byte) acknowledges `ackNr + 2 + i`.
   * Undefined when the packet carried none.
   */
  sack?: Uint8Array
  /** path MTU extension, when the packet carried one */
  pathMtu?: PathMtuExtension
  /** data after the header and extensions; a view into the decoded buffer */
  payload: Uint8Array
}

const EMPTY = new Uint8Array(0)

// pre-built so that a flood of garbage costs no stack capture
const TOO_SHORT = new InvalidPacketError('packet shorter than the 20-byte uTP header')
const BAD_VERSION = new InvalidPacketError('packet version is not 1')
const BAD_TYPE = new InvalidPacketError('packet type is not one of ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN')
const EXT_TRUNCATED = new InvalidPacketError('extension header runs past the end of the packet')
const EXT_OVERFLOW = new InvalidPacketError('extension length runs past the end of the packet')
const EXT_TOO_MANY = new InvalidPacketError(`extension chain longer than ${MAX_EXTENSIONS} links`)

/** True when the first byte of a datagram looks like a uTP version 1 header */
export function looksLikeUtp (bytes: Uint8Array): boolean {
  return bytes.byteLength >= HEADER_SIZE && (bytes[TYPE_VER] & 0x0f) === VERSION && (bytes[TYPE_VER] >> 4) <= PacketType.Syn
}

/** Decodes a datagram, returning an {@link InvalidPacketError} instead of throwing */
export function decodePacket (bytes: Uint8Array): Packet | InvalidPacketError {
  const len = bytes.byteLength
  if (len < HEADER_SIZE) {
    return TOO_SHORT
  }
  const typeVer = bytes[TYPE_VER]
  if ((typeVer & 0x0f) !== VERSION) {
    return BAD_VERSION
  }
  const type = typeVer >> 4
  if (type > PacketType.Syn) {
    return BAD_TYPE
  }

  let sack: Uint8Array | undefined
  let pathMtu: PathMtuExtension | undefined
  let ext = bytes[EXTENSION]
  let offset = HEADER_SIZE
  let links = 0
  while (ext !== Extension.None) {
    if (++links > MAX_EXTENSIONS) {
      return EXT_TOO_MANY
    }
    if (offset + 2 > len) {
      return EXT_TRUNCATED
    }
    const next = bytes[offset]
    const extLen = bytes[offset + 1]
    const start = offset + 2
    if (start + extLen > len) {
      return EXT_OVERFLOW
    }
    if (ext === Extension.SelectiveAck && sack == null && extLen > 0) {
      sack = bytes.subarray(start, start + extLen)
    } else if (ext === Extension.PathMtu && extLen >= 3 && bytes[start] <= PathMtuKind.Echo) {
      pathMtu = { kind: bytes[start] as PathMtuKindValue, size: (bytes[start + 1] << 8) | bytes[start + 2] }
    }
    offset = start + extLen
    ext = next
  }

  return {
    type: type as PacketKind,
    connectionId: (bytes[CONNECTION_ID] << 8) | bytes[CONNECTION_ID + 1],
    timestamp: readU32(bytes, TIMESTAMP),
    timestampDiff: readU32(bytes, TIMESTAMP_DIFF),
    wndSize: readU32(bytes, WND_SIZE),
    seqNr: (bytes[SEQ_NR] << 8) | bytes[SEQ_NR + 1],
    ackNr: (bytes[ACK_NR] << 8) | bytes[ACK_NR + 1],
    sack,
    pathMtu,
    payload: offset === len ? EMPTY : bytes.subarray(offset)
  }
}

/** Header fields of an outgoing packet; the payload travels separately */
export interface HeaderFields {
  type: PacketKind
  connectionId: number
  timestamp: number
  timestampDiff: number
  wndSize: number
  seqNr: number
  ackNr: number
}

/** Bytes a header takes with a selective ACK of `sackBytes` bytes (0 for none) and maybe a path MTU extension */
export function headerSize (sackBytes: number, pathMtu = false): number {
  if (sackBytes === 0) {
    return HEADER_SIZE + (pathMtu ? EXTENSION_BITS_BYTES + PATH_MTU_EXT_BYTES : 0)
  }
  return HEADER_SIZE + 2 + sackBytes + (pathMtu ? PATH_MTU_EXT_BYTES : 0)
}

/**
 * Writes a header into `out` at `offset` without allocating. `sackBytes` of `sack` are written
 * as the selective ACK extension; callers pass a multiple of 4 (BEP 29). A `sackBytes` longer than
 * `sack` or than 255 is ignored rather than written half-filled. A path MTU extension follows
 * when given. Returns the bytes written.
 */
export function encodeHeader (out: Uint8Array, offset: number, h: HeaderFields, sack?: Uint8Array, sackBytes = 0, pathMtu?: PathMtuExtension): number {
  if (sack == null || sackBytes > sack.byteLength || sackBytes > 255) {
    sackBytes = 0
  }
  out[offset + TYPE_VER] = (h.type << 4) | VERSION
  let first: number = pathMtu != null ? EXTENSION_BITS : Extension.None
  if (sackBytes > 0) {
    first = Extension.SelectiveAck
  }
  out[offset + EXTENSION] = first
  out[offset + CONNECTION_ID] = h.connectionId >> 8
  out[offset + CONNECTION_ID + 1] = h.connectionId
  writeU32(out, offset + TIMESTAMP, h.timestamp)
  writeU32(out, offset + TIMESTAMP_DIFF, h.timestampDiff)
  writeU32(out, offset + WND_SIZE, h.wndSize)
  out[offset + SEQ_NR] = h.seqNr >> 8
  out[offset + SEQ_NR + 1] = h.seqNr
  out[offset + ACK_NR] = h.ackNr >> 8
  out[offset + ACK_NR + 1] = h.ackNr
  let at = offset + HEADER_SIZE
  if (sackBytes > 0 && sack != null) {
    out[at] = pathMtu != null ? Extension.PathMtu : Extension.None
    out[at + 1] = sackBytes
    out.set(sack.subarray(0, sackBytes), at + 2)
    at += 2 + sackBytes
  }
  if (pathMtu != null && sackBytes === 0) {
    out[at] = Extension.PathMtu
    out[at + 1] = 8
    out.fill(0, at + 2, at + EXTENSION_BITS_BYTES)
    at += EXTENSION_BITS_BYTES
  }
  if (pathMtu != null) {
    out[at] = Extension.None
    out[at + 1] = 3
    out[at + 2] = pathMtu.kind
    out[at + 3] = pathMtu.size >> 8
    out[at + 4] = pathMtu.size
    at += PATH_MTU_EXT_BYTES
  }
  return at - offset
}

/** Encodes a whole packet into a new buffer (for tests and tools; the hot path uses {@link encodeHeader}) */
export function encodePacket (p: HeaderFields & { sack?: Uint8Array, pathMtu?: PathMtuExtension, payload?: Uint8Array }): Uint8Array {
  const sackBytes = p.sack?.byteLength ?? 0
  const payload = p.payload ?? EMPTY
  const out = new Uint8Array(headerSize(sackBytes, p.pathMtu != null) + payload.byteLength)
  const n = encodeHeader(out, 0, p, p.sack, sackBytes, p.pathMtu)
  out.set(payload, n)
  return out
}

/** One-line description of a packet for logs and test names */
export function stringifyPacket (p: Packet | HeaderFields & { sack?: Uint8Array, pathMtu?: PathMtuExtension, payload?: Uint8Array }): string {
  let s = `type=${packetTypeName(p.type)} id=${p.connectionId} seq=${p.seqNr} ack=${p.ackNr} wnd=${p.wndSize}`
  if (p.payload != null && p.payload.byteLength > 0) {
    s += ` len=${p.payload.byteLength}`
  }
  if (p.sack != null) {
    s += ` sack=${Array.from(p.sack, b => b.toString(2).padStart(8, '0').split('').reverse().join('')).join('')}`
  }
  if (p.pathMtu != null) {
    s += ` pmtu=${PATH_MTU_KIND_NAMES[p.pathMtu.kind]}:${p.pathMtu.size}`
  }
  return s
}

export function packetTypeName (type: number): string {
  return PACKET_TYPE_NAMES[type] ?? `ST_UNKNOWN(${type})`
}

function readU32 (b: Uint8Array, o: number): number {
  // multiply instead of shifting the top byte: `<< 24` would go negative
  return b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3])
}

function writeU32 (b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24
  b[o + 1] = v >>> 16
  b[o + 2] = v >>> 8
  b[o + 3] = v
}
