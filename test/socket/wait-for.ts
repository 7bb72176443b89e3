import { setTimeout as delay } from 'node:timers/promises'

/**
 * Polls `cond` every `everyMs` until it holds or `ms` have passed; returns whether it holds.
 * For conditions no event announces (a connection count reaching a value); bounded, never a sleep.
 */
export async function waitFor (cond: () => boolean, ms: number, everyMs = 50): Promise<boolean> {
  const deadline = performance.now() + ms
  while (!cond()) {
    if (performance.now() > deadline) {
      return false
    }
    await delay(everyMs)
  }
  return true
}
