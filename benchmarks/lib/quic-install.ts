/**
 * Runner side of the quic rows: makes `@chainsafe/libp2p-quic` 2.x loadable from
 * benchmarks/.deps/ (gitignored, its own package.json, outside the project's lockfile), installing
 * it with npm the first time a quic row runs. Resolves with why the quic rows cannot run, or
 * undefined when they can; the answer is kept for the rest of the run.
 */

import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { DEPS_DIR, QUIC_ENTRY, QUIC_PACKAGE, loadQuic } from './quic.ts'

const VERSION = '^2'
/** npm retries an unreachable registry for minutes; give up sooner */
const INSTALL_TIMEOUT_MS = 90_000
const STDERR_HEAD = 8_000

let availability: Promise<string | undefined> | undefined

export async function quicMissing (): Promise<string | undefined> {
  availability ??= check()
  return availability
}

async function check (): Promise<string | undefined> {
  try {
    await loadQuic()
    return undefined
  } catch {
    // not installed yet (or a broken install): install, then load again
  }
  try {
    process.stderr.write(`installing ${QUIC_PACKAGE}@${VERSION} into benchmarks/.deps (first quic row; it cannot be a devDependency)\n`)
    await install()
    await loadQuic()
    return undefined
  } catch (err: any) {
    return `${QUIC_PACKAGE} could not be installed or loaded: ${String(err?.message ?? err)}`
  }
}

async function install (): Promise<void> {
  const dir = fileURLToPath(DEPS_DIR)
  await mkdir(dir, { recursive: true })
  await writeFile(new URL('package.json', DEPS_DIR), `${JSON.stringify({ private: true, type: 'module', description: 'installed by benchmarks/lib/quic-install.ts' }, null, 2)}\n`)
  await writeFile(QUIC_ENTRY, `export * from '${QUIC_PACKAGE}'\n`)
  await npm(['install', '--prefix', dir, '--no-audit', '--no-fund', `${QUIC_PACKAGE}@${VERSION}`])
}

/** npm's error lines say what went wrong first (code, then the message), then a stack and advice */
function npmError (stderr: string): string {
  const errors = stderr.split('\n').map(l => /^npm (?:error|ERR!) (.+)$/.exec(l.trim())?.[1]?.trim() ?? '').filter(l => l !== '')
  const code = errors.find(l => l.startsWith('code '))
  const message = errors.find(l => !/^(?:code|syscall|errno) /.test(l))
  return [code, message].filter(l => l != null).join('; ').slice(0, 300)
}

/** Runs npm (the one on the PATH: `npm run` puts this project's first); rejects with its error */
async function npm (args: string[]): Promise<void> {
  const child = spawn('npm', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (data: Buffer) => { stderr = (stderr + data.toString()).slice(0, STDERR_HEAD) })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, INSTALL_TIMEOUT_MS)
  try {
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', (code, signal) => {
        if (code === 0) {
          resolve()
          return
        }
        const why = signal === 'SIGKILL' ? `no answer within ${INSTALL_TIMEOUT_MS / 1000} s` : npmError(stderr)
        reject(new Error(`npm ${args[0]} failed (${signal ?? `code ${code}`})${why === '' ? '' : `: ${why}`}`))
      })
    })
  } finally {
    clearTimeout(timer)
  }
}
