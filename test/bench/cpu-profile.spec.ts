/**
 * The summary `npm run bench -- --cpu-prof` prints for each worker: self time by category, with
 * idle time and start-up (and whatever start-up calls) set apart from the measured work
 */

import { expect } from 'aegir/chai'
import { summarizeProfile } from '../../benchmarks/lib/cpu-profile.ts'

const SRC = 'file:///repo/src/engine/endpoint.ts'
const WORKER = 'file:///repo/benchmarks/workers/utp-receiver.ts'

function frame (id: number, functionName: string, url: string, children: number[] = []): { id: number, callFrame: { functionName: string, url: string }, children: number[] } {
  return { id, callFrame: { functionName, url }, children }
}

/** one sample per entry of `selfUs`, of that many microseconds */
function profileOf (nodes: ReturnType<typeof frame>[], selfUs: Array<[number, number]>): { nodes: typeof nodes, samples: number[], timeDeltas: number[] } {
  return { nodes, samples: selfUs.map(([id]) => id), timeDeltas: selfUs.map(([, us]) => us) }
}

describe('benchmark CPU profile summary', () => {
  const nodes = [
    frame(1, '(root)', '', [2, 3, 4, 5, 6, 12]),
    frame(2, '(idle)', ''),
    frame(3, '(garbage collector)', ''),
    frame(4, '(program)', ''),
    frame(5, 'onMessage', 'node:dgram', [7, 8]),
    frame(6, 'run', 'node:internal/modules/esm/module_job', [9]),
    frame(7, 'handle', SRC, [10, 11]),
    frame(8, 'doSend', 'node:dgram'),
    frame(9, 'main', WORKER, [13]),
    frame(10, 'update', 'node:internal/crypto/cipher'),
    frame(11, 'append', 'file:///repo/node_modules/uint8arraylist/dist/src/index.js'),
    frame(12, 'writeBuffer', ''),
    frame(13, 'wasm-function[1]', 'wasm://wasm/00ad0bc6')
  ]
  const summary = summarizeProfile(profileOf(nodes, [
    [2, 5_000], [3, 2_000], [4, 1_000], [5, 500], [7, 3_000], [8, 1_500],
    [9, 4_000], [13, 6_000], [10, 2_500], [11, 700], [12, 800], [7, 1_000]
  ]))

  it('names the worker by the bench script the profile ran', () => {
    expect(summary.worker).to.equal('utp-receiver')
  })

  it('files self time by category', () => {
    expect(summary.ms.idle).to.equal(5)
    expect(summary.ms.gc).to.equal(2)
    expect(summary.ms.native).to.equal(1)
    expect(summary.ms['udp receive']).to.equal(0.5)
    expect(summary.ms['udp send']).to.equal(1.5)
    expect(summary.ms.ours).to.equal(4)
    expect(summary.ms['node crypto']).to.equal(2.5)
    expect(summary.ms['libp2p and deps']).to.equal(0.7)
    expect(summary.ms['tcp send']).to.equal(0.8)
  })

  it('counts start-up, and what it calls, apart from the measured work', () => {
    // the worker's top-level code and the WebAssembly it calls run under module loading
    expect(summary.ms.startup).to.equal(10)
    expect(summary.ms.bench).to.equal(0)
    expect(summary.ms.wasm).to.equal(0)
    expect(summary.busyMs).to.be.closeTo(2 + 1 + 0.5 + 1.5 + 4 + 2.5 + 0.7 + 0.8, 1e-9)
  })

  it('lists the busiest functions first, samples of one function added up', () => {
    expect(summary.top[0]).to.deep.equal(['handle (endpoint.ts)', 4])
    expect(summary.top[1]).to.deep.equal(['update (cipher)', 2.5])
    expect(summary.top.map(([name]) => name)).to.not.include('(idle) (native)')
  })
})
