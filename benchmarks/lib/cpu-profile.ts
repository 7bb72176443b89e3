/**
 * Where a worker's main thread spent its time, read from the V8 `.cpuprofile` that
 * `npm run bench -- --cpu-prof` has each worker write: self time by category. Idle time and the
 * process's start-up (module loading, type stripping) are set apart, so that the shares are of
 * the work the row measures (its warm-up transfer included).
 */

import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

export const CATEGORIES = ['ours', 'udp send', 'udp receive', 'tcp send', 'node crypto', 'libp2p and deps', 'node other', 'gc', 'native', 'bench', 'wasm'] as const
export type Category = typeof CATEGORIES[number] | 'startup' | 'idle'

interface CallFrame {
  functionName: string
  url: string
}

interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  /** the bench worker script the profile was taken in */
  worker: string
  /** main-thread time, ms, by category */
  ms: Record<Category, number>
  /** main-thread time of the measured work: everything but idle and start-up, ms */
  busyMs: number
  /** the functions with the most self time, busy time only: [function (file), ms] */
  top: Array<[string, number]>
}

/** The project's root, as profiles spell the URLs of its files */
const ROOT = new URL('../../', import.meta.url).href

/** The native functions that write a TCP socket's data (strings, such as a worker's reports, are not) */
const TCP_WRITES = new Set(['writeBuffer', 'writev'])

/** Top-level entries of a profile, which no JavaScript called */
const PSEUDO_FRAMES = new Set(['(root)', '(program)', '(idle)', '(garbage collector)'])

/** Module loading and type stripping, and everything they call (the modules' top-level code) */
function isStartup ({ url }: CallFrame): boolean {
  return url.startsWith('node:internal/modules/') || url.startsWith('node:internal/deps/amaro') || url.startsWith('node:internal/bootstrap/') || url.startsWith('node:internal/main/')
}

/** A frame's category by its own code alone */
function ownCategory (frame: CallFrame, root: string): Category {
  const { functionName: name, url } = frame
  if (url === '') {
    switch (name) {
      case '(idle)': return 'idle'
      case '(garbage collector)': return 'gc'
      default: return TCP_WRITES.has(name) ? 'tcp send' : 'native'
    }
  }
  if (url === 'node:dgram') {
    return name === 'onMessage' ? 'udp receive' : 'udp send'
  }
  if (url.startsWith('node:internal/crypto/')) {
    return 'node crypto'
  }
  if (url.startsWith('node:')) {
    return 'node other'
  }
  if (url.startsWith('wasm://')) {
    return 'wasm'
  }
  if (url.startsWith(`${root}src/`)) {
    return 'ours'
  }
  if (url.startsWith(`${root}benchmarks/`)) {
    return 'bench'
  }
  return 'libp2p and deps'
}

/** Categories whose frames' callees in the rest of Node and in native code are counted as theirs */
const OWNERS = new Set<Category>(['ours', 'libp2p and deps', 'bench', 'udp send', 'udp receive', 'tcp send', 'node crypto'])

function shortName (frame: CallFrame): string {
  const file = frame.url.includes('/node_modules/') ? frame.url.split('/node_modules/').pop() as string : frame.url.split('/').pop() as string
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} (${file === '' ? 'native' : file})`
}

/**
 * Self time by category. The rest of Node and native functions count for the nearest caller
 * that has a category of its own: our code, a package's, the bench's, node:dgram's sends and
 * receive callbacks, Node's crypto, TCP writes. Without one (the event loop's own work) they stay
 * 'node other' and 'native'. Start-up, and everything it calls, is set apart. Each sample stands
 * for the time since the one before: V8 takes a sample in a signal handler, which a thread in a
 * system call runs only once the call returns, so the time of a send lands on the sample taken
 * in it (Chrome DevTools counts the time until the next sample instead).
 */
export function summarizeProfile (profile: CpuProfile, topCount = 12, root = ROOT): ProfileSummary {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const categoryOf = new Map<number, Category>()
  const visit = (node: ProfileNode, inStartup: boolean, owner: Category | undefined): void => {
    const startup = inStartup || isStartup(node.callFrame)
    const own = ownCategory(node.callFrame, root)
    let category = own
    if (startup) {
      category = 'startup'
    } else if ((own === 'node other' || own === 'native') && owner != null && !PSEUDO_FRAMES.has(node.callFrame.functionName)) {
      category = owner
    }
    categoryOf.set(node.id, category)
    const next = OWNERS.has(own) ? own : owner
    for (const child of node.children ?? []) {
      visit(byId.get(child) as ProfileNode, startup, next)
    }
  }
  const hasParent = new Set(profile.nodes.flatMap(n => n.children ?? []))
  for (const top of profile.nodes.filter(n => !hasParent.has(n.id))) {
    visit(top, false, undefined)
  }
  const ms = Object.fromEntries([...CATEGORIES, 'startup', 'idle'].map(c => [c, 0])) as Record<Category, number>
  const byFunction = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const category = categoryOf.get(id) as Category
    ms[category] += us / 1000
    if (category !== 'idle' && category !== 'startup') {
      const name = shortName((byId.get(id) as ProfileNode).callFrame)
      byFunction.set(name, (byFunction.get(name) ?? 0) + us / 1000)
    }
  }
  const worker = profile.nodes.map(n => n.callFrame.url).find(url => url.includes('/benchmarks/workers/'))?.split('/').pop()?.replace(/\.ts$/, '') ?? '?'
  const busyMs = CATEGORIES.reduce((sum, c) => sum + ms[c], 0)
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, topCount)
  return { worker, ms, busyMs, top }
}

/** A worker's summary, with the directory its profile was written to (`<n>-<row>-<worker>`) */
export interface WorkerProfile extends ProfileSummary {
  dir: string
}

/**
 * Every profile under `dir` (one directory per worker), summarized, in the order they were taken.
 * None (no worker ran) is an empty list; one that cannot be read (a worker killed while writing
 * it) is left out with a warning on stderr: the run's results must still be written.
 */
export async function summarizeProfiles (dir: string): Promise<WorkerProfile[]> {
  const out: WorkerProfile[] = []
  let subs: string[]
  try {
    subs = (await readdir(dir)).sort()
  } catch (err: any) {
    if (err.code === 'ENOENT') {
      return out
    }
    throw err
  }
  for (const sub of subs) {
    for (const file of (await readdir(join(dir, sub))).filter(f => f.endsWith('.cpuprofile'))) {
      try {
        const profile = JSON.parse(await readFile(join(dir, sub, file), 'utf8')) as CpuProfile
        out.push({ ...summarizeProfile(profile), dir: sub })
      } catch (err: any) {
        process.stderr.write(`could not read the profile ${join(sub, file)}: ${String(err?.message ?? err)}\n`)
      }
    }
  }
  return out
}
