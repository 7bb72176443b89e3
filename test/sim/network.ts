/**
 * A deterministic, discrete-event simulated datagram network for tests.
 *
 * - Time is a virtual clock in integer microseconds; nothing here reads a real clock or sleeps.
 * - Every random choice comes from a seeded {@link Prng}: the same seed and the same test code
 * give the same run, packet for packet.
 * - Nodes ({@link SimNode}) are sans-IO: the network calls `receive` / `handleTimeout` and then
 * drains `pollTransmit` until it returns undefined.
 * - Hosts are joined by directional {@link Link}s that model propagation delay, jitter, random and
 * bursty loss, duplication, reordering, corruption, a size limit and a rate-limited drop-tail
 * bottleneck queue. A Link object may carry several host pairs (a shared bottleneck).
 *
 * @module
 */

import { Prng } from './prng.ts'

export interface SimAddress { host: string, port: number }

/** Anything that can sit at an address on the simulated network (a uTP endpoint adapter, a Reno flow end). */
export interface SimNode {
  /** A datagram arrives. */
  receive(now: number, from: SimAddress, bytes: Uint8Array): void
  /** Next datagram this node wants to send now, or undefined. Called repeatedly until undefined after every receive/handleTimeout/external kick. */
  pollTransmit(now: number): { to: SimAddress, bytes: Uint8Array } | undefined
  /** Earliest time (µs) the node wants handleTimeout, or undefined. */
  pollTimeout(): number | undefined
  handleTimeout(now: number): void
}

export interface LinkConfig {
  /** One-way propagation delay, µs. Default 0. */
  delayUs?: number
  /**
   * Extra uniform random delay in [0, jitterUs] µs. Jitter never reorders: a packet's arrival is
   * `max(previous arrival on this link, departure + delay + jitter)`, like a queue would behave.
   */
  jitterUs?: number
  /** Independent random loss probability per datagram, in the good state of `burstLoss` (or always). */
  lossRate?: number
  /**
   * Gilbert-Elliott two-state loss. Before each datagram the state may change: good to bad with
   * probability `enterRate`, bad to good with `exitRate`. In the bad state a datagram is lost with
   * `lossRateInBurst` (default 1), in the good state with `lossRate` (default 0). The long-run
   * loss rate is `enterRate / (enterRate + exitRate) * lossRateInBurst` (plus good-state loss) and a
   * burst lasts `1 / exitRate` datagrams on average. `maxDurationUs` also ends a burst after that
   * much time: counted in datagrams only, a burst on a link that carries little traffic (a
   * handshake, retransmissions after a timeout) would otherwise last for many seconds.
   */
  burstLoss?: { enterRate: number, exitRate: number, lossRateInBurst?: number, maxDurationUs?: number }
  /** Probability a datagram is delivered twice; the copy arrives 1 µs after the original. */
  duplicateRate?: number
  /** Probability a datagram gets an extra delay of `reorderDelayUs` so later ones overtake it. */
  reorderRate?: number
  /** Extra delay of a reordered datagram, µs. Default `delayUs` (or 1 ms when `delayUs` is 0). */
  reorderDelayUs?: number
  /**
   * Probability that 1 to 3 random bytes of the delivered copy are changed (each byte is xored
   * with a non-zero value, so the datagram always differs). The sender's buffer is never touched.
   */
  corruptRate?: number
  /** Bottleneck rate in bits per second (serialisation delay). Undefined = infinitely fast. */
  rateBps?: number
  /**
   * Drop-tail queue limit in bytes for the bottleneck (only with `rateBps`). The backlog is the
   * number of bytes not yet serialised, including the rest of the datagram being serialised; a
   * datagram that would take the backlog above the limit is dropped. Undefined = unbounded.
   */
  queueBytes?: number
  /** Datagrams larger than this (bytes) are dropped and counted in `oversizeDrops`. */
  maxDatagramSize?: number
}

export interface LinkStats {
  /** datagrams handed to the link (after the network's `tap`) */
  sent: number
  /** datagrams (and duplicate copies) that reached the destination host */
  delivered: number
  /** datagrams lost to `lossRate` / `burstLoss` */
  dropped: number
  /** datagrams dropped because the bottleneck queue was full */
  queueDrops: number
  /** datagrams dropped because they were larger than `maxDatagramSize` */
  oversizeDrops: number
  /** extra copies made by `duplicateRate` */
  duplicated: number
  /** datagrams delivered with changed bytes */
  corrupted: number
  /** bytes of all delivered datagrams and copies */
  bytesDelivered: number
}

/** Called by a link for each copy of a datagram it will deliver, with its arrival time. */
export type LinkDeliver = (arrival: number, bytes: Uint8Array) => void

/**
 * A directional link. The order of processing for one datagram is:
 *
 * 1. `maxDatagramSize`: oversize datagrams are dropped.
 * 2. Loss (`burstLoss` state update, then `lossRate` or `lossRateInBurst`). Loss is applied
 * before the bottleneck, as if on the wire upstream of it: a lost datagram takes no queue
 * space and no serialisation time.
 * 3. Bottleneck: FIFO serialisation at `rateBps` with a drop-tail queue of `queueBytes`.
 * 4. Propagation: departure + `delayUs` + jitter, never before the previous arrival.
 * 5. `reorderRate`: extra delay for this datagram only (later ones may overtake it).
 * 6. The datagram is copied (the receiver never shares memory with the sender), then `corruptRate`
 * may change bytes of the copy, and `duplicateRate` may deliver a second copy 1 µs later.
 */
export class Link {
  readonly stats: LinkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    queueDrops: 0,
    oversizeDrops: 0,
    duplicated: 0,
    corrupted: 0,
    bytesDelivered: 0
  }

  private config: LinkConfig
  private readonly prng: Prng
  /** time (fractional µs) at which the bottleneck finishes serialising its backlog */
  private busyUntil = 0
  /** arrival time of the latest in-order datagram, so jitter never reorders */
  private lastArrival = 0
  private inBurst = false
  private burstStartedAt = 0

  constructor (config: LinkConfig, prng: Prng) {
    this.config = { ...config }
    this.prng = prng
    validateLinkConfig(this.config)
  }

  /** A copy of the current configuration. */
  getConfig (): LinkConfig {
    return { ...this.config }
  }

  /**
   * Change part of the configuration; takes effect for datagrams sent from now on (datagrams in
   * flight keep their arrival times). Pass a key with value `undefined` to turn a feature off.
   */
  setConfig (partial: Partial<LinkConfig>): void {
    const next = { ...this.config, ...partial }
    validateLinkConfig(next)
    this.config = next
  }

  /** Current queueing delay at the bottleneck in µs: bytes not yet serialised / rate. */
  queueDelayUs (now: number): number {
    return Math.max(0, Math.ceil(this.busyUntil - now))
  }

  /** Bytes not yet serialised by the bottleneck at time `now` (0 without `rateBps`). */
  queuedBytes (now: number): number {
    const rate = this.config.rateBps
    if (rate == null) {
      return 0
    }
    return Math.max(0, (this.busyUntil - now) * rate / 8e6)
  }

  /** Put one datagram on the link at time `now`; `deliver` is called for every copy that arrives. */
  transmit (now: number, bytes: Uint8Array, deliver: LinkDeliver): void {
    const c = this.config
    this.stats.sent++
    if (c.maxDatagramSize != null && bytes.length > c.maxDatagramSize) {
      this.stats.oversizeDrops++
      return
    }
    if (this.isLost(now)) {
      this.stats.dropped++
      return
    }
    const departure = this.serialise(now, bytes.length)
    if (departure < 0) {
      this.stats.queueDrops++
      return
    }
    const arrival = this.propagate(departure)
    const copy = this.corrupt(bytes)
    deliver(arrival, copy)
    if (c.duplicateRate != null && c.duplicateRate > 0 && this.prng.next() < c.duplicateRate) {
      this.stats.duplicated++
      deliver(arrival + 1, copy.slice())
    }
  }

  /** Random and Gilbert-Elliott loss, applied before the bottleneck. */
  private isLost (now: number): boolean {
    const prng = this.prng
    let lossRate = this.config.lossRate ?? 0
    const burst = this.config.burstLoss
    if (burst != null) {
      if (this.inBurst) {
        if (prng.next() < burst.exitRate || (burst.maxDurationUs != null && now - this.burstStartedAt > burst.maxDurationUs)) {
          this.inBurst = false
        }
      } else if (prng.next() < burst.enterRate) {
        this.inBurst = true
        this.burstStartedAt = now
      }
      if (this.inBurst) {
        lossRate = burst.lossRateInBurst ?? 1
      }
    }
    return lossRate > 0 && prng.next() < lossRate
  }

  /** Departure time (µs) from the bottleneck queue, or -1 when the drop-tail queue is full. */
  private serialise (now: number, size: number): number {
    const rate = this.config.rateBps
    if (rate == null) {
      return now
    }
    const start = this.busyUntil > now ? this.busyUntil : now
    const limit = this.config.queueBytes
    if (limit != null && (start - now) * rate / 8e6 + size > limit) {
      return -1
    }
    // fractional µs are kept so that the long-run rate is exact
    this.busyUntil = start + size * 8e6 / rate
    return Math.round(this.busyUntil)
  }

  /** Arrival time: departure + delay + jitter (never before the previous arrival) + reordering. */
  private propagate (departure: number): number {
    const c = this.config
    const delay = c.delayUs ?? 0
    let arrival = departure + delay
    if (c.jitterUs != null && c.jitterUs > 0) {
      arrival += this.prng.int(c.jitterUs + 1)
    }
    if (arrival < this.lastArrival) {
      arrival = this.lastArrival
    }
    if (c.reorderRate != null && c.reorderRate > 0 && this.prng.next() < c.reorderRate) {
      return arrival + (c.reorderDelayUs ?? (delay > 0 ? delay : 1000))
    }
    this.lastArrival = arrival
    return arrival
  }

  /** The copy to deliver, with 1 to 3 bytes changed with probability `corruptRate`. */
  private corrupt (bytes: Uint8Array): Uint8Array {
    const copy = bytes.slice()
    const rate = this.config.corruptRate
    const size = bytes.length
    if (rate == null || rate <= 0 || size === 0 || !(this.prng.next() < rate)) {
      return copy
    }
    const prng = this.prng
    const flips = 1 + prng.int(3)
    for (let i = 0; i < flips; i++) {
      copy[prng.int(size)] ^= 1 + prng.int(255)
    }
    // two flips of the same byte may cancel out: make sure the copy differs
    if (equalBytes(copy, bytes)) {
      copy[prng.int(size)] ^= 1 + prng.int(255)
    }
    this.stats.corrupted++
    return copy
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    return false
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false
    }
  }
  return true
}

function validateLinkConfig (c: LinkConfig): void {
  const nonNegative = (name: string, v: number | undefined): void => {
    if (v != null && !(Number.isFinite(v) && v >= 0)) {
      throw new RangeError(`LinkConfig.${name} must be a finite number >= 0, got ${v}`)
    }
  }
  const probability = (name: string, v: number | undefined): void => {
    if (v != null && !(v >= 0 && v <= 1)) {
      throw new RangeError(`LinkConfig.${name} must be a probability in [0, 1], got ${v}`)
    }
  }
  const integer = (name: string, v: number | undefined): void => {
    if (v != null && !Number.isSafeInteger(v)) {
      throw new RangeError(`LinkConfig.${name} must be an integer number of microseconds, got ${v}`)
    }
  }
  nonNegative('delayUs', c.delayUs)
  integer('delayUs', c.delayUs)
  nonNegative('jitterUs', c.jitterUs)
  integer('jitterUs', c.jitterUs)
  nonNegative('reorderDelayUs', c.reorderDelayUs)
  integer('reorderDelayUs', c.reorderDelayUs)
  probability('lossRate', c.lossRate)
  probability('duplicateRate', c.duplicateRate)
  probability('reorderRate', c.reorderRate)
  probability('corruptRate', c.corruptRate)
  if (c.burstLoss != null) {
    probability('burstLoss.enterRate', c.burstLoss.enterRate)
    probability('burstLoss.exitRate', c.burstLoss.exitRate)
    probability('burstLoss.lossRateInBurst', c.burstLoss.lossRateInBurst)
  }
  if (c.rateBps != null && !(Number.isFinite(c.rateBps) && c.rateBps > 0)) {
    throw new RangeError(`LinkConfig.rateBps must be a finite number > 0, got ${c.rateBps}`)
  }
  nonNegative('queueBytes', c.queueBytes)
  nonNegative('maxDatagramSize', c.maxDatagramSize)
}

export interface SimNetworkInit {
  /** seed of the network's {@link Prng}; every link gets a fork of it */
  seed: number
  /** initial virtual time, µs (default 1_000_000) */
  startUs?: number
  /** runUntil / runTo throw after this many steps in one call (default 50_000_000) */
  maxSteps?: number
}

export interface SimNetworkStats {
  /** events processed (deliveries, timeouts, scheduled callbacks) */
  steps: number
  /** datagrams that arrived at a host where no node was attached at the destination port */
  noNode: number
  /** datagrams dropped by `tap` */
  tapDrops: number
}

interface Attached {
  readonly address: SimAddress
  readonly node: SimNode
  /** consecutive handleTimeout calls after which the node reported the same (now past) timeout */
  stuck: number
}

const EVENT_DELIVER = 0
const EVENT_CALLBACK = 1

interface SimEvent {
  time: number
  seq: number
  kind: typeof EVENT_DELIVER | typeof EVENT_CALLBACK
  link: Link | undefined
  from: SimAddress | undefined
  toKey: string
  bytes: Uint8Array | undefined
  fn: ((now: number) => void) | undefined
}

/** consecutive handleTimeout calls after which the node still reports the same deadline, before we call it stuck */
const STUCK_TIMEOUT_LIMIT = 1000
/** datagrams one node may emit in a single drain before we call it runaway */
const DRAIN_LIMIT = 10_000_000

function addressKey (a: SimAddress): string {
  return `${a.host}:${a.port}`
}

/**
 * The simulated network. See the module documentation.
 *
 * Ordering rules (all deterministic):
 * - Events (datagram arrivals, `at` callbacks) run in order of time, then of scheduling (FIFO).
 * - Node timeouts run after all events of the same time, nodes in attach order.
 * - After a node's `receive` or `handleTimeout`, that node's `pollTransmit` is drained; after an
 * `at` callback, `kick()` and at the start of every `runUntil` / `runTo` all nodes are drained.
 * - `pollTimeout()` of every attached node is read before each step.
 */
export class SimNetwork {
  readonly prng: Prng
  readonly stats: SimNetworkStats = { steps: 0, noNode: 0, tapDrops: 0 }

  /**
   * Optional packet tap: called for every datagram when it is handed to the link (before loss),
   * may return 'drop' to drop that one datagram.
   */
  tap?: (now: number, from: SimAddress, to: SimAddress, bytes: Uint8Array) => 'drop' | undefined

  private _now: number
  private seq = 0
  private readonly heap: SimEvent[] = []
  private readonly nodes = new Map<string, Attached>()
  /** the values of `nodes` in attach order, as an array for a fast scan in every step */
  private entries: Attached[] = []
  private readonly links = new Map<string, Map<string, Link>>()
  private readonly maxSteps: number

  constructor (init: SimNetworkInit) {
    this.prng = new Prng(init.seed)
    this._now = init.startUs ?? 1_000_000
    this.maxSteps = init.maxSteps ?? 50_000_000
  }

  /** virtual clock, µs */
  get now (): number {
    return this._now
  }

  /** Put `node` at `address`. Throws if the address is taken. */
  attach (address: SimAddress, node: SimNode): void {
    const key = addressKey(address)
    if (this.nodes.has(key)) {
      throw new Error(`address ${key} is already attached`)
    }
    const entry: Attached = { address: { host: address.host, port: address.port }, node, stuck: 0 }
    this.nodes.set(key, entry)
    this.entries.push(entry)
  }

  /** Remove the node at `address`; datagrams still in flight to it will be counted in `stats.noNode`. */
  detach (address: SimAddress): void {
    const key = addressKey(address)
    const entry = this.nodes.get(key)
    if (entry != null) {
      this.nodes.delete(key)
      this.entries = this.entries.filter(e => e !== entry)
    }
  }

  /**
   * The directional link from host `fromHost` to host `toHost`. With a config, a new Link replaces
   * the current one; with a Link, that Link is used (share one Link between several host pairs to
   * model a shared bottleneck); with nothing, the current link is returned (an ideal one, zero delay,
   * is created if none exists). Datagrams already in flight are not affected.
   */
  link (fromHost: string, toHost: string, config?: LinkConfig | Link): Link {
    let byTo = this.links.get(fromHost)
    if (byTo == null) {
      byTo = new Map()
      this.links.set(fromHost, byTo)
    }
    let link: Link | undefined
    if (config instanceof Link) {
      link = config
    } else if (config != null) {
      link = new Link(config, this.prng.fork())
    } else {
      link = byTo.get(toHost)
      if (link != null) {
        return link
      }
      link = new Link({}, this.prng.fork())
    }
    byTo.set(toHost, link)
    return link
  }

  /** Both directions with the same config (two separate Link objects): [a to b, b to a]. */
  connect (hostA: string, hostB: string, config: LinkConfig = {}): [Link, Link] {
    return [this.link(hostA, hostB, config), this.link(hostB, hostA, config)]
  }

  /** Schedule `fn` at absolute time `t` (µs; a time in the past means now), in order with other events. */
  at (t: number, fn: (now: number) => void): void {
    this.push({
      time: t > this._now ? t : this._now,
      seq: this.seq++,
      kind: EVENT_CALLBACK,
      link: undefined,
      from: undefined,
      toKey: '',
      bytes: undefined,
      fn
    })
  }

  /** Drain every node's pollTransmit (call after poking a node from outside, e.g. an app write). */
  kick (): void {
    for (const entry of this.entries) {
      this.drain(entry)
    }
  }

  /** Number of pending events (datagrams in flight and scheduled callbacks). */
  pending (): number {
    return this.heap.length
  }

  /**
   * Advance the simulation one event at a time until `done()` returns true (checked before the
   * first step and after each step), or the next event is later than `deadlineUs` (absolute; the
   * clock is then set to `deadlineUs`), or nothing remains to be done (the clock stays put).
   * Returns true only when `done()` became true. Starts with a {@link kick}.
   */
  runUntil (done: () => boolean, deadlineUs: number): boolean {
    this.kick()
    let steps = 0
    while (true) {
      if (done()) {
        return true
      }
      const r = this.step(deadlineUs)
      if (r === STEP_IDLE) {
        return false
      }
      if (r === STEP_DEADLINE) {
        if (deadlineUs > this._now) {
          this._now = deadlineUs
        }
        return false
      }
      if (++steps > this.maxSteps) {
        throw new Error(`simulation exceeded ${this.maxSteps} steps at t=${this._now}us (last node: ${this.lastActor ?? 'none'})`)
      }
    }
  }

  /** Run until virtual time reaches `t` (absolute µs), processing every event at or before `t`. */
  runTo (t: number): void {
    this.runUntil(() => false, t)
    if (t > this._now) {
      this._now = t
    }
  }

  private lastActor: string | undefined

  /** One event or timeout, if one is due at or before `deadline`. */
  private step (deadline: number): number {
    let timeoutEntry: Attached | undefined
    let timeout = Infinity
    const entries = this.entries
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]
      const t = entry.node.pollTimeout()
      if (t != null && t < timeout) {
        timeout = t
        timeoutEntry = entry
      }
    }
    const heap = this.heap
    const top = heap.length > 0 ? heap[0] : undefined
    if (top != null && top.time <= timeout) {
      if (top.time > deadline) {
        return STEP_DEADLINE
      }
      this.pop()
      if (top.time > this._now) {
        this._now = top.time
      }
      this.stats.steps++
      if (top.kind === EVENT_DELIVER) {
        this.arrive(top)
      } else {
        this.lastActor = 'at() callback'
        top.fn?.(this._now)
        this.kick()
      }
      return STEP_OK
    }
    if (timeoutEntry == null) {
      return STEP_IDLE
    }
    const t = timeout > this._now ? timeout : this._now
    if (t > deadline) {
      return STEP_DEADLINE
    }
    this._now = t
    this.stats.steps++
    const entry = timeoutEntry
    this.lastActor = addressKey(entry.address)
    entry.node.handleTimeout(t)
    this.drain(entry)
    // the deadline is now in the past: reporting it again means being called again at once, forever
    if (entry.node.pollTimeout() === timeout) {
      if (++entry.stuck >= STUCK_TIMEOUT_LIMIT) {
        throw new Error(`node at ${addressKey(entry.address)} keeps reporting the past timeout ${timeout}us after handleTimeout (now=${t}us)`)
      }
    } else {
      entry.stuck = 0
    }
    return STEP_OK
  }

  private arrive (ev: SimEvent): void {
    const link = ev.link as Link
    const bytes = ev.bytes as Uint8Array
    link.stats.delivered++
    link.stats.bytesDelivered += bytes.length
    const entry = this.nodes.get(ev.toKey)
    if (entry == null) {
      this.stats.noNode++
      return
    }
    this.lastActor = addressKey(entry.address)
    entry.node.receive(this._now, ev.from as SimAddress, bytes)
    this.drain(entry)
  }

  /** Send every datagram `entry` has; returns how many. */
  private drain (entry: Attached): number {
    let n = 0
    while (true) {
      const tx = entry.node.pollTransmit(this._now)
      if (tx == null) {
        return n
      }
      if (++n > DRAIN_LIMIT) {
        throw new Error(`node at ${addressKey(entry.address)} emitted more than ${DRAIN_LIMIT} datagrams at once`)
      }
      this.send(entry.address, tx.to, tx.bytes)
    }
  }

  private send (from: SimAddress, to: SimAddress, bytes: Uint8Array): void {
    if (this.tap != null && this.tap(this._now, from, to, bytes) === 'drop') {
      this.stats.tapDrops++
      return
    }
    const link = this.link(from.host, to.host)
    const toKey = addressKey(to)
    link.transmit(this._now, bytes, (arrival, copy) => {
      this.push({
        time: arrival,
        seq: this.seq++,
        kind: EVENT_DELIVER,
        link,
        from,
        toKey,
        bytes: copy,
        fn: undefined
      })
    })
  }

  // binary min-heap on (time, seq)

  private push (ev: SimEvent): void {
    const heap = this.heap
    let i = heap.length
    heap.push(ev)
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = heap[p]
      if (parent.time < ev.time || (parent.time === ev.time && parent.seq < ev.seq)) {
        break
      }
      heap[i] = parent
      i = p
    }
    heap[i] = ev
  }

  private pop (): void {
    const heap = this.heap
    const last = heap.pop() as SimEvent
    const n = heap.length
    if (n === 0) {
      return
    }
    let i = 0
    while (true) {
      let c = 2 * i + 1
      if (c >= n) {
        break
      }
      const r = c + 1
      if (r < n && (heap[r].time < heap[c].time || (heap[r].time === heap[c].time && heap[r].seq < heap[c].seq))) {
        c = r
      }
      const child = heap[c]
      if (last.time < child.time || (last.time === child.time && last.seq < child.seq)) {
        break
      }
      heap[i] = child
      i = c
    }
    heap[i] = last
  }
}

const STEP_OK = 0
const STEP_DEADLINE = 1
const STEP_IDLE = 2
