/**
 * A UDP relay on loopback that sits between two uTP peers and drops a fraction of their DATA,
 * STATE and FIN packets in each direction. SYN and RESET always pass, so the handshake is not
 * what is being tested.
 *
 * The relay maps by source port: it forwards everything from the target's port to the client, and
 * everything from the client's port to the target. The client is the first other port heard from,
 * so the target must be the listening peer and the client dials the relay's port. Each peer sees
 * the relay's port as its peer's address.
 *
 * Whether a packet is dropped is decided by a seeded xorshift32 per direction, so the n-th
 * droppable packet of a direction is dropped or not the same way in every run with the same seed
 * (what the n-th packet is still depends on timing). The last packets seen are kept to show what
 * happened when a transfer stalls.
 */

import { createSocket } from 'node:dgram'
import { once } from 'node:events'
import type { RemoteInfo, Socket } from 'node:dgram'

const TYPE_NAMES = ['DATA', 'FIN', 'STATE', 'RESET', 'SYN']
/** packet types the relay may drop: ST_DATA, ST_FIN, ST_STATE */
const DROPPABLE = new Set([0, 1, 2])
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
  /** how many of the last packets to remember for {@link LossyRelay.trace} (default 200) */
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
}

/** xorshift32 mapped to [0, 1) */
class DropDecision {
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
    return this.x / 2 ** 32
  }
}

interface Direction {
  name: 'to target' | 'to client'
  decide: DropDecision
  stats: DirectionStats
}

/** Payload size and selective ACK bits of a uTP packet, for the trace */
function describeExtensions (msg: Buffer): string {
  let next = msg[1]
  let offset = HEADER_SIZE
  let sack = ''
  while (next !== 0 && offset + 2 <= msg.byteLength) {
    const len = msg[offset + 1]
    if (next === 1) {
      const bits: number[] = []
      for (let i = 0; i < len * 8 && offset + 2 + (i >> 3) < msg.byteLength; i++) {
        if ((msg[offset + 2 + (i >> 3)] & (1 << (i & 7))) !== 0) {
          bits.push(i)
        }
      }
      sack = ` sack [${bits.join(',')}]`
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
      stats: { forwarded: 0, dropped: 0, droppedByType: {}, other: 0 }
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
    return `relay seed ${this.seed}, loss ${this.loss}: to target ${one(this.toTarget)}; to client ${one(this.toClient)}`
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
    let direction: Direction
    let port: number
    if (rinfo.port === this.target) {
      if (this.client == null) {
        // the target spoke first: there is no one to relay to yet
        return
      }
      direction = this.directions.toClient
      port = this.client
    } else {
      this.client ??= rinfo.port
      if (rinfo.port !== this.client) {
        // a third party: not part of the experiment
        return
      }
      direction = this.directions.toTarget
      port = this.target
    }

    const isUtp = msg.byteLength >= HEADER_SIZE && (msg[0] & 0x0f) === 1
    const type = isUtp ? msg[0] >> 4 : -1
    const drop = DROPPABLE.has(type) && direction.decide.next() < this.loss
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
