/**
 * Loads `@chainsafe/libp2p-quic` 2.x from benchmarks/.deps/, where the runner installs it on
 * first use (quic-install.ts). It cannot be a devDependency: its optional platform packages break
 * `npm ci` here. The installer writes a one-line ES module there that re-exports the package, so
 * Node resolves it from that folder by the package's own `exports` (its `exports` have no
 * `require` condition, so `createRequire().resolve()` cannot find it).
 */

import type { Libp2pOptions } from 'libp2p'

export type TransportFactory = NonNullable<Libp2pOptions['transports']>[number]

export interface QuicModule {
  quic(options?: Record<string, unknown>): TransportFactory
}

export const QUIC_PACKAGE = '@chainsafe/libp2p-quic'

/** the folder outside the project's lockfile that holds the package */
export const DEPS_DIR = new URL('../.deps/', import.meta.url)

/** the re-exporting module the installer writes */
export const QUIC_ENTRY = new URL('quic.js', DEPS_DIR)

export async function loadQuic (): Promise<QuicModule> {
  const module = await import(QUIC_ENTRY.href) as Partial<QuicModule>
  if (typeof module.quic !== 'function') {
    throw new Error(`${QUIC_PACKAGE} has no quic() export`)
  }
  return module as QuicModule
}
