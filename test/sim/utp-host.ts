/**
 * A uTP endpoint on the simulated network, with small applications that drive its connections:
 * bulk transfers of a deterministic byte stream verified on arrival.
 */

import { Endpoint } from '../../src/engine/endpoint.ts'
import { Prng } from './prng.ts'
import { ByteCounter } from './reno.ts'
import type { SimAddress, SimNode } from './network.ts'
import type { CloseReason } from '../../src/engine/connection.ts'
import type { EndpointConnection, EndpointInit } from '../../src/engine/endpoint.ts'

/** A reproducible byte stream: the same seed gives the same bytes, whatever the chunking */
export class ByteStream {
  private readonly prng: Prng
  private buf: Uint8Array = new Uint8Array(0)
  private pos = 0

  constructor (seed: number) {
    this.prng = new Prng(seed)
  }

  next (n: number): Uint8Array {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      if (this.pos === this.buf.byteLength) {
        this.buf = this.prng.bytes(4096)
        this.pos = 0
      }
      const take = Math.min(n - filled, this.buf.byteLength - this.pos)
      out.set(this.buf.subarray(this.pos, this.pos + take), filled)
      this.pos += take
      filled += take
    }
    return out
  }
}

export interface TransferInit {
  /** bytes this side sends, then ends its side */
  send: number
  /** seed of the stream this side sends */
  sendSeed: number
  /** seed of the stream expected from the peer */
  recvSeed: number
  /** write chunk size */
  chunk?: number
  /** stop reading (to test flow control) */
  paused?: boolean
  /** end our side when done sending (default true) */
  endWhenDone?: boolean
}

/** Drives one connection: writes a stream with backpressure, verifies what arrives */
export class Transfer {
  readonly entry: EndpointConnection
  sent = 0
  received = 0
  /** received bytes over time, for goodput over a window */
  readonly goodput = new ByteCounter()
  /** first byte offset where received data differed from the expected stream */
  corruptAt: number | undefined
  connected = false
  remoteEnded = false
  closed: { reason: CloseReason, message: string, at: number } | undefined
  connectedAt: number | undefined
  paused: boolean
  private readonly init: TransferInit
  private readonly out: ByteStream
  private readonly expect: ByteStream
  private ended = false
  private readonly host: UtpHost

  constructor (host: UtpHost, entry: EndpointConnection, init: TransferInit) {
    this.host = host
    this.entry = entry
    this.init = init
    this.out = new ByteStream(init.sendSeed)
    this.expect = new ByteStream(init.recvSeed)
    this.paused = init.paused ?? false
  }

  get done (): boolean {
    return this.closed != null
  }

  pump (now: number): void {
    const conn = this.entry.connection
    if (!conn.isWritable) {
      return
    }
    const chunk = this.init.chunk ?? 16 * 1024
    while (this.sent < this.init.send) {
      const n = Math.min(chunk, this.init.send - this.sent)
      const ok = conn.write(now, this.out.next(n))
      this.sent += n
      if (!ok) {
        break
      }
    }
    if (this.sent >= this.init.send && !this.ended && (this.init.endWhenDone ?? true)) {
      this.ended = true
      conn.end(now)
    }
    this.host.endpoint.wake(this.entry)
  }

  drain (now: number): void {
    if (this.paused) {
      return
    }
    const conn = this.entry.connection
    let chunk: Uint8Array | undefined
    while ((chunk = conn.read(now)) != null) {
      const want = this.expect.next(chunk.byteLength)
      if (this.corruptAt == null) {
        for (let i = 0; i < chunk.byteLength; i++) {
          if (chunk[i] !== want[i]) {
            this.corruptAt = this.received + i
            break
          }
        }
      }
      this.received += chunk.byteLength
      this.goodput.add(now, chunk.byteLength)
    }
    this.host.endpoint.wake(this.entry)
  }

  resume (now: number): void {
    this.paused = false
    this.drain(now)
  }
}

export interface UtpHostInit extends Partial<EndpointInit> {
  address: SimAddress
  prng: Prng
  /** transfer to attach to each accepted connection; none leaves them alone */
  onIncoming?(entry: EndpointConnection): TransferInit | undefined
}

/** A uTP endpoint as a {@link SimNode} */
export class UtpHost implements SimNode {
  readonly endpoint: Endpoint
  readonly address: SimAddress
  readonly transfers: Transfer[] = []
  /** every connection this host accepted */
  readonly accepted: EndpointConnection[] = []
  now = 0
  private readonly onIncoming?: (entry: EndpointConnection) => TransferInit | undefined
  private readonly byEntry = new Map<EndpointConnection, Transfer>()

  constructor (init: UtpHostInit) {
    const prng = init.prng
    this.address = init.address
    this.onIncoming = init.onIncoming
    this.endpoint = new Endpoint({
      ...init,
      randomBytes: init.randomBytes ?? ((buf) => { prng.fill(buf) })
    })
  }

  listen (): void {
    this.endpoint.listening = true
  }

  connect (now: number, to: SimAddress, transfer?: TransferInit): Transfer | EndpointConnection {
    const entry = this.endpoint.connect(now, { address: to.host, port: to.port })
    if (transfer == null) {
      return entry
    }
    const t = this.attach(entry, transfer)
    t.pump(now)
    return t
  }

  /** Opens a connection with a transfer (typed helper for tests) */
  dial (now: number, to: SimAddress, transfer: TransferInit): Transfer {
    return this.connect(now, to, transfer) as Transfer
  }

  attach (entry: EndpointConnection, init: TransferInit): Transfer {
    const t = new Transfer(this, entry, init)
    this.transfers.push(t)
    this.byEntry.set(entry, t)
    return t
  }

  transferOf (entry: EndpointConnection): Transfer | undefined {
    return this.byEntry.get(entry)
  }

  receive (now: number, from: SimAddress, bytes: Uint8Array): void {
    this.now = now
    this.endpoint.handle(now, { address: from.host, port: from.port }, bytes)
    this.process(now)
  }

  pollTransmit (now: number): { to: SimAddress, bytes: Uint8Array } | undefined {
    const t = this.endpoint.pollTransmit(now)
    if (t == null) {
      return undefined
    }
    const bytes = new Uint8Array(t.header.byteLength + t.payload.byteLength)
    bytes.set(t.header, 0)
    bytes.set(t.payload, t.header.byteLength)
    return { to: { host: t.remote.address, port: t.remote.port }, bytes }
  }

  pollTimeout (): number | undefined {
    return this.endpoint.pollTimeout()
  }

  handleTimeout (now: number): void {
    this.now = now
    this.endpoint.handleTimeout(now)
    this.process(now)
  }

  /** Delivers endpoint events to the transfers (call after poking a connection from outside) */
  process (now: number): void {
    let ev
    while ((ev = this.endpoint.pollEvent()) != null) {
      if (ev.type === 'incoming') {
        this.accepted.push(ev.connection)
        const init = this.onIncoming?.(ev.connection)
        if (init != null) {
          this.attach(ev.connection, init)
        }
        continue
      }
      if (ev.type === 'merged' || ev.type === 'unmerged') {
        throw new Error('unexpected simultaneous open: the simulated hosts never dial each other at once')
      }
      const t = this.byEntry.get(ev.connection)
      if (t == null) {
        continue
      }
      switch (ev.event.type) {
        case 'connected':
          t.connected = true
          t.connectedAt = now
          t.pump(now)
          break
        case 'writable':
          t.pump(now)
          break
        case 'readable':
          t.drain(now)
          break
        case 'end':
          t.drain(now)
          t.remoteEnded = true
          break
        case 'closed':
          t.closed = { reason: ev.event.reason, message: ev.event.message, at: now }
          break
        default:
          break
      }
    }
  }
}
