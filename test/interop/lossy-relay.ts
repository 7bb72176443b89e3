/**
 * A UDP relay on loopback that sits between two uTP peers and drops a fraction of their DATA,
 * STATE and FIN packets in each direction. SYN and RESET always pass, so the handshake is not
 * what is being tested.
 *
 * The relay maps by source port: it forwards everything from the target's port to the client, and
 * everything from the client's port to the target. The client is the first other port a uTP SYN
 * comes from, so the target must be the listening peer and the client dials the relay's port; any
 * other datagram from another port (such as the empty probe our socket sends from a throwaway
 * socket before it dials) is ignored. Each peer sees the relay's port as its peer's address.
 *
 * Whether a packet is dropped is decided by a seeded xorshift32 per direction, so the n-th
 * droppable packet of a direction is dropped or not the same way in every run with the same seed
 * (what the n-th packet is still depends on timing). Nothing is dropped, and no decision drawn,
 * while {@link LossyRelay.dropping} is false, so that a test can set up its connections first. The
 * last packets seen are kept to show what happened when a transfer stalls.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import type { RemoteInfo, Socket } from 'node:dgram'

const TYPE_NAMES = ['DATA', 'FIN', 'STATE', 'RESET', 'SYN']
/** packet types the relay may drop: ST_DATA, ST_FIN, ST_STATE */
const DROPPABLE = new Set([0, 1, 2])
const SYN = 4
const HEADER_SIZE = 20

export interface LossyRelayOptions {
  /** port of the peer the relay stands in front of (on `host`) */
  target: number
  /** fraction of DATA/STATE/FIN packets dropped in each direction, 0 to 1 */
  loss: number
  /** seed of the drop decisions (a 32-bit integer) */
  seed: number
  host?: string
  /** kernel UDP buffer sizes asked for, bytes */
  udpBufferSize?: number
  /** how many of the last packets to remember for {@link LossyRelay.trace} (default 200; may be Infinity) */
  traceSize?: number
}

/** Counters of one direction */
export interface DirectionStats {
  forwarded: number
  dropped: number
  /** dropped packets by type name */
  droppedByType: Record<string, number>
  /** forwarded datagrams that were not uTP headers (passed on as they are) */
  other: number
  /** datagrams from ports other than the target's and the client's, not forwarded */
  ignored: number
}

/** xorshift32: a fast, reproducible source of 32-bit unsigned integers from a seed */
export class Xorshift32 {
  private x: number

  constructor (seed: number) {
    const x = Math.imul(seed, 0x9e3779b1) >>> 0
    this.x = x === 0 ? 1 : x
  }

  next (): number {
    let x = this.x
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.x = x >>> 0
    return this.x
  }
}

/** xorshift32 mapped to [0, 1) */
class DropDecision extends Xorshift32 {
  override next (): number {
    return super.next() / 2 ** 32
  }
}

interface Direction {
  name: 'to target' | 'to client'
  decide: DropDecision
  stats: DirectionStats
}

/** The set bits of a selective ACK as ranges, e.g. `[0-4,7,9-31]/32` (bit i: ack_nr + 2 + i) */
function describeSack (mask: Uint8Array): string {
  const ranges: string[] = []
  const bits = mask.byteLength * 8
  let start = -1
  for (let i = 0; i <= bits; i++) {
    const set = i < bits && (mask[i >> 3] & (1 << (i & 7))) !== 0
    if (set && start < 0) {
      start = i
    } else if (!set && start >= 0) {
      ranges.push(start === i - 1 ? `${start}` : `${start}-${i - 1}`)
      start = -1
    }
  }
  return `[${ranges.join(',')}]/${bits}`
}

/** Payload size and selective ACK bits of a uTP packet, for the trace */
function describeExtensions (msg: Buffer): string {
  let next = msg[1]
  let offset = HEADER_SIZE
  let sack = ''
  while (next !== 0 && offset + 2 <= msg.byteLength) {
    const len = msg[offset + 1]
    if (next === 1) {
      sack = ` sack ${describeSack(msg.subarray(offset + 2, offset + 2 + len))}`
    }
    next = msg[offset]
    offset += 2 + len
  }
  return `${sack} ${Math.max(0, msg.byteLength - offset)} bytes`
}

export class LossyRelay {
  readonly seed: number
  readonly loss: number
  readonly toTarget: DirectionStats
  readonly toClient: DirectionStats
  /** drop packets (true from the start) */
  dropping = true
  /** seq_nr of the last SYN from the client: the dialler's initial sequence number */
  clientSynSeqNr: number | undefined
  private readonly socket: Socket
  private readonly host: string
  private readonly target: number
  private client: number | undefined
  private readonly directions: { toTarget: Direction, toClient: Direction }
  private readonly traceLines: string[] = []
  private readonly traceSize: number
  private readonly t0 = performance.now()
  private closed = false

  private constructor (socket: Socket, options: LossyRelayOptions) {
    this.socket = socket
    this.host = options.host ?? '127.0.0.1'
    this.target = options.target
    this.seed = options.seed
    this.loss = options.loss
    this.traceSize = options.traceSize ?? 200
    const direction = (name: Direction['name'], seed: number): Direction => ({
      name,
      decide: new DropDecision(seed),
      stats: { forwarded: 0, dropped: 0, droppedByType: {}, other: 0, ignored: 0 }
    })
    // distinct but reproducible sequences for the two directions
    this.directions = {
      toTarget: direction('to target', options.seed),
      toClient: direction('to client', options.seed ^ 0x5bd1e995)
    }
    this.toTarget = this.directions.toTarget.stats
    this.toClient = this.directions.toClient.stats
    socket.on('message', (msg, rinfo) => { this.onMessage(msg, rinfo) })
  }

  static async create (options: LossyRelayOptions): Promise<LossyRelay> {
    const socket = createSocket('udp4')
    socket.bind(0, options.host ?? '127.0.0.1')
    await once(socket, 'listening')
    const size = options.udpBufferSize ?? 4 * 1024 * 1024
    socket.setRecvBufferSize(size)
    socket.setSendBufferSize(size)
    return new LossyRelay(socket, options)
  }

  /** the port both peers talk to */
  get port (): number {
    return this.socket.address().port
  }

  /** The last packets seen, oldest first: ms since start, direction, verdict and header fields */
  trace (): string[] {
    return [...this.traceLines]
  }

  /** One line of counters for logs and assertion messages */
  summary (): string {
    const one = (d: DirectionStats): string =>
      `${d.forwarded} forwarded, ${d.dropped} dropped ${JSON.stringify(d.droppedByType)}`
    const ignored = this.toTarget.ignored + this.toClient.ignored
    return `relay seed ${this.seed}, loss ${this.loss}: to target ${one(this.toTarget)}; to client ${one(this.toClient)}` +
      (ignored > 0 ? `; ${ignored} from elsewhere ignored` : '')
  }

  async close (): Promise<void> {
    if (this.closed) {
      return
    }
    this.closed = true
    const closed = once(this.socket, 'close')
    this.socket.close()
    await closed
  }

  private onMessage (msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closed) {
      return
    }
    const isUtp = msg.byteLength >= HEADER_SIZE && (msg[0] & 0x0f) === 1
    const type = isUtp ? msg[0] >> 4 : -1
    let direction: Direction
    let port: number
    if (rinfo.port === this.target) {
      if (this.client == null) {
        // the target spoke first: there is no one to relay to yet
        this.directions.toClient.stats.ignored++
        return
      }
      direction = this.directions.toClient
      port = this.client
    } else {
      if (this.client == null && type === SYN) {
        this.client = rinfo.port
      }
      if (rinfo.port !== this.client) {
        // not the dialler: not part of the experiment
        this.directions.toTarget.stats.ignored++
        return
      }
      direction = this.directions.toTarget
      port = this.target
      if (type === SYN) {
        this.clientSynSeqNr = msg.readUInt16BE(16)
      }
    }
    const drop = this.dropping && DROPPABLE.has(type) && direction.decide.next() < this.loss
    this.record(direction, msg, type, drop)
    if (drop) {
      const name = TYPE_NAMES[type]
      direction.stats.dropped++
      direction.stats.droppedByType[name] = (direction.stats.droppedByType[name] ?? 0) + 1
      return
    }
    direction.stats.forwarded++
    if (!isUtp) {
      direction.stats.other++
    }
    this.socket.send(msg, port, this.host, () => {
      // a failed send on loopback is one more lost packet; uTP recovers from it like from a drop
    })
  }

  private record (direction: Direction, msg: Buffer, type: number, drop: boolean): void {
    const ms = (performance.now() - this.t0).toFixed(1)
    let line = `${ms} ms ${direction.name}${drop ? ' DROP' : ''}`
    if (type >= 0) {
      line += ` ${TYPE_NAMES[type] ?? `type ${type}`} seq ${msg.readUInt16BE(16)} ack ${msg.readUInt16BE(18)}` +
        ` wnd ${msg.readUInt32BE(12)}${describeExtensions(msg)}`
    } else {
      line += ` ${msg.byteLength} bytes, not uTP`
    }
    this.traceLines.push(line)
    if (this.traceLines.length > this.traceSize) {
      this.traceLines.shift()
    }
  }
}
