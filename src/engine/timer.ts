import type { Instant } from './time.ts'

/** The connection's named deadlines */
export const Timer = {
  /** When to retransmit the oldest unacknowledged packet (RTO), or the SYN */
  Retransmit: 0,
  /** When to send an ACK that has been held back to be coalesced with later ones */
  DelayedAck: 1,
  /** When to send a keep-alive because nothing has been sent for a while */
  KeepAlive: 2,
  /** When to give up on a peer that has sent nothing for too long */
  Idle: 3,
  /** When to forget a fully closed connection (kept to re-acknowledge a retransmitted FIN) */
  Linger: 4,
  /** When to give up on a handshake: the connect deadline, or a half-open accepted connection */
  Handshake: 5,
  /** When to probe a peer whose receive window is closed */
  WindowProbe: 6,
  /** When a packet overtaken by later ones has waited out the reordering window (RACK) */
  Reorder: 7,
  /** When to probe a silent tail: data in flight and no ACK progress for about two RTTs (RFC 8985 TLP) */
  TailProbe: 8,
  /** When a path MTU probe that got no echo counts as lost */
  PathMtu: 9
} as const

export type TimerId = typeof Timer[keyof typeof Timer]

const TIMER_NAMES = ['retransmit', 'delayed-ack', 'keep-alive', 'idle', 'linger', 'handshake', 'window-probe', 'reorder', 'tail-probe', 'path-mtu']
const TIMER_COUNT = TIMER_NAMES.length

export function timerName (timer: TimerId): string {
  return TIMER_NAMES[timer]
}

/** A fixed table of optional deadlines; the connection's next wake-up is its minimum */
export class TimerTable {
  // a plain array of doubles: a typed array costs two extra objects per connection
  private readonly deadlines: number[] = new Array<number>(TIMER_COUNT).fill(Infinity)

  set (timer: TimerId, at: Instant): void {
    this.deadlines[timer] = at
  }

  stop (timer: TimerId): void {
    this.deadlines[timer] = Infinity
  }

  get (timer: TimerId): Instant | undefined {
    const at = this.deadlines[timer]
    return at === Infinity ? undefined : at
  }

  isSet (timer: TimerId): boolean {
    return this.deadlines[timer] !== Infinity
  }

  isExpired (timer: TimerId, now: Instant): boolean {
    return this.deadlines[timer] <= now
  }

  stopAll (): void {
    this.deadlines.fill(Infinity)
  }

  /** The earliest deadline, or undefined when none is set */
  next (): Instant | undefined {
    let min = Infinity
    for (let i = 0; i < TIMER_COUNT; i++) {
      if (this.deadlines[i] < min) {
        min = this.deadlines[i]
      }
    }
    return min === Infinity ? undefined : min
  }
}

export const ALL_TIMERS: readonly TimerId[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
