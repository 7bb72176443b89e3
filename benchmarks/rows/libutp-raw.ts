/**
 * libutp raw: utp-native (libutp, the reference implementation, in C++) on both sides, 4 MiB
 * kernel socket buffers, one connection, the same transfer as utp raw. libutp sends packets of
 * about 1,400 bytes on its own; it cannot be told another size.
 */

import { transfer } from './transfer.ts'
import type { TransferOutcome } from './transfer.ts'
import type { BenchOptions } from '../lib/options.ts'

const MiB = 1024 * 1024

export async function libutpRaw (options: BenchOptions): Promise<TransferOutcome> {
  const { udpBuffer: bufferSize, transferBytes: total } = options
  return transfer({
    key: 'libutp-raw',
    label: `libutp raw (${total / MiB} MiB)`,
    receiver: { script: 'libutp-receiver', args: { bufferSize } },
    sender: (ready) => ({ script: 'libutp-sender', args: { port: ready.port, total, bufferSize } }),
    note: () => `UDP buffers ${bufferSize / MiB} MiB, 1,400 B datagrams (libutp's IPv4 default, not settable)`
  }, options)
}
