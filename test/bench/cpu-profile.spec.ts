/**
 * The summary `npm run bench -- --cpu-prof` prints for each worker: self time by category, with
 * idle time and start-up (and whatever start-up calls) set apart from the measured work
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'aegir/chai'
import { summarizeProfile, summarizeProfiles } from '../../benchmarks/lib/cpu-profile.ts'

const ROOT = 'file:///repo/'
const SRC = `${ROOT}src/engine/endpoint.ts`
const WORKER = `${ROOT}benchmarks/workers/utp-receiver.ts`
const PACKAGE = `${ROOT}node_modules/uint8arraylist/dist/src/index.js`

function frame (id: number, functionName: string, url: string, children: number[] = []): { id: number, callFrame: { functionName: string, url: string }, children: number[] } {
  return { id, callFrame: { functionName, url }, children }
}

/** one sample per entry of `selfUs`, of that many microseconds */
function profileOf (nodes: ReturnType<typeof frame>[], selfUs: Array<[number, number]>): { nodes: typeof nodes, samples: number[], timeDeltas: number[] } {
  return { nodes, samples: selfUs.map(([id]) => id), timeDeltas: selfUs.map(([, us]) => us) }
}

describe('benchmark CPU profile summary', () => {
  const nodes = [
    frame(1, '(root)', '', [2, 3, 4, 5, 6, 12, 14]),
    frame(2, '(idle)', ''),
    frame(3, '(garbage collector)', ''),
    frame(4, '(program)', ''),
    frame(5, 'onMessage', 'node:dgram', [7, 8]),
    frame(6, 'run', 'node:internal/modules/esm/module_job', [9]),
    frame(7, 'handle', SRC, [10, 11, 15, 16]),
    frame(8, 'doSend', 'node:dgram', [18]),
    frame(9, 'main', WORKER, [13]),
    frame(10, 'update', 'node:internal/crypto/cipher'),
    frame(11, 'append', PACKAGE, [17]),
    frame(12, 'writeBuffer', ''),
    frame(13, 'wasm-function[1]', 'wasm://wasm/00ad0bc6'),
    frame(14, 'processImmediate', 'node:internal/timers'),
    frame(15, 'now', ''),
    frame(16, 'Writable.write', 'node:internal/streams/writable'),
    frame(17, 'subarray', 'node:buffer'),
    frame(18, 'send', '')
  ]
  const summary = summarizeProfile(profileOf(nodes, [
    [2, 5_000], [3, 2_000], [4, 1_000], [5, 500], [7, 3_000], [8, 1_500],
    [9, 4_000], [13, 6_000], [10, 2_500], [11, 700], [12, 800], [7, 1_000],
    [14, 300], [15, 200], [16, 400], [17, 600], [18, 900]
  ]), 12, ROOT)

  it('names the worker by the bench script the profile ran', () => {
    expect(summary.worker).to.equal('utp-receiver')
  })

  it('files self time by category', () => {
    expect(summary.ms.idle).to.equal(5)
    expect(summary.ms.gc).to.equal(2)
    expect(summary.ms.native).to.equal(1)
    expect(summary.ms['udp receive']).to.equal(0.5)
    expect(summary.ms['node crypto']).to.equal(2.5)
    expect(summary.ms['tcp send']).to.equal(0.8)
  })

  it('counts the rest of Node and native functions for the nearest caller with a category of its own', () => {
    // handle's own 4 ms, and the clock and the stream write it calls
    expect(summary.ms.ours).to.be.closeTo(4 + 0.2 + 0.4, 1e-9)
    // append's own, and the subarray it calls
    expect(summary.ms['libp2p and deps']).to.be.closeTo(0.7 + 0.6, 1e-9)
    // doSend's own, and the native send it calls
    expect(summary.ms['udp send']).to.be.closeTo(1.5 + 0.9, 1e-9)
    // the event loop's own work, which no package called
    expect(summary.ms['node other']).to.be.closeTo(0.3, 1e-9)
    expect(summary.ms.native).to.equal(1)
  })

  it('counts start-up, and what it calls, apart from the measured work', () => {
    // the worker's top-level code and the WebAssembly it calls run under module loading
    expect(summary.ms.startup).to.equal(10)
    expect(summary.ms.bench).to.equal(0)
    expect(summary.ms.wasm).to.equal(0)
    expect(summary.busyMs).to.be.closeTo(2 + 1 + 0.5 + 1.5 + 4 + 2.5 + 0.7 + 0.8 + 0.3 + 0.2 + 0.4 + 0.6 + 0.9, 1e-9)
  })

  it('lists the busiest functions first, samples of one function added up', () => {
    expect(summary.top[0]).to.deep.equal(['handle (endpoint.ts)', 4])
    expect(summary.top[1]).to.deep.equal(['update (cipher)', 2.5])
    expect(summary.top.map(([name]) => name)).to.not.include('(idle) (native)')
  })

  it('gives each sample the time since the one before', () => {
    // V8 samples in a signal handler, which a thread in a system call runs when the call returns
    const s = summarizeProfile(profileOf([frame(1, '(root)', '', [2, 3]), frame(2, 'doSend', 'node:dgram'), frame(3, '(program)', '')], [[3, 100], [2, 900], [3, 100]]), 12, ROOT)
    expect(s.ms['udp send']).to.equal(0.9)
    expect(s.ms.native).to.equal(0.2)
  })
})

describe('benchmark CPU profiles of a run', () => {
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-profiles-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reads one directory per worker, in order, and leaves out a profile it cannot read', async () => {
    const profile = profileOf([frame(1, '(root)', '', [2]), frame(2, 'main', WORKER)], [[2, 1_000]])
    await mkdir(join(dir, '002-utp-raw-utp-sender'))
    await writeFile(join(dir, '002-utp-raw-utp-sender', 'CPU.1.cpuprofile'), '{"nodes": [')
    await mkdir(join(dir, '001-utp-raw-utp-receiver'))
    await writeFile(join(dir, '001-utp-raw-utp-receiver', 'CPU.2.cpuprofile'), JSON.stringify(profile))
    const summaries = await summarizeProfiles(dir)
    expect(summaries.map(s => s.dir)).to.deep.equal(['001-utp-raw-utp-receiver'])
    expect(summaries[0].worker).to.equal('utp-receiver')
  })

  it('finds no profiles where no worker wrote one', async () => {
    expect(await summarizeProfiles(join(dir, 'none'))).to.deep.equal([])
  })
})
