/**
 * A reduced run of the real-kernel network bench (benchmarks/net/): our uTP on two Linux network
 * namespaces joined through a router namespace with a tbf bottleneck and the userspace link
 * emulator, about 15 s per test. Loose bounds: the bench itself holds the targets.
 * Skipped, with the reason printed, where the machine cannot build the topology (not root, no
 * network namespaces, no TUN devices, no tbf, missing tools).
 */

import { expect } from 'aegir/chai'
import { deleteAll } from '../../benchmarks/net/lib/cleanup.ts'
import { unavailableReason } from '../../benchmarks/net/lib/environment.ts'
import { netTable } from '../../benchmarks/net/lib/report.ts'
import { runScenario } from '../../benchmarks/net/lib/run-scenario.ts'
import { SCENARIOS } from '../../benchmarks/net/lib/scenarios.ts'
import type { NetRow } from '../../benchmarks/net/lib/row.ts'

function report (line: string): void {
  process.stdout.write(`      ${line.replaceAll('\n', '\n      ')}\n`)
}

async function run (name: string): Promise<NetRow> {
  const scenario = SCENARIOS.find(s => s.name === name)
  if (scenario == null) {
    throw new Error(`no scenario ${name}`)
  }
  const { row } = await runScenario(scenario, 'utp', true)
  report(netTable([row]))
  expect(row.failure, row.failure).to.be.undefined()
  return row
}

describe('real kernel network: namespaces, tbf bottleneck, link emulator', function () {
  // a 12 s flow plus set-up; a stalled flow is given up on by the bench itself well before this
  this.timeout(150_000)

  before(async function () {
    const reason = await unavailableReason({ install: false })
    if (reason != null) {
      report(`skipped: ${reason}`)
      this.skip()
    }
  })

  after(() => {
    deleteAll()
  })

  it('fills a 10 Mbit/s link with a 500 ms queue alone, holding the queue near the target delay', async () => {
    const row = await run('alone')
    expect(row.integrity).to.equal('byte-exact')
    expect(row.goodputPct).to.be.at.least(80)
    expect(row.delay?.p95).to.be.at.most(150)
  })

  it('moves data byte-exact through 5 % reordering and 1 % duplication at 50 Mbit/s', async () => {
    const row = await run('reorder')
    expect(row.integrity).to.equal('byte-exact')
    expect(row.goodputPct).to.be.at.least(50)
  })
})
