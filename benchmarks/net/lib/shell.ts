/** Runs the system tools the network bench drives (ip, tc, sysctl, cc, apt-get) */

import { execFile, spawnSync } from 'node:child_process'

/** Runs a program to its end; rejects with its stderr when it fails */
export async function run (file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err != null) {
        const detail = String(stderr).trim().split('\n').at(-1) ?? ''
        reject(new Error(`${file} ${args.join(' ')}: ${detail !== '' ? detail : err.message}`))
        return
      }
      resolve(String(stdout))
    })
    // a program that never reads its input must not fail the call
    child.stdin?.on('error', () => {})
    if (input != null) {
      child.stdin?.write(input)
    }
    child.stdin?.end()
  })
}

/** Runs a program synchronously, ignoring failure: for clean-up in exit and signal handlers */
export function runQuietly (file: string, args: string[]): boolean {
  return spawnSync(file, args, { stdio: 'ignore', timeout: 10_000 }).status === 0
}

/** Whether a program is on the PATH */
export function hasProgram (name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0
}
