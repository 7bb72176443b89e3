import { TimeoutError } from '@libp2p/interface'
import { AbstractMultiaddrConnection } from '@libp2p/utils'
import { pEvent } from 'p-event'
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_TIMER_MS } from '../socket/max-timer.ts'
import type { UtpConnection } from '../socket/utp-connection.ts'
import type { AbortOptions, MultiaddrConnection } from '@libp2p/interface'
import type { AbstractMultiaddrConnectionInit, SendResult } from '@libp2p/utils'

/** Everything but the uTP connection, which {@link PreparedMultiaddrConnection.attach} takes */
export type PreparedMultiaddrConnectionInit = Omit<AbstractMultiaddrConnectionInit, 'name' | 'stream'>

/**
 * A `MultiaddrConnection` built while its uTP handshake is under way, so that libp2p's part of
 * building one (the stream, its log scope) is done by the time the connection opens. Until it is
 * attached it holds no timer and no listener on the uTP connection: one whose handshake fails is
 * simply dropped.
 */
export interface PreparedMultiaddrConnection {
  attach(connection: UtpConnection): MultiaddrConnection
}

/**
 * How long a close waits for the peer's acknowledgement and FIN before it goes on in the
 * background, ms: a few round trips of most paths, well within libp2p's close timeouts
 */
const FOREGROUND_CLOSE_MS = 200

/** Messages smaller than this, handed over in several pieces, are written as one piece */
const JOIN_BELOW = 4 * 1024

/** Default inactivity timeout of a connection, ms (as `@libp2p/tcp`) */
export const DEFAULT_INACTIVITY_TIMEOUT = 2 * 60 * 1_000

/**
 * A uTP connection as a libp2p `MultiaddrConnection`. Backpressure runs end to end: `sendData`
 * reports whether the uTP send buffer has room, and a paused reader pauses the uTP stream, whose
 * receive window then closes and stops the remote sender.
 */
class UtpMultiaddrConnection extends AbstractMultiaddrConnection implements PreparedMultiaddrConnection {
  private attached: UtpConnection | undefined
  private readonly inactivityMs: number
  private inactivityTimer: ReturnType<typeof setTimeout> | undefined
  /** set once our side closes: what the peer still sends is read and dropped */
  private discardIncoming = false

  constructor (init: PreparedMultiaddrConnectionInit) {
    super(init)
    const ms = init.inactivityTimeout ?? DEFAULT_INACTIVITY_TIMEOUT
    // Infinity means none; about 24.8 days is as long as any inactivity needs waiting for
    this.inactivityMs = ms === Infinity ? 0 : Math.min(ms, MAX_TIMER_MS)
  }

  attach (connection: UtpConnection): this {
    if (this.attached != null) {
      throw new Error('already attached to a uTP connection')
    }
    this.attached = connection
    // the connection opens now, not when it was prepared (libp2p's connection pruning reads this)
    this.timeline.open = Date.now()
    // packet payloads go to the libp2p connection as they are: no copy into larger buffers
    this.connection.setDataSink((chunks) => {
      this.touch()
      if (this.discardIncoming) {
        return
      }
      if (chunks.length === 1) {
        this.onData(chunks[0])
        return
      }
      // not `new Uint8ArrayList(...chunks)`: a paused reader can leave more packets than a call takes arguments
      const list = new Uint8ArrayList()
      list.appendAll(chunks)
      this.onData(list)
    })
    this.connection.on('error', (err) => {
      this.log('utp error - %e', err)
      this.abort(err)
    })
    this.connection.once('end', () => {
      this.log('utp end')
      // libp2p takes the peer's FIN for the end of the connection and never closes it itself: our
      // side ends too, as a TCP socket does unless half-open (connection.allowHalfOpen would
      // otherwise hold the uTP connection, and its socket, for good)
      if (!this.connection.writableEnded) {
        this.connection.end()
      }
      this.onTransportClosed()
    })
    this.connection.once('close', () => {
      this.clearInactivity()
      this.onTransportClosed()
    })
    this.connection.on('drain', () => {
      this.safeDispatchEvent('drain')
    })
    this.touch()
    return this
  }

  /** libp2p calls the methods below only on a connection it was handed, which is attached */
  private get connection (): UtpConnection {
    if (this.attached == null) {
      throw new Error('not attached to a uTP connection')
    }
    return this.attached
  }

  sendData (data: Uint8ArrayList): SendResult {
    let sentBytes = 0
    let canSendMore = true
    if (data.byteLength > 0 && data.byteLength < JOIN_BELOW) {
      // a small message, often in pieces (Noise's length, then its ciphertext), as one write:
      // each write costs more in stream and engine work than copying the few bytes does (a
      // message in one piece is not copied here)
      sentBytes = data.byteLength
      canSendMore = this.connection.write(data.subarray())
    } else {
      for (const buf of data) {
        sentBytes += buf.byteLength
        canSendMore = this.connection.write(buf)
        if (!canSendMore) {
          break
        }
      }
    }
    // the message leaves now, as a TCP write does with Nagle off (as far as the window allows): a
    // request or answer is not held behind the rest of the caller's turn, and the peer starts on
    // it sooner
    this.connection.flushWrites()
    this.touch()
    return { sentBytes, canSendMore }
  }

  /**
   * Ends our side and waits for the peer's acknowledgement and FIN, a round trip on a short path,
   * for at most {@link FOREGROUND_CLOSE_MS}; then the close is done as `@libp2p/tcp`'s
   * `destroySoon()` is, once the engine has everything written, which it still delivers with our
   * FIN in the background (`UtpConnection.destroySoon()`). Waiting for the whole exchange made
   * libp2p's close (1 s, 500 ms when the node stops) time out on long or lossy paths, and the
   * reset that followed threw away what the peer had not acknowledged yet. Handing every close
   * to the background at once made the next dial slower instead: the exchange then ran while it
   * did, in both processes.
   */
  async sendClose (options?: AbortOptions): Promise<void> {
    if (this.connection.destroyed) {
      return
    }
    const closed = pEvent(this.connection, 'close', options)
    // as a TCP socket closed with destroySoon() stops reading: the muxer above is closing too, and
    // a frame that reached it now could make it answer (Yamux answers a ping) into a connection
    // that refuses writes, which would fail the close
    this.discardIncoming = true
    this.connection.resumeData()
    this.connection.end()
    const background = setTimeout(() => { this.connection.destroySoon() }, FOREGROUND_CLOSE_MS)
    try {
      await closed
    } catch (err) {
      // what was written could not all reach the engine in time (the peer's window stays
      // closed), or the peer reset: do not hang, reset
      this.connection.destroy(err instanceof Error ? err : new Error(String(err)))
      throw err
    } finally {
      clearTimeout(background)
    }
  }

  sendReset (err: Error): void {
    this.clearInactivity()
    this.connection.destroy(err)
  }

  sendPause (): void {
    this.connection.pauseData()
  }

  sendResume (): void {
    this.connection.resumeData()
  }

  /** The uTP stream has no inactivity timer of its own; libp2p leaves it to the transport */
  private touch (): void {
    if (this.inactivityMs <= 0) {
      return
    }
    if (this.inactivityTimer == null) {
      this.inactivityTimer = setTimeout(() => {
        this.log('inactivity timeout after %d ms', this.inactivityMs)
        this.abort(new TimeoutError(`no data for ${this.inactivityMs} ms`))
      }, this.inactivityMs)
      this.inactivityTimer.unref?.()
    } else {
      this.inactivityTimer.refresh()
    }
  }

  private clearInactivity (): void {
    clearTimeout(this.inactivityTimer)
    this.inactivityTimer = undefined
  }
}

/**
 * Builds a libp2p `MultiaddrConnection` for a uTP connection, ahead of the connection when its
 * handshake is still under way: `attach` it to the connection once open
 */
export function prepareMultiaddrConnection (init: PreparedMultiaddrConnectionInit): PreparedMultiaddrConnection {
  return new UtpMultiaddrConnection(init)
}
