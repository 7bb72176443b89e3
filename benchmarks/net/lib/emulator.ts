/**
 * The link emulator (../emulator/linkemu.c): compiled with `cc -O2` into ../build/ (gitignored)
 * when missing or older than its source, and driven through its JSON-lines stdin/stdout with the
 * bench's Worker class.
 */

import { mkdir, rename, stat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Worker } from '../../lib/worker.ts'
import { run } from './shell.ts'

const SOURCE = fileURLToPath(new URL('../emulator/linkemu.c', import.meta.url))
const BUILD_DIR = fileURLToPath(new URL('../build/', import.meta.url))
const BINARY = `${BUILD_DIR}linkemu`
const REPLY_TIMEOUT_MS = 5_000

/** One direction's impairments; probabilities are fractions 0..1 */
export interface Impairment {
  delayMs: number
  jitterMs: number
  loss: number
  dup: number
  reorder: number
  /** how much longer a reordered packet is held back */
  reorderMs: number
}

export const NO_IMPAIRMENT: Impairment = { delayMs: 0, jitterMs: 0, loss: 0, dup: 0, reorder: 0, reorderMs: 0 }

export type Direction = 'ab' | 'ba' | 'both'

async function mtime (path: string): Promise<number> {
  try {
    return (await stat(path)).mtimeMs
  } catch {
    return -1
  }
}

/** Compiles the emulator if needed and returns its path */
export async function buildEmulator (): Promise<string> {
  if (await mtime(BINARY) >= await mtime(SOURCE)) {
    return BINARY
  }
  await mkdir(BUILD_DIR, { recursive: true })
  // built under a private name and renamed: parallel runs never see a half-written binary
  const temporary = `${BINARY}.${process.pid}`
  await run('cc', ['-O2', '-Wall', '-o', temporary, SOURCE])
  await rename(temporary, BINARY)
  return BINARY
}

/** Impairment field -> the emulator's key and the factor to its unit (µs for times) */
const KEYS: Array<[keyof Impairment, string, number]> = [
  ['delayMs', 'delay_us', 1000],
  ['jitterMs', 'jitter_us', 1000],
  ['reorderMs', 'reorder_us', 1000],
  ['loss', 'loss', 1],
  ['dup', 'dup', 1],
  ['reorder', 'reorder', 1]
]

function setCommand (direction: Direction, p: Partial<Impairment>): string {
  const pairs = KEYS.flatMap(([field, key, factor]) => {
    const value = p[field]
    return value == null ? [] : [`${key}=${value * factor}`]
  })
  return `set ${direction} ${pairs.join(' ')}\n`
}

export class Emulator {
  private readonly worker: Worker
  /** whether it got real-time scheduling (release times hold better on a busy machine) */
  realtime = false

  private constructor (worker: Worker) {
    this.worker = worker
  }

  /** Starts it in `netns` on two new TUN devices; resolves once they exist */
  static async start (netns: string, tunAB: string, tunBA: string, seed: number): Promise<Emulator> {
    const binary = await buildEmulator()
    const worker = new Worker('linkemu', {}, { netns, command: [binary, tunAB, tunBA, String(seed)] })
    const emulator = new Emulator(worker)
    try {
      const ready = await worker.next('ready', REPLY_TIMEOUT_MS)
      emulator.realtime = ready.realtime === true
    } catch (err) {
      await worker.stop()
      throw err
    }
    return emulator
  }

  /** Changes some impairments of a direction, at once */
  async set (direction: Direction, p: Partial<Impairment>): Promise<void> {
    await this.command(setCommand(direction, p), 'ok')
  }

  /** Counters per direction: packets in, out, lost, duplicated, reordered; release lateness */
  async stats (): Promise<Record<string, unknown>> {
    const { type, ...stats } = await this.command('stats\n', 'stats')
    return stats
  }

  async stop (): Promise<void> {
    await this.worker.stop()
  }

  private async command (line: string, reply: string): Promise<Record<string, unknown>> {
    this.worker.sendLine(line)
    return this.worker.next(reply, REPLY_TIMEOUT_MS)
  }
}
