import { Duplex } from 'node:stream'
import { ConnectionRefusedError, ConnectionResetError, ConnectionTimeoutError, SocketStateError } from './errors.ts'
import { MAX_TIMER_MS } from './max-timer.ts'
import { MIN_SLAB_WRITE, SendSlab } from './send-slab.ts'
import type { ConnectionEvent, CloseReason } from '../engine/connection.ts'
import type { EndpointConnection } from '../engine/endpoint.ts'

/** Largest buffer handed to the reader at once, bytes */
const PUSH_BYTES = 64 * 1024
/** A received packet at least this big is handed over as it is: joining it to others would cost a copy for little gain */
const PUSH_ALONE_BYTES = 8 * 1024

/** What a connection needs from the socket that carries it */
export interface ConnectionCarrier {
  /** the engine clock, µs */
  now(): number
  /** the connection may have packets to send or a new deadline */
  wake(entry: EndpointConnection): void
  /** sends what the connection has ready to send at once, without delivering anything */
  sendNow(entry: EndpointConnection): void
}

/** Takes received data as the packets' own payloads, in order (see {@link UtpConnection.setDataSink}) */
export type DataSink = (chunks: Uint8Array[]) => void

export interface UtpConnectionOptions {
  /** keep our side writable after the peer ended its side (default false, as `net`) */
  allowHalfOpen?: boolean
  /** bytes the readable side buffers before it stops pulling from the engine (unused once a data sink is set) */
  readableHighWaterMark?: number
  /**
   * How long a connection destroyed without an error waits for the peer's FIN once everything it
   * wrote, and its own FIN, has been acknowledged, before it is reset, ms (default 60,000, as
   * Linux's `tcp_fin_timeout` for FIN_WAIT_2; 0: no limit). A peer that never ends its side, and
   * keeps the connection alive with keep-alives, would otherwise hold it for good.
   */
  orphanTimeout?: number
}

/** Default {@link UtpConnectionOptions.orphanTimeout}, ms */
const DEFAULT_ORPHAN_TIMEOUT = 60_000

/**
 * One uTP connection as a Node.js `Duplex` stream. `write()` honours backpressure from the
 * engine's send buffer, `end()` sends a FIN once everything written is out and resolves
 * `'finish'` only when the peer has acknowledged all of it, `destroy(err)` sends ST_RESET. Typed
 * errors: {@link ConnectionResetError}, {@link ConnectionRefusedError},
 * {@link ConnectionTimeoutError}.
 */
export class UtpConnection extends Duplex {
  readonly remoteAddress: string
  readonly remotePort: number
  readonly remoteFamily: 'IPv4' | 'IPv6'
  /** the engine side of this connection */
  readonly entry: EndpointConnection
  private readonly carrier: ConnectionCarrier
  private pendingWrite: ((err?: Error | null) => void) | undefined
  /** created on the first large write: a connection that only sends small messages never has one */
  private sendSlab: SendSlab | undefined
  private pendingFinal: ((err?: Error | null) => void) | undefined
  /** set by {@link setDataSink}: received data goes there instead of through the Readable side */
  private dataSink: DataSink | undefined
  private sinkPaused = false
  /** what the Readable side already held when the sink was set: handed over first */
  private sinkBacklog: Uint8Array[] | undefined
  private wantsData = false
  private remoteEnded = false
  private pushedEnd = false
  private engineClosed = false
  /** destroyed without an error: the FIN goes out in the background */
  private closingInBackground = false
  /** `_final` ran: everything written is in the engine */
  private finalStarted = false
  /**
   * {@link destroySoon} was called: the stream is destroyed once everything written is in the
   * engine, then closes in the background, where data from the peer is read and dropped
   */
  private destroySoonCalled = false
  /** our FIN was acknowledged while the stream was still open ('flushed' came then) */
  private finAcked = false
  private readonly orphanMs: number
  private orphanTimer: ReturnType<typeof setTimeout> | undefined
  private connectedValue: boolean

  constructor (carrier: ConnectionCarrier, entry: EndpointConnection, options: UtpConnectionOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark ?? 256 * 1024,
      writableHighWaterMark: 64 * 1024
    })
    this.carrier = carrier
    this.entry = entry
    this.orphanMs = Math.min(options.orphanTimeout ?? DEFAULT_ORPHAN_TIMEOUT, MAX_TIMER_MS)
    this.remoteAddress = entry.remote.address
    this.remotePort = entry.remote.port
    this.remoteFamily = entry.remote.address.includes(':') ? 'IPv6' : 'IPv4'
    this.connectedValue = !entry.connection.isInitiator
  }

  /**
   * The peer has shown it receives at its address: on the accepting side, a packet from the
   * initiator after our SYN-ACK (until then the SYN may have been spoofed); always true on the
   * dialling side once connected
   */
  get confirmed (): boolean {
    return this.entry.connection.isConfirmed
  }

  /** True on the side whose SYN opened the connection; false on the accepting side */
  get initiator (): boolean {
    return this.entry.connection.isInitiator
  }

  /** The handshake completed (always true on the accepting side, which may send at once) */
  get connected (): boolean {
    return this.connectedValue
  }

  /** Smoothed round-trip time in milliseconds, once measured */
  get rtt (): number | undefined {
    const srtt = this.entry.connection.smoothedRtt
    return srtt == null ? undefined : srtt / 1000
  }

  /**
   * The datagram size the connection sends with now, bytes: the configured size, or what path MTU
   * probing proved. A peer with a small receive window gets smaller packets: their payload is at
   * most half the largest window it has advertised (at least 536 bytes)
   */
  get packetSize (): number {
    return this.entry.connection.packetSize
  }

  /** Protocol counters of the connection */
  get stats (): typeof this.entry.connection.stats {
    return this.entry.connection.stats
  }

  /**
   * Hands received data to `sink`, in order, as the payloads of the packets that carried it,
   * instead of through the Readable side, which from then on only ends: 'end' still comes after
   * the last byte has reached the sink (as long as nothing pauses the Readable side or listens
   * for its 'readable'), and 'close' as before. Nothing is copied: each payload is a view of the
   * datagram it arrived in, and node:dgram gives every datagram a buffer of its own. (What the
   * Readable side already held when the sink is set comes first, joined as the Readable joined
   * it.) Joining payloads into larger buffers for a Readable costs a copy of every byte, and at a
   * bulk transfer's rate those short-lived allocations set off most of a receiver's full garbage
   * collections. A sink that throws throws out of the socket's event handling, as a throwing
   * 'data' listener would.
   *
   * @throws {SocketStateError} while something listens for 'data' (it would get the backlog twice)
   */
  setDataSink (sink: DataSink): void {
    if (this.listenerCount('data') > 0) {
      // reading the Readable side's backlog for the sink would hand it to those listeners as well
      throw new SocketStateError("setDataSink() replaces the Readable side: remove the 'data' listeners first")
    }
    const backlog: Uint8Array[] = []
    let chunk: Uint8Array | null
    while (this.readableLength > 0 && (chunk = this.read()) != null) {
      backlog.push(chunk)
    }
    this.sinkBacklog = backlog.length > 0 ? backlog : undefined
    this.dataSink = sink
    // the Readable side carries no data now; flowing, it ends on its own once the peer's FIN is read
    this.resume()
    this.pull()
  }

  /**
   * Stops handing data to the sink (see {@link setDataSink}) until {@link resumeData}: received
   * data stays in the engine, and once it holds `recvBufferSize` bytes the receive window is
   * closed and the peer stops sending
   */
  pauseData (): void {
    this.sinkPaused = true
  }

  /**
   * Sends what has been written so far now, rather than once the microtasks queued before the
   * writes have run (as the socket otherwise does, so that the writes of one synchronous run share
   * packets). For a caller that has just handed over a whole message: the libp2p connection, whose
   * `sendData` gets a Noise message's length and ciphertext together. While a full packet is
   * already in flight (a bulk transfer), a partial last packet still waits for the writes after
   * it; the window may hold back more.
   */
  flushWrites (): void {
    if (!this.destroyed) {
      this.carrier.sendNow(this.entry)
    }
  }

  /**
   * Ends our side and lets the stream go as soon as everything written is in the engine, as
   * `net.Socket#destroySoon()` does once the kernel has it: the data and our FIN are still
   * delivered, in the background (as after {@link destroy} without an error), and 'close' comes
   * at once, not after the peer's acknowledgement and FIN, which may be a round trip or a
   * retransmission away. What the peer still sends is read and dropped until its FIN, rather
   * than answered with ST_RESET; `orphanTimeout` still bounds the wait for that FIN.
   */
  destroySoon (): void {
    if (this.destroyed) {
      return
    }
    this.destroySoonCalled = true
    if (this.finalStarted) {
      this.destroy()
      return
    }
    this.end()
  }

  /** Hands the sink what arrived while paused, and what arrives from now on */
  resumeData (): void {
    this.sinkPaused = false
    this.pull()
  }

  override _write (chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const conn = this.entry.connection
    if (this.engineClosed) {
      // the engine closed under an open side: the peer reset after its FIN (see handleClosed),
      // which the engine's state error would not say
      callback(new ConnectionResetError(`connection to ${this.remoteAddress}:${this.remotePort} closed by the peer (ST_RESET after its FIN): nothing more can be sent`))
      return
    }
    let more: boolean
    try {
      // the engine keeps what it is given until the peer acknowledges it, long after this
      // callback; a copy lets the caller reuse its buffer, as it may with a TCP socket
      // (a small copy comes from Node's buffer pool: off the V8 heap, as node:dgram wants it).
      // The slab counts what it copies as written: it must not copy what the engine refuses
      conn.assertWritable()
      const copy = this.sendSlab == null && chunk.byteLength < MIN_SLAB_WRITE
        ? Buffer.from(chunk)
        : (this.sendSlab ??= new SendSlab()).copy(chunk, conn.bufferedAmount)
      more = conn.write(this.carrier.now(), copy)
    } catch (err: any) {
      callback(err)
      return
    }
    this.carrier.wake(this.entry)
    if (more) {
      callback()
    } else {
      this.pendingWrite = callback
    }
  }

  override _final (callback: (err?: Error | null) => void): void {
    this.finalStarted = true
    if (this.engineClosed) {
      callback()
      return
    }
    this.entry.connection.end(this.carrier.now())
    this.carrier.wake(this.entry)
    if (this.destroySoonCalled) {
      // 'finish' would say the peer acknowledged everything: it does not come
      this.destroy()
      return
    }
    this.pendingFinal = callback
  }

  override _read (): void {
    this.wantsData = true
    this.pull()
  }

  /**
   * With an error (but a write after end()): abort with ST_RESET. Without one, as `close()` does for TCP: what was written
   * is still delivered and a FIN follows, in the background; but data from the peer that nobody
   * will read (unread now, or arriving later) turns it into ST_RESET, as TCP does, so that a
   * peer that keeps sending cannot hold the connection open.
   */
  override _destroy (err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.engineClosed) {
      this.engineClosed = true
      const now = this.carrier.now()
      if (err == null && this.destroySoonCalled) {
        this.dropUnread(now)
      }
      // a write after end() errors the stream (Node destroys it), but it only refused that write:
      // what was written before, and the FIN, still go, as they do from a net.Socket
      const abortive = err != null && (err as NodeJS.ErrnoException).code !== 'ERR_STREAM_WRITE_AFTER_END'
      if (abortive || this.entry.connection.readableLength > 0) {
        this.entry.connection.reset(now)
      } else {
        this.entry.connection.end(now)
        this.closingInBackground = true
        if (this.finAcked) {
          // 'flushed' came while the stream was open: only the peer's FIN is awaited already
          this.startOrphanTimer()
        }
      }
      this.carrier.wake(this.entry)
    }
    // the write the engine took but asked to wait after: Node errors the writes queued behind it,
    // and the end() callbacks, only once its callback has run; they never ran. Delivered in the
    // background, its data is not lost; reset, it is
    const write = this.pendingWrite
    this.pendingWrite = undefined
    this.pendingFinal = undefined
    write?.(this.closingInBackground ? null : (err ?? new ConnectionResetError(`connection to ${this.remoteAddress}:${this.remotePort} destroyed before its data was sent`)))
    callback(err)
  }

  /** Bounds the wait for the peer's FIN once ours is acknowledged (see `orphanTimeout`) */
  private startOrphanTimer (): void {
    if (this.orphanMs > 0) {
      this.orphanTimer = setTimeout(this.abandon, this.orphanMs)
      this.orphanTimer.unref()
    }
  }

  /** Reads and drops what the engine holds for a reader that is gone (see {@link destroySoon}) */
  private dropUnread (now: number): void {
    while (this.entry.connection.read(now) != null) {
      // dropped
    }
  }

  /** Resets a connection closing in the background: data nobody will read came, or it took too long */
  private readonly abandon = (): void => {
    clearTimeout(this.orphanTimer)
    if (!this.closingInBackground) {
      return
    }
    this.closingInBackground = false
    this.entry.connection.reset(this.carrier.now())
    this.carrier.wake(this.entry)
  }

  /**
   * Drops this stream without a word to the peer: its engine connection is out of the socket's
   * hands (a dial whose SYN lost a crossing, replaced by the peer's connection; should the peer
   * answer that dial after all, it comes back as a new stream)
   */
  discard (): void {
    this.engineClosed = true
    this.destroy()
  }

  /** Delivers one engine event (called by the socket) */
  handleEvent (event: ConnectionEvent): void {
    if (this.destroyed) {
      if (event.type === 'closed') {
        clearTimeout(this.orphanTimer)
      } else if (this.closingInBackground && event.type === 'readable') {
        if (this.destroySoonCalled) {
          this.dropUnread(this.carrier.now())
          this.carrier.wake(this.entry)
        } else {
          this.abandon()
        }
      } else if (this.closingInBackground && event.type === 'flushed') {
        // our FIN is acknowledged: from now on only the peer's FIN is awaited (FIN_WAIT_2)
        this.startOrphanTimer()
      }
      return
    }
    switch (event.type) {
      case 'connected':
        this.connectedValue = true
        this.emit('connect')
        break
      case 'readable':
        this.pull()
        break
      case 'confirmed':
        this.emit('confirmed')
        break
      case 'writable':
        this.releaseWrite()
        break
      case 'end':
        this.remoteEnded = true
        this.pull()
        break
      case 'flushed': {
        this.finAcked = true
        const final = this.pendingFinal
        this.pendingFinal = undefined
        final?.()
        break
      }
      case 'closed':
        this.handleClosed(event.reason, event.message)
        break
      default:
        break
    }
  }

  private releaseWrite (): void {
    const write = this.pendingWrite
    this.pendingWrite = undefined
    write?.()
  }

  private pull (): void {
    if (this.destroyed) {
      return
    }
    const conn = this.entry.connection
    const now = this.carrier.now()
    let pulled = false
    try {
      if (this.dataSink != null) {
        pulled = this.feedSink(this.dataSink, now)
      } else {
        while (this.wantsData && conn.readableLength > 0) {
          pulled = true
          if (!this.push(this.gather(now))) {
            this.wantsData = false
          }
        }
      }
    } finally {
      if (pulled) {
        // reading may have reopened the receive window: the engine may want to say so
        this.carrier.wake(this.entry)
      }
      if (this.remoteEnded && !this.pushedEnd && this.sinkBacklog == null && conn.readableLength === 0) {
        this.pushedEnd = true
        this.push(null)
        if (this.readableLength === 0) {
          // Node emits 'end' only on a read, which an idle or write-only application never makes
          // (net.Socket reads 0 bytes here too): without it our side never ended (allowHalfOpen
          // false) and the connection, kept alive by keep-alives, never closed
          this.read(0)
        }
      }
    }
  }

  /** Unless paused, hands the sink its backlog, then all the engine holds; true if it read from the engine */
  private feedSink (sink: DataSink, now: number): boolean {
    if (this.sinkPaused) {
      return false
    }
    const backlog = this.sinkBacklog
    if (backlog != null) {
      this.sinkBacklog = undefined
      sink(backlog)
      if (this.sinkPaused || this.destroyed) {
        return false
      }
    }
    if (this.entry.connection.readableLength === 0) {
      return false
    }
    sink(this.takeAll(now))
    return true
  }

  /** Every chunk of received data the engine holds, as it holds them */
  private takeAll (now: number): Uint8Array[] {
    const conn = this.entry.connection
    const chunks: Uint8Array[] = []
    let chunk: Uint8Array | undefined
    while ((chunk = conn.read(now)) != null) {
      chunks.push(chunk)
    }
    return chunks
  }

  /**
   * Up to {@link PUSH_BYTES} of received data as one buffer. Each uTP packet carries about
   * 1.4 KB; handing them over one by one costs the reader (a Noise decoder reassembling 64 KiB
   * frames, say) an event and a list append per packet, which is most of its CPU.
   */
  private gather (now: number): Uint8Array {
    const conn = this.entry.connection
    const first = conn.read(now) as Uint8Array
    if (conn.readableLength === 0 || first.byteLength >= PUSH_ALONE_BYTES) {
      return first
    }
    const chunks = [first]
    let bytes = first.byteLength
    while (bytes < PUSH_BYTES && conn.readableLength > 0) {
      const chunk = conn.read(now, PUSH_BYTES - bytes) as Uint8Array
      chunks.push(chunk)
      bytes += chunk.byteLength
    }
    return Buffer.concat(chunks, bytes)
  }

  /** Closes the stream once the Readable side has ended (at once if it has) */
  private closeAfterEnd (): void {
    if (this.readableEnded) {
      this.destroy()
      return
    }
    this.once('end', () => { this.destroy() })
    if (this.readableLength === 0) {
      // Node emits 'end' only on a read, which an idle or write-only application never makes: with
      // nothing buffered, this read ends the stream (or pulls what the engine still holds)
      this.read(0)
    }
  }

  private handleClosed (reason: CloseReason, message: string): void {
    this.engineClosed = true
    switch (reason) {
      case 'closed': {
        // both sides finished: everything we wrote was acknowledged, everything sent to us is readable
        this.remoteEnded = true
        this.releaseWrite()
        // our FIN was acknowledged ('flushed' came first), or the peer, which had all our data,
        // forgot the connection before acknowledging it (ST_RESET after FIN): either way we are done
        const final = this.pendingFinal
        this.pendingFinal = undefined
        final?.()
        this.pull()
        if (this.allowHalfOpen && !this.writableEnded) {
          // the peer forgot the connection after its FIN (ST_RESET) while our side was open: it
          // can send nothing more, and a half-open stream would outlive the connection (without
          // allowHalfOpen the 'end' ends our side); what the peer sent is still read first
          this.closeAfterEnd()
        }
        break
      }
      case 'reset':
        this.destroy(new ConnectionResetError(`connection to ${this.remoteAddress}:${this.remotePort} reset by the peer`))
        break
      case 'refused':
        this.destroy(new ConnectionRefusedError(`connection to ${this.remoteAddress}:${this.remotePort} refused`))
        break
      case 'timed-out':
        this.destroy(new ConnectionTimeoutError(`connection to ${this.remoteAddress}:${this.remotePort} timed out: ${message}`))
        break
      default:
        // aborted: we reset it ourselves
        this.destroy()
        break
    }
  }
}
