/**
 * Whether this machine can run the network bench, and why not: root, the programs it drives
 * (installed from Debian when asked to and missing), network namespaces, TUN devices and tbf,
 * each tried for real in a throwaway namespace.
 */

import { namespaceName, trackNamespace, untrackNamespace } from './cleanup.ts'
import { buildEmulator } from './emulator.ts'
import { hasProgram, run } from './shell.ts'

/** program -> Debian package */
const PROGRAMS: Record<string, string> = {
  ip: 'iproute2',
  tc: 'iproute2',
  sysctl: 'procps',
  cc: 'gcc'
}

async function install (packages: string[]): Promise<void> {
  const args = ['install', '-y', '--no-install-recommends', ...packages]
  try {
    await run('apt-get', args)
  } catch {
    // package lists may be missing or stale on a fresh machine
    await run('apt-get', ['update'])
    await run('apt-get', args)
  }
}

async function missingPrograms (allowInstall: boolean): Promise<string | undefined> {
  const missing = Object.keys(PROGRAMS).filter(p => !hasProgram(p))
  if (missing.length === 0) {
    return undefined
  }
  if (!allowInstall || !hasProgram('apt-get')) {
    return `missing programs: ${missing.join(', ')}`
  }
  const packages = [...new Set(missing.map(p => PROGRAMS[p]))]
  process.stderr.write(`installing ${packages.join(', ')} with apt-get\n`)
  try {
    await install(packages)
  } catch (err: any) {
    return `could not install ${packages.join(', ')}: ${String(err?.message ?? err)}`
  }
  return undefined
}

/** Creates a namespace and tries a TUN device (through the emulator) and a tbf qdisc in it */
async function tryNamespace (emulator: string): Promise<string | undefined> {
  const name = namespaceName('check')
  trackNamespace(name)
  try {
    await run('ip', ['netns', 'add', name])
  } catch (err: any) {
    untrackNamespace(name)
    return `network namespaces unavailable: ${String(err?.message ?? err)}`
  }
  try {
    // the emulator reports ready once both TUN devices exist, then exits as its stdin is empty
    const out = await run('ip', ['netns', 'exec', name, emulator, 'tun0', 'tun1', '1'], '').catch(() => '')
    if (!out.includes('"ready"')) {
      return 'TUN devices unavailable (/dev/net/tun)'
    }
    try {
      await run('tc', ['-n', name, 'qdisc', 'add', 'dev', 'lo', 'root', 'tbf', 'rate', '10mbit', 'burst', '3028', 'limit', '10000'])
    } catch (err: any) {
      return `tbf unavailable: ${String(err?.message ?? err)}`
    }
    return undefined
  } finally {
    await run('ip', ['netns', 'del', name]).catch(() => {})
    untrackNamespace(name)
  }
}

/** Undefined when the bench can run here, or the reason it cannot */
export async function unavailableReason (options: { install: boolean }): Promise<string | undefined> {
  if (process.platform !== 'linux') {
    return 'needs Linux'
  }
  if (process.getuid?.() !== 0) {
    return 'needs root (network namespaces, TUN devices, tc)'
  }
  const missing = await missingPrograms(options.install)
  if (missing != null) {
    return missing
  }
  let emulator: string
  try {
    emulator = await buildEmulator()
  } catch (err: any) {
    return `could not build the link emulator: ${String(err?.message ?? err)}`
  }
  return tryNamespace(emulator)
}
