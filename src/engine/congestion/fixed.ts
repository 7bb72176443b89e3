import type { AckSample, CongestionController } from './controller.ts'
import type { Instant } from '../time.ts'

/** A constant window: a test double that isolates reliability tests from congestion control */
export class FixedWindow implements CongestionController {
  readonly inSlowStart = false
  readonly queuingDelay = 0
  private readonly bytes: number

  constructor (bytes: number) {
    this.bytes = bytes
  }

  get window (): number {
    return this.bytes
  }

  onAck (_now: Instant, _sample: AckSample): void {}
  onLoss (_now: Instant): void {}
  undoLoss (_now: Instant): void {}
  onTimeout (_now: Instant): void {}
  setMss (_mss: number): void {}
}
