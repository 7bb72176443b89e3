import { expect } from 'aegir/chai'
import { InvalidPacketError } from '../../src/engine/errors.ts'
import {
  HEADER_SIZE,
  MAX_EXTENSIONS,
  MAX_SACK_BYTES,
  PacketType,
  decodePacket,
  encodeHeader,
  encodePacket,
  headerSize,
  looksLikeUtp,
  stringifyPacket
} from '../../src/engine/packet.ts'
import type { HeaderFields, Packet, PacketKind } from '../../src/engine/packet.ts'

/**
 * Default seed of the property tests; set PACKET_SPEC_SEED to explore another sequence. The seed
 * is printed in every assertion message so a failure can be replayed.
 */
const SEED = parseSeed(process.env.PACKET_SPEC_SEED, 0x5eed_2901)

function parseSeed (value: string | undefined, fallback: number): number {
  if (value == null || value === '') {
    return fallback
  }
  const n = Number(value)
  return Number.isFinite(n) ? n >>> 0 : fallback
}

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1) */
function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Rng {
  /** integer in [min, max] inclusive */
  int(min: number, max: number): number
  u32(): number
  bytes(n: number): Uint8Array
}

function makeRng (seed: number): Rng {
  const next = mulberry32(seed)
  const u32 = (): number => Math.floor(next() * 0x100000000) >>> 0
  return {
    int: (min: number, max: number): number => min + Math.floor(next() * (max - min + 1)),
    u32,
    bytes: (n: number): Uint8Array => {
      const out = new Uint8Array(n)
      let i = 0
      for (; i + 4 <= n; i += 4) {
        const v = u32()
        out[i] = v >>> 24
        out[i + 1] = v >>> 16
        out[i + 2] = v >>> 8
        out[i + 3] = v
      }
      for (; i < n; i++) {
        out[i] = u32()
      }
      return out
    }
  }
}

function randomHeader (rng: Rng): HeaderFields {
  return {
    type: rng.int(0, 4) as PacketKind,
    connectionId: rng.int(0, 0xffff),
    timestamp: rng.u32(),
    timestampDiff: rng.u32(),
    wndSize: rng.u32(),
    seqNr: rng.int(0, 0xffff),
    ackNr: rng.int(0, 0xffff)
  }
}

function bytesEqual (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a == null || b == null) {
    return a == null && b == null
  }
  if (a.byteLength !== b.byteLength) {
    return false
  }
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) {
      return false
    }
  }
  return true
}

function sameHeader (p: Packet, h: HeaderFields): boolean {
  return p.type === h.type &&
    p.connectionId === h.connectionId &&
    p.timestamp === h.timestamp &&
    p.timestampDiff === h.timestampDiff &&
    p.wndSize === h.wndSize &&
    p.seqNr === h.seqNr &&
    p.ackNr === h.ackNr
}

/** Plain-object view of a packet for readable chai diffs */
function view (p: Packet | HeaderFields & { sack?: Uint8Array, payload?: Uint8Array }): Record<string, unknown> {
  return {
    type: p.type,
    connectionId: p.connectionId,
    timestamp: p.timestamp,
    timestampDiff: p.timestampDiff,
    wndSize: p.wndSize,
    seqNr: p.seqNr,
    ackNr: p.ackNr,
    sack: p.sack == null ? undefined : Array.from(p.sack),
    payload: Array.from(p.payload ?? [])
  }
}

/** Calls decodePacket, turning an escaped exception into a value so a loop can report it */
function safeDecode (bytes: Uint8Array): Packet | InvalidPacketError | { thrown: unknown } {
  try {
    return decodePacket(bytes)
  } catch (err) {
    return { thrown: err }
  }
}

function mustDecode (bytes: Uint8Array, message = ''): Packet {
  const p = decodePacket(bytes)
  if (p instanceof InvalidPacketError) {
    expect.fail(`${message} expected a packet, got ${p.name}: ${p.message}`)
  }
  return p
}

function expectInvalid (bytes: Uint8Array, message: string): void {
  const r = safeDecode(bytes)
  expect(r, message).to.be.an.instanceof(InvalidPacketError)
  expect((r as InvalidPacketError).name, message).to.equal('InvalidPacketError')
}

/** A naive big-endian reference encoder of the 20-byte header and an optional selective ACK */
function referenceEncode (h: HeaderFields, sack?: Uint8Array): Uint8Array {
  const sackLen = sack?.byteLength ?? 0
  const out = new Uint8Array(20 + (sackLen > 0 ? 2 + sackLen : 0))
  const dv = new DataView(out.buffer)
  dv.setUint8(0, (h.type << 4) | 1)
  dv.setUint8(1, sackLen > 0 ? 1 : 0)
  dv.setUint16(2, h.connectionId, false)
  dv.setUint32(4, h.timestamp, false)
  dv.setUint32(8, h.timestampDiff, false)
  dv.setUint32(12, h.wndSize, false)
  dv.setUint16(16, h.seqNr, false)
  dv.setUint16(18, h.ackNr, false)
  if (sack != null && sackLen > 0) {
    dv.setUint8(20, 0)
    dv.setUint8(21, sackLen)
    out.set(sack, 22)
  }
  return out
}

interface Link {
  type: number
  data: Uint8Array
}

/** Assembles a packet by hand: header fields, an arbitrary extension chain and a payload */
function assemble (h: HeaderFields, links: Link[], payload: Uint8Array): Uint8Array {
  let len = 20 + payload.byteLength
  for (const l of links) {
    len += 2 + l.data.byteLength
  }
  const out = new Uint8Array(len)
  const dv = new DataView(out.buffer)
  dv.setUint8(0, (h.type << 4) | 1)
  dv.setUint8(1, links.length > 0 ? links[0].type : 0)
  dv.setUint16(2, h.connectionId)
  dv.setUint32(4, h.timestamp)
  dv.setUint32(8, h.timestampDiff)
  dv.setUint32(12, h.wndSize)
  dv.setUint16(16, h.seqNr)
  dv.setUint16(18, h.ackNr)
  let o = 20
  for (let i = 0; i < links.length; i++) {
    out[o] = i + 1 < links.length ? links[i + 1].type : 0
    out[o + 1] = links[i].data.byteLength
    out.set(links[i].data, o + 2)
    o += 2 + links[i].data.byteLength
  }
  out.set(payload, o)
  return out
}

/** A header with everything zero except the type/version byte and the extension byte */
function rawHeader (typeVer: number, ext = 0): number[] {
  const h = new Array<number>(20).fill(0)
  h[0] = typeVer
  h[1] = ext
  return h
}

describe('packet', () => {
  describe('golden bytes', () => {
    it('decodes and encodes a plain header with a payload', () => {
      const bytes = Uint8Array.from([
        0x41, 0x00, 0x12, 0x34, // ST_SYN, version 1, no extension, connection_id 0x1234
        0xde, 0xad, 0xbe, 0xef, // timestamp_microseconds
        0x01, 0x02, 0x03, 0x04, // timestamp_difference_microseconds
        0x00, 0x10, 0x00, 0x00, // wnd_size
        0xab, 0xcd, 0x00, 0x01, // seq_nr, ack_nr
        0x68, 0x69 // payload
      ])
      const fields = {
        type: PacketType.Syn,
        connectionId: 0x1234,
        timestamp: 0xdeadbeef,
        timestampDiff: 0x01020304,
        wndSize: 0x00100000,
        seqNr: 0xabcd,
        ackNr: 0x0001
      }
      const p = mustDecode(bytes)
      expect(view(p)).to.deep.equal({ ...fields, sack: undefined, payload: [0x68, 0x69] })
      expect(p.timestamp).to.equal(3735928559)
      expect(encodePacket({ ...fields, payload: Uint8Array.from([0x68, 0x69]) })).to.deep.equal(bytes)
    })

    it('decodes and encodes a header-only ST_STATE with a selective ACK', () => {
      const bytes = Uint8Array.from([
        0x21, 0x01, 0xff, 0xff, // ST_STATE, version 1, extension 1 (selective ACK), connection_id 0xffff
        0x80, 0x00, 0x00, 0x00, // timestamp with the top bit set
        0xff, 0xff, 0xff, 0xff, // timestamp difference 2^32 - 1
        0x00, 0x00, 0x00, 0x00, // wnd_size 0
        0x00, 0x00, 0xff, 0xff, // seq_nr 0, ack_nr 0xffff
        0x00, 0x04, 0x05, 0x00, 0x00, 0x80 // no next extension, 4 bytes of mask
      ])
      const fields = {
        type: PacketType.State,
        connectionId: 0xffff,
        timestamp: 0x80000000,
        timestampDiff: 0xffffffff,
        wndSize: 0,
        seqNr: 0,
        ackNr: 0xffff
      }
      const p = mustDecode(bytes)
      expect(view(p)).to.deep.equal({ ...fields, sack: [0x05, 0x00, 0x00, 0x80], payload: [] })
      expect(p.timestamp).to.equal(2147483648)
      expect(p.timestampDiff).to.equal(4294967295)
      expect(encodePacket({ ...fields, sack: Uint8Array.from([0x05, 0x00, 0x00, 0x80]) })).to.deep.equal(bytes)
      expect(headerSize(4)).to.equal(bytes.byteLength)
      expect(headerSize(0)).to.equal(HEADER_SIZE)
      expect(HEADER_SIZE).to.equal(20)
    })

    it('skips unknown extensions before and after the selective ACK', () => {
      const bytes = Uint8Array.from([
        0x01, 0x02, 0x00, 0x07, // ST_DATA, first extension type 2 (unknown), connection_id 7
        0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x01, 0x00,
        0x00, 0x05, 0x00, 0x03,
        0x01, 0x03, 0xaa, 0xbb, 0xcc, // type 2: next is SACK, 3 bytes
        0x07, 0x04, 0x01, 0x02, 0x03, 0x04, // SACK: next is type 7, 4 bytes
        0x00, 0x02, 0xee, 0xff, // type 7: last, 2 bytes
        0x10, 0x20, 0x30 // payload
      ])
      const fields = {
        type: PacketType.Data,
        connectionId: 7,
        timestamp: 1,
        timestampDiff: 2,
        wndSize: 256,
        seqNr: 5,
        ackNr: 3
      }
      const p = mustDecode(bytes)
      expect(view(p)).to.deep.equal({ ...fields, sack: [1, 2, 3, 4], payload: [0x10, 0x20, 0x30] })
      expect(p.payload.byteOffset).to.equal(35)
      expect(p.sack?.byteOffset).to.equal(27)

      // re-encoding drops the unknown extensions
      expect(encodePacket({ ...fields, sack: p.sack, payload: p.payload })).to.deep.equal(Uint8Array.from([
        0x01, 0x01, 0x00, 0x07,
        0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x02,
        0x00, 0x00, 0x01, 0x00,
        0x00, 0x05, 0x00, 0x03,
        0x00, 0x04, 0x01, 0x02, 0x03, 0x04,
        0x10, 0x20, 0x30
      ]))
    })

    it('keeps the first selective ACK and ignores a second one and an empty one', () => {
      const h = { type: PacketType.State, connectionId: 1, timestamp: 2, timestampDiff: 3, wndSize: 4, seqNr: 5, ackNr: 6 }
      const empty = mustDecode(assemble(h, [{ type: 1, data: new Uint8Array(0) }], new Uint8Array(0)))
      expect(empty.sack).to.equal(undefined)
      const two = mustDecode(assemble(h, [
        { type: 1, data: new Uint8Array(0) },
        { type: 1, data: Uint8Array.from([0xf0]) },
        { type: 1, data: Uint8Array.from([0x0f, 0x0f]) }
      ], Uint8Array.from([9])))
      expect(Array.from(two.sack ?? [])).to.deep.equal([0xf0])
      expect(Array.from(two.payload)).to.deep.equal([9])
    })
  })

  describe('reference encoder', () => {
    it('agrees with encodeHeader on random headers at random offsets', () => {
      const seed = SEED
      const rng = makeRng(seed)
      for (let i = 0; i < 2000; i++) {
        const h = randomHeader(rng)
        const sackBytes = rng.int(0, 1) === 0 ? 0 : 4 * rng.int(1, MAX_SACK_BYTES / 4)
        const sack = sackBytes > 0 ? rng.bytes(sackBytes) : undefined
        const expected = referenceEncode(h, sack)

        const offset = rng.int(0, 64)
        const out = new Uint8Array(offset + expected.byteLength + 16).fill(0xa5)
        const n = encodeHeader(out, offset, h, sack, sackBytes)
        const msg = `seed=${seed} case=${i}`
        expect(n, msg).to.equal(expected.byteLength)
        expect(n, msg).to.equal(headerSize(sackBytes))
        const written = out.subarray(offset, offset + n)
        if (!bytesEqual(written, expected)) {
          expect(Array.from(written), msg).to.deep.equal(Array.from(expected))
        }
        // nothing outside the header is touched
        const outside = [...out.subarray(0, offset), ...out.subarray(offset + n)]
        expect(outside.every(b => b === 0xa5), msg).to.equal(true)
      }
    })

    it('writes only sackBytes of a longer mask buffer', () => {
      const h = { type: PacketType.State, connectionId: 9, timestamp: 1, timestampDiff: 2, wndSize: 3, seqNr: 4, ackNr: 5 }
      const mask = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
      const out = new Uint8Array(64)
      const n = encodeHeader(out, 0, h, mask, 8)
      expect(n).to.equal(30)
      expect(Array.from(out.subarray(0, n))).to.deep.equal(Array.from(referenceEncode(h, mask.subarray(0, 8))))
    })
  })

  describe('round trip', () => {
    it('decodes random headers, extension chains and payloads (10,000 cases)', () => {
      const seed = SEED
      const rng = makeRng(seed)
      for (let i = 0; i < 10_000; i++) {
        const msg = `seed=${seed} case=${i}`
        const h = randomHeader(rng)
        const links: Link[] = []
        const unknown = rng.int(0, MAX_EXTENSIONS - 1)
        for (let k = 0; k < unknown; k++) {
          links.push({ type: rng.int(2, 255), data: rng.bytes(rng.int(0, 255)) })
        }
        let sack: Uint8Array | undefined
        if (rng.int(0, 2) > 0) {
          sack = rng.bytes(rng.int(1, 64))
          links.splice(rng.int(0, links.length), 0, { type: 1, data: sack })
        }
        const payload = rng.bytes(rng.int(0, 1500))
        const bytes = assemble(h, links, payload)

        const p = decodePacket(bytes)
        if (p instanceof InvalidPacketError) {
          expect.fail(`${msg} rejected: ${p.message}`)
        }
        if (!sameHeader(p, h) || !bytesEqual(p.sack, sack) || !bytesEqual(p.payload, payload)) {
          expect(view(p), msg).to.deep.equal(view({ ...h, sack, payload }))
        }
        if (p.payload.byteLength > 0) {
          expect(p.payload.byteOffset + p.payload.byteLength, msg).to.equal(bytes.byteLength)
        }

        // encoding the decoded fields gives the canonical form, which decodes to the same fields
        const again = encodePacket({ ...p })
        expect(again.byteLength, msg).to.equal(headerSize(sack?.byteLength ?? 0) + payload.byteLength)
        const q = decodePacket(again)
        if (q instanceof InvalidPacketError) {
          expect.fail(`${msg} re-encoded packet rejected: ${q.message}`)
        }
        if (!sameHeader(q, h) || !bytesEqual(q.sack, sack) || !bytesEqual(q.payload, payload)) {
          expect(view(q), msg).to.deep.equal(view({ ...h, sack, payload }))
        }
        // with no unknown extension the hand-assembled bytes are already canonical
        if (unknown === 0 && !bytesEqual(again, bytes)) {
          expect(Array.from(again), msg).to.deep.equal(Array.from(bytes))
        }
      }
    })

    it('accepts a selective ACK of any length on decode', () => {
      const h = { type: PacketType.State, connectionId: 0xbeef, timestamp: 10, timestampDiff: 20, wndSize: 30, seqNr: 40, ackNr: 50 }
      for (const n of [1, 2, 3, 5, 6, 7, 9, 31, 33, 63, 64, 255]) {
        const mask = new Uint8Array(n).map((_, i) => (i * 37 + n) & 0xff)
        const p = mustDecode(assemble(h, [{ type: 1, data: mask }], Uint8Array.from([1, 2])), `sack=${n}`)
        expect(Array.from(p.sack ?? []), `sack=${n}`).to.deep.equal(Array.from(mask))
        expect(Array.from(p.payload), `sack=${n}`).to.deep.equal([1, 2])
      }
    })

    it('emits a selective ACK of exactly the given multiple-of-4 length', () => {
      const h = { type: PacketType.State, connectionId: 1, timestamp: 1, timestampDiff: 1, wndSize: 1, seqNr: 1, ackNr: 1 }
      for (let n = 4; n <= MAX_SACK_BYTES; n += 4) {
        const mask = new Uint8Array(n).map((_, i) => 0xff - i)
        const out = new Uint8Array(100)
        const written = encodeHeader(out, 0, h, mask, n)
        expect(written, `sack=${n}`).to.equal(22 + n)
        expect(out[1], `sack=${n}`).to.equal(1)
        expect(out[20], `sack=${n}`).to.equal(0)
        expect(out[21], `sack=${n}`).to.equal(n)
        expect(Array.from(out.subarray(22, 22 + n)), `sack=${n}`).to.deep.equal(Array.from(mask))
        const p = mustDecode(out.subarray(0, written), `sack=${n}`)
        expect(p.sack?.byteLength, `sack=${n}`).to.equal(n)
        expect(p.payload.byteLength, `sack=${n}`).to.equal(0)
      }
      // no mask: no extension at all
      const out = new Uint8Array(40).fill(0x77)
      expect(encodeHeader(out, 0, h)).to.equal(20)
      expect(out[1]).to.equal(0)
      expect(out[20]).to.equal(0x77)
    })
  })

  describe('malformed packets', () => {
    const valid = rawHeader(0x01)

    const cases: Array<[string, number[]]> = [
      ['empty', []],
      ...Array.from({ length: 19 }, (_, i): [string, number[]] => [`truncated header of ${i + 1} bytes`, valid.slice(0, i + 1)]),
      ['version 0', rawHeader(0x00)],
      ['version 2', rawHeader(0x02)],
      ['version 15', rawHeader(0x0f)],
      ['version 0 with payload', [...rawHeader(0x20), 1, 2, 3]],
      ...Array.from({ length: 11 }, (_, i): [string, number[]] => [`type ${i + 5}`, rawHeader(((i + 5) << 4) | 1)]),
      ['extension set, no bytes after the header', rawHeader(0x21, 1)],
      ['unknown extension set, no bytes after the header', rawHeader(0x21, 200)],
      ['extension set, one byte after the header', [...rawHeader(0x21, 1), 0]],
      ['extension length past the end by 1', [...rawHeader(0x21, 1), 0, 4, 1, 2, 3]],
      ['extension length past the end by 255', [...rawHeader(0x21, 1), 0, 255]],
      ['unknown extension length past the end by 1', [...rawHeader(0x01, 9), 0, 10, ...new Array<number>(9).fill(0)]],
      ['second link header missing', [...rawHeader(0x01, 2), 1, 0]],
      ['second link header cut after one byte', [...rawHeader(0x01, 2), 1, 0, 0]],
      ['extension chain one longer than MAX_EXTENSIONS', [
        ...rawHeader(0x01, 2),
        ...Array.from({ length: MAX_EXTENSIONS + 1 }, (_, i) => [i === MAX_EXTENSIONS ? 0 : 2, 0]).flat()
      ]],
      ['loop of 1000 zero-length extensions', [
        ...rawHeader(0x01, 2),
        ...Array.from({ length: 1000 }, (_, i) => [i === 999 ? 0 : 2, 0]).flat(),
        1, 2, 3
      ]],
      ['chain of zero-length extensions that never ends', [
        ...rawHeader(0x01, 2),
        ...new Array<number>(200).fill(2).map((v, i) => i % 2 === 0 ? v : 0)
      ]],
      ['last link of a chain runs past the end', [
        ...rawHeader(0x01, 3), 1, 2, 0xaa, 0xbb, 5, 4, 1, 2, 3, 4, 0, 10, 1, 2, 3, 4, 5
      ]]
    ]

    for (const [name, bytes] of cases) {
      it(`rejects ${name}`, () => {
        expectInvalid(Uint8Array.from(bytes), name)
      })
    }

    it('accepts a chain of exactly MAX_EXTENSIONS links', () => {
      const bytes = Uint8Array.from([
        ...rawHeader(0x01, 2),
        ...Array.from({ length: MAX_EXTENSIONS }, (_, i) => [i === MAX_EXTENSIONS - 1 ? 0 : 2, 0]).flat(),
        7, 8
      ])
      const p = mustDecode(bytes)
      expect(Array.from(p.payload)).to.deep.equal([7, 8])
    })

    it('accepts every valid type with a bare header', () => {
      for (let type = 0; type <= 4; type++) {
        const p = mustDecode(Uint8Array.from(rawHeader((type << 4) | 1)), `type=${type}`)
        expect(p.type).to.equal(type)
        expect(p.payload.byteLength).to.equal(0)
        expect(p.sack).to.equal(undefined)
      }
    })
  })

  describe('truncation', () => {
    it('decodes every prefix of a packet with extensions consistently or rejects it', () => {
      const h = { type: PacketType.Data, connectionId: 0x4242, timestamp: 0xfedcba98, timestampDiff: 77, wndSize: 1 << 20, seqNr: 0xfffe, ackNr: 0x8000 }
      const sack = Uint8Array.from([0xff, 0x01, 0x80, 0x7e, 0x11])
      const payload = Uint8Array.from({ length: 40 }, (_, i) => i * 3)
      const bytes = assemble(h, [
        { type: 9, data: Uint8Array.from([1, 2, 3]) },
        { type: 1, data: sack },
        { type: 0x42, data: new Uint8Array(0) },
        { type: 200, data: Uint8Array.from([4, 5, 6, 7, 8, 9, 10]) }
      ], payload)
      const payloadStart = bytes.byteLength - payload.byteLength
      let decoded = 0
      for (let len = 0; len <= bytes.byteLength; len++) {
        const msg = `prefix=${len}`
        const r = safeDecode(bytes.subarray(0, len))
        if ('thrown' in r) {
          expect.fail(`${msg} threw ${String(r.thrown)}`)
        }
        if (len < payloadStart) {
          expect(r, msg).to.be.an.instanceof(InvalidPacketError)
          expect((r as InvalidPacketError).name, msg).to.equal('InvalidPacketError')
          continue
        }
        if (r instanceof InvalidPacketError) {
          expect.fail(`${msg} rejected: ${r.message}`)
        }
        decoded++
        expect(view(r), msg).to.deep.equal(view({ ...h, sack, payload: payload.subarray(0, len - payloadStart) }))
      }
      expect(decoded).to.equal(payload.byteLength + 1)
    })
  })

  describe('fuzz', () => {
    it('never throws on 100,000 random datagrams', function () {
      this.timeout(10_000)
      const seed = SEED
      const rng = makeRng(seed)
      // a pool of random bytes to slice datagrams from, so the loop does not pay for a PRNG call per byte
      const pool = rng.bytes(1 << 20)
      const scratch = new Uint8Array(1500)
      let decoded = 0
      let rejected = 0
      for (let i = 0; i < 100_000; i++) {
        const len = rng.int(0, 1500)
        let bytes: Uint8Array
        if (i % 3 === 0) {
          // a valid header prefix followed by a plausible extension chain with random lengths
          scratch.set(pool.subarray(rng.int(0, pool.byteLength - 1500)).subarray(0, 1500))
          scratch[0] = (rng.int(0, 4) << 4) | 1
          scratch[1] = rng.int(0, 3)
          let o = HEADER_SIZE
          const links = rng.int(0, MAX_EXTENSIONS + 2)
          for (let k = 0; k < links && o + 2 <= 1500; k++) {
            scratch[o] = k + 1 === links ? 0 : rng.int(1, 3)
            scratch[o + 1] = rng.int(0, 1) === 0 ? rng.int(0, 8) : rng.int(0, 255)
            o += 2 + scratch[o + 1]
          }
          bytes = scratch.subarray(0, len)
        } else {
          const start = rng.int(0, pool.byteLength - len)
          bytes = pool.subarray(start, start + len)
        }
        const r = safeDecode(bytes)
        if (r instanceof InvalidPacketError) {
          rejected++
        } else if ('thrown' in r) {
          expect.fail(`seed=${seed} case=${i} threw ${String(r.thrown)}`)
        } else {
          decoded++
          // views stay inside the input
          const end = bytes.byteOffset + bytes.byteLength
          if (r.payload.byteLength > 0 && (r.payload.buffer !== bytes.buffer || r.payload.byteOffset + r.payload.byteLength !== end)) {
            expect.fail(`seed=${seed} case=${i} payload view outside the input`)
          }
          if (r.sack != null && (r.sack.buffer !== bytes.buffer || r.sack.byteOffset < bytes.byteOffset + HEADER_SIZE + 2 || r.sack.byteOffset + r.sack.byteLength > end)) {
            expect.fail(`seed=${seed} case=${i} sack view outside the input`)
          }
        }
      }
      expect(decoded, `seed=${seed}`).to.be.greaterThan(0)
      expect(rejected, `seed=${seed}`).to.be.greaterThan(0)
      expect(decoded + rejected).to.equal(100_000)
    })
  })

  describe('helpers', () => {
    it('looksLikeUtp accepts version 1 headers of the five types', () => {
      for (let type = 0; type <= 4; type++) {
        expect(looksLikeUtp(Uint8Array.from(rawHeader((type << 4) | 1))), `type=${type}`).to.equal(true)
        expect(looksLikeUtp(Uint8Array.from([...rawHeader((type << 4) | 1, 1), 0, 4, 0, 0, 0, 0])), `type=${type}`).to.equal(true)
      }
    })

    it('looksLikeUtp rejects other first bytes and short datagrams', () => {
      for (let b = 0; b < 256; b++) {
        const ok = (b & 0x0f) === 1 && (b >> 4) <= 4
        expect(looksLikeUtp(Uint8Array.from(rawHeader(b))), `byte=0x${b.toString(16)}`).to.equal(ok)
      }
      expect(looksLikeUtp(new Uint8Array(0))).to.equal(false)
      expect(looksLikeUtp(Uint8Array.from(rawHeader(0x01)).subarray(0, 19))).to.equal(false)
      // a STUN binding request and a DTLS record do not look like uTP
      expect(looksLikeUtp(Uint8Array.from([0x00, 0x01, ...new Array<number>(18).fill(0)]))).to.equal(false)
      expect(looksLikeUtp(Uint8Array.from([0x16, 0xfe, ...new Array<number>(18).fill(0)]))).to.equal(false)
    })

    it('stringifyPacket names the type, seq and ack', () => {
      const h = { type: PacketType.State, connectionId: 17, timestamp: 0, timestampDiff: 0, wndSize: 1000, seqNr: 123, ackNr: 456 }
      const s = stringifyPacket(mustDecode(encodePacket({ ...h, sack: Uint8Array.from([0x01, 0, 0, 0x80]) })))
      expect(s).to.include('ST_STATE')
      expect(s).to.include('seq=123')
      expect(s).to.include('ack=456')
      expect(s).to.include('id=17')
      expect(s).to.include(`sack=1${'0'.repeat(30)}1`)

      const names = ['ST_DATA', 'ST_FIN', 'ST_STATE', 'ST_RESET', 'ST_SYN']
      for (let type = 0; type <= 4; type++) {
        const d = stringifyPacket({ ...h, type: type as PacketKind, payload: Uint8Array.from([1, 2, 3]) })
        expect(d).to.include(names[type])
        expect(d).to.include('len=3')
      }
    })
  })

  describe('sub-array input', () => {
    it('decodes a view with a nonzero byteOffset into a larger buffer', () => {
      const h = { type: PacketType.Data, connectionId: 99, timestamp: 5, timestampDiff: 6, wndSize: 7, seqNr: 8, ackNr: 9 }
      const sack = Uint8Array.from([0xde, 0xad, 0xbe, 0xef])
      const payload = Uint8Array.from({ length: 100 }, (_, i) => 255 - i)
      const packet = assemble(h, [{ type: 5, data: Uint8Array.from([1, 2]) }, { type: 1, data: sack }], payload)

      const buffer = new ArrayBuffer(packet.byteLength + 64)
      const whole = new Uint8Array(buffer).fill(0xcc)
      whole.set(packet, 37)
      const input = new Uint8Array(buffer, 37, packet.byteLength)

      const p = mustDecode(input)
      expect(view(p)).to.deep.equal(view({ ...h, sack, payload }))
      expect(p.payload.buffer).to.equal(buffer)
      expect(p.payload.byteOffset).to.equal(37 + packet.byteLength - payload.byteLength)
      expect(p.payload.byteLength).to.equal(payload.byteLength)
      expect(p.sack?.buffer).to.equal(buffer)
      expect(p.sack?.byteOffset).to.equal(37 + 20 + 4 + 2)

      // a view that ends before the buffer does: the trailing bytes are not part of the payload
      const short = mustDecode(new Uint8Array(buffer, 37, packet.byteLength - 10))
      expect(Array.from(short.payload)).to.deep.equal(Array.from(payload.subarray(0, 90)))

      // a view whose header ends exactly at the view's end has an empty payload
      const bare = new Uint8Array(buffer, 37, packet.byteLength - payload.byteLength)
      expect(mustDecode(bare).payload.byteLength).to.equal(0)
    })
  })
})
