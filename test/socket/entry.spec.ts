/**
 * `libp2p-utp/socket` (src/socket/index.ts) serves the same classes as the main entry and loads
 * neither the libp2p transport nor the packages only it needs: a receiving process pays for every
 * module it holds at each major collection (benchmarks/ANALYSIS.md, Ceilings).
 */

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { expect } from 'aegir/chai'
import * as main from '../../src/index.ts'
import * as socketEntry from '../../src/socket/index.ts'

const run = promisify(execFile)

/** the modules a fresh process resolves while it imports `entry` */
async function modulesLoadedBy (entry: URL): Promise<string[]> {
  const script = `
    import { registerHooks } from 'node:module'
    const seen = []
    registerHooks({ resolve (specifier, context, next) { const r = next(specifier, context); seen.push(r.url); return r } })
    await import(${JSON.stringify(entry.href)})
    process.stdout.write(JSON.stringify(seen))
  `
  const { stdout } = await run(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script])
  return JSON.parse(stdout)
}

describe('libp2p-utp/socket entry', () => {
  it('exports the socket layer as the main entry does', () => {
    expect(socketEntry.UtpSocket).to.equal(main.UtpSocket)
    expect(socketEntry.UtpConnection).to.equal(main.UtpConnection)
    expect(socketEntry.ConnectionRefusedError).to.equal(main.ConnectionRefusedError)
    expect(socketEntry.ConnectionResetError).to.equal(main.ConnectionResetError)
    expect(socketEntry.ConnectionTimeoutError).to.equal(main.ConnectionTimeoutError)
    expect(socketEntry.SocketStateError).to.equal(main.SocketStateError)
  })

  it('loads no transport module and none of the packages only the transport needs', async () => {
    // the suite runs from the TypeScript sources or from their build: the entry is the sibling
    const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js'
    const loaded = await modulesLoadedBy(new URL(`../../src/socket/index.${extension}`, import.meta.url))
    expect(loaded.some(url => url.includes('/src/socket/utp-socket.'))).to.equal(true, 'the socket itself was not loaded')
    const transportOnly = loaded.filter(url => /\/src\/(transport|hole-punching)\/|@multiformats\/multiaddr|@libp2p\/utils/.test(url))
    expect(transportOnly).to.deep.equal([])
  })
})
