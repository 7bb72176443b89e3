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

/** Rejects with `message` if `promise` has not settled within `ms` */
export async function within<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const deadline = new Promise<never>((resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(message)) }, ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}
