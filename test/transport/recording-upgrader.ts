/**
 * An Upgrader for listener tests that records what reaches `upgradeInbound`
 */

import { once } from 'node:events'
import type { MultiaddrConnection, Upgrader } from '@libp2p/interface'

export interface RecordingUpgrader {
  upgrader: Upgrader
  /** every connection handed to `upgradeInbound`, in order */
  upgraded: MultiaddrConnection[]
  /** resolves at the next `upgradeInbound` call */
  nextUpgrade(): Promise<void>
}

/**
 * `holdUntilAbort`: each upgrade waits until the listener shuts down, then fails; otherwise it
 * succeeds at once
 */
export function recordingUpgrader (holdUntilAbort = false): RecordingUpgrader {
  const upgraded: MultiaddrConnection[] = []
  let onUpgrade: (() => void) | undefined
  const upgrader = {
    createInboundAbortSignal: (signal: AbortSignal) => Object.assign(AbortSignal.any([signal]), { clear () {} }),
    upgradeInbound: async (maConn: MultiaddrConnection, options: { signal: AbortSignal }) => {
      upgraded.push(maConn)
      onUpgrade?.()
      if (holdUntilAbort) {
        await once(options.signal, 'abort')
        throw new Error('listener closed')
      }
    }
  } as unknown as Upgrader
  return {
    upgrader,
    upgraded,
    nextUpgrade: async () => new Promise<void>((resolve) => { onUpgrade = resolve })
  }
}
