/**
 * Network namespaces outlive the process that made them, so every one is recorded here and deleted
 * on exit, on SIGINT/SIGTERM/SIGHUP and on an uncaught exception, even when the normal tear-down
 * never runs. Their processes need no killing: each one exits when its stdin (a pipe from this
 * process) closes. Names carry the creating pid (`utpb-<pid>-...`), so namespaces left by a run
 * that was killed outright are found and deleted by the next one, without touching live runs.
 */

import { runQuietly } from './shell.ts'

export const NAMESPACE_PREFIX = 'utpb-'

const live = new Set<string>()
let installed = false

/** Deletes every namespace this process still has (for an after-all hook; exit does it anyway) */
export function deleteAll (): void {
  for (const name of live) {
    runQuietly('ip', ['netns', 'del', name])
  }
  live.clear()
}

function install (): void {
  if (installed) {
    return
  }
  installed = true
  process.on('exit', deleteAll)
  for (const [signal, number] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]] as const) {
    process.once(signal, () => {
      deleteAll()
      process.exit(128 + number)
    })
  }
}

/** A fresh namespace name owned by this process */
export function namespaceName (tag: string): string {
  return `${NAMESPACE_PREFIX}${process.pid}-${tag}`
}

export function trackNamespace (name: string): void {
  install()
  live.add(name)
}

export function untrackNamespace (name: string): void {
  live.delete(name)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err?.code === 'EPERM'
  }
}

/** Deletes the namespaces of runs whose process is gone; `listing` is the output of `ip netns list` */
export function sweepStale (listing: string): void {
  for (const line of listing.split('\n')) {
    const name = line.split(' ')[0]
    const match = /^utpb-(\d+)-/.exec(name)
    if (match != null && Number(match[1]) !== process.pid && !alive(Number(match[1]))) {
      runQuietly('ip', ['netns', 'del', name])
    }
  }
}
