/**
 * Running `ip`, `nft` and `sysctl`, and deleting this run's network namespaces whatever happens:
 * after() hooks call {@link deleteNamespaces}; SIGINT/SIGTERM and process exit delete whatever is
 * left. Names carry the pid, so parallel runs never collide and a crashed run's leftovers can be
 * told apart.
 */

import { execFile, execFileSync } from 'node:child_process'

/** every namespace of this bench starts with this, then the pid of the process that made it */
export const PREFIX = 'utpnat'

const live = new Set<string>()

export interface RunOptions {
  /** written to the command's stdin */
  input?: string
}

/** Runs a command; rejects with its stderr when it fails */
export async function run (file: string, args: string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, (err, stdout, stderr) => {
      if (err != null) {
        reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() !== '' ? stderr.trim() : err.message}`))
        return
      }
      resolve(stdout)
    })
    child.stdin?.end(options.input)
  })
}

let support: Promise<string | undefined> | undefined

/** Why this machine cannot run the bench, or undefined when it can (checked once) */
export async function unsupported (): Promise<string | undefined> {
  support ??= check()
  return support
}

async function check (): Promise<string | undefined> {
  if (process.platform !== 'linux') {
    return `network namespaces need Linux (this is ${process.platform})`
  }
  if (process.getuid?.() !== 0) {
    return 'network namespaces need root'
  }
  // the routers' rules, the reachability checks, the mapping dumps
  for (const [tool, args] of [['nft', ['--version']], ['ping', ['-V']], ['conntrack', ['--version']]] as const) {
    try {
      await run(tool, [...args])
    } catch (err: any) {
      return `${tool} is not available: ${String(err.message)}`
    }
  }
  const probe = `${PREFIX}${process.pid}probe`
  try {
    await addNamespace(probe)
    await run('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset'])
  } catch (err: any) {
    return `network namespaces or nftables do not work here: ${String(err.message)}`
  } finally {
    await deleteNamespaces([probe])
  }
  return undefined
}

export async function addNamespace (name: string): Promise<void> {
  live.add(name)
  await run('ip', ['netns', 'add', name])
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
  // no duplicate address detection: a tentative link-local address delays the first packets
  await run('ip', ['netns', 'exec', name, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'])
}

/** Deletes namespaces (their interfaces go with them); never throws */
export async function deleteNamespaces (names: string[]): Promise<void> {
  await Promise.all(names.map(async (name) => {
    live.delete(name)
    await run('ip', ['netns', 'del', name]).catch(() => {})
  }))
}

/** Namespaces left by runs of this bench whose process is gone (killed with SIGKILL, say) */
export async function deleteStale (): Promise<void> {
  const list = await run('ip', ['netns', 'list']).catch(() => '')
  const stale = list.split('\n')
    .map(line => line.split(' ')[0])
    .filter(name => {
      const pid = new RegExp(`^${PREFIX}(\\d+)-`).exec(name)?.[1]
      return pid != null && Number(pid) !== process.pid && !alive(Number(pid))
    })
  await deleteNamespaces(stale)
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}

function deleteLiveSync (): void {
  for (const name of live) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' })
    } catch {
      // already gone
    }
  }
  live.clear()
}

// last resort when the after() hooks never ran; the workers exit by themselves once their stdin
// closes with this process
process.once('exit', deleteLiveSync)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    deleteLiveSync()
    process.kill(process.pid, signal)
  })
}
