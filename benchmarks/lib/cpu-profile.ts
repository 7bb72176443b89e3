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

const NATIVE_TCP_SEND = new Set(['writeBuffer', 'writev', 'writeUtf8String', 'writeLatin1String'])

/** Module loading and type stripping, and everything they call (the modules' top-level code) */
function isStartup ({ url }: CallFrame): boolean {
  return url.startsWith('node:internal/modules/') || url.startsWith('node:internal/deps/amaro') || url.startsWith('node:internal/bootstrap/') || url.startsWith('node:internal/main/')
}

function categorize (frame: CallFrame): Category {
  const { functionName: name, url } = frame
  if (url === '') {
    switch (name) {
      case '(idle)': return 'idle'
      case '(garbage collector)': return 'gc'
      default: return NATIVE_TCP_SEND.has(name) ? 'tcp send' : 'native'
    }
  }
  if (url === 'node:dgram') {
    return name === 'onMessage' ? 'udp receive' : 'udp send'
  }
  if (isStartup(frame)) {
    return 'startup'
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
  if (url.includes('/node_modules/')) {
    return 'libp2p and deps'
  }
  if (url.includes('/benchmarks/')) {
    return 'bench'
  }
  return url.includes('/src/') ? 'ours' : 'node other'
}

function shortName (frame: CallFrame): string {
  const file = frame.url.includes('/node_modules/') ? frame.url.split('/node_modules/').pop() as string : frame.url.split('/').pop() as string
  return `${frame.functionName === '' ? '(anonymous)' : frame.functionName} (${file === '' ? 'native' : file})`
}

export function summarizeProfile (profile: CpuProfile, topCount = 12): ProfileSummary {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const selfUs = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  // a frame called from start-up is start-up too (type stripping runs in WebAssembly, say)
  const startup = new Set<number>()
  const mark = (node: ProfileNode, inStartup: boolean): void => {
    const here = inStartup || isStartup(node.callFrame)
    if (here) {
      startup.add(node.id)
    }
    for (const child of node.children ?? []) {
      mark(byId.get(child) as ProfileNode, here)
    }
  }
  const hasParent = new Set(profile.nodes.flatMap(n => n.children ?? []))
  for (const root of profile.nodes.filter(n => !hasParent.has(n.id))) {
    mark(root, false)
  }
  const ms = Object.fromEntries([...CATEGORIES, 'startup', 'idle'].map(c => [c, 0])) as Record<Category, number>
  const byFunction = new Map<string, number>()
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame
    const category = startup.has(id) ? 'startup' : categorize(frame)
    ms[category] += us / 1000
    if (category !== 'idle' && category !== 'startup') {
      const name = shortName(frame)
      byFunction.set(name, (byFunction.get(name) ?? 0) + us / 1000)
    }
  }
  const worker = profile.nodes.map(n => n.callFrame.url).find(url => url.includes('/benchmarks/workers/'))?.split('/').pop()?.replace(/\.ts$/, '') ?? '?'
  const busyMs = CATEGORIES.reduce((sum, c) => sum + ms[c], 0)
  const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, topCount)
  return { worker, ms, busyMs, top }
}

/** Every profile under `dir` (one directory per worker), summarized, in the order they were taken */
export async function summarizeProfiles (dir: string): Promise<Array<ProfileSummary & { dir: string }>> {
  const out: Array<ProfileSummary & { dir: string }> = []
  for (const sub of (await readdir(dir)).sort()) {
    for (const file of (await readdir(join(dir, sub))).filter(f => f.endsWith('.cpuprofile'))) {
      const profile = JSON.parse(await readFile(join(dir, sub, file), 'utf8')) as CpuProfile
      out.push({ ...summarizeProfile(profile), dir: sub })
    }
  }
  return out
}
