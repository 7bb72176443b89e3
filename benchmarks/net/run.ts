/**
 * `npm run bench:net [-- --quick] [-- --only=alone,4] [-- --stacks=utp,tcp]`: every scenario of the
 * real-kernel network bench (namespaces, a tbf bottleneck, the userspace link emulator) with our
 * uTP, libutp and TCP, one fresh topology per run. Prints the table with the targets and writes
 * benchmarks/results/net-<timestamp>.json. Needs root; installs missing tools with apt-get. See
 * benchmarks/README.md.
 */

import { describeMachine, machineInfo } from '../lib/machine.ts'
import { writeResultsFile } from '../lib/results.ts'
import { unavailableReason } from './lib/environment.ts'
import { parseNetOptions } from './lib/options.ts'
import { netTable, scenarioLegend, status } from './lib/report.ts'
import { runScenario } from './lib/run-scenario.ts'
import { SCENARIOS } from './lib/scenarios.ts'
import type { NetOptions } from './lib/options.ts'
import type { ScenarioResult } from './lib/run-scenario.ts'

let options: NetOptions
try {
  options = parseNetOptions(process.argv.slice(2), SCENARIOS)
} catch (err: any) {
  process.stderr.write(`${String(err?.message ?? err)}\n`)
  process.exit(2)
}

const started = performance.now()
const date = new Date().toISOString()
const machine = machineInfo()

function progress (message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(0).padStart(4)
  process.stderr.write(`[${seconds} s] ${message}\n`)
}

process.stderr.write(`libp2p-utp network bench${options.quick ? ' (quick)' : ''} on ${describeMachine(machine)}\n`)
const reason = await unavailableReason({ install: true })
if (reason != null) {
  process.stderr.write(`cannot run: ${reason}\n`)
  process.exit(1)
}

const scenarios = SCENARIOS.filter(s => options.scenarios.includes(s.name))
const results: ScenarioResult[] = []
for (const scenario of scenarios) {
  for (const stack of scenario.stacks.filter(s => options.stacks.includes(s))) {
    progress(`${scenario.name} with ${stack}...`)
    const result = await runScenario(scenario, stack, options.quick)
    results.push(result)
    progress(`${scenario.name} with ${stack}: ${status(result.row)} (${result.seconds.toFixed(0)} s)`)
  }
}

const rows = results.map(r => r.row)
const durationSeconds = (performance.now() - started) / 1000
progress('done')
process.stdout.write(`\n${describeMachine(machine)}; ${options.quick ? 'quick' : 'full'} run; goodput after the first 5 s; delay = probe RTT - idle RTT\n\n`)
process.stdout.write(`${scenarioLegend(scenarios)}\n\n${netTable(rows)}\n\n`)
const path = await writeResultsFile('net-', date, { date, durationSeconds, machine, options, results })
process.stdout.write(`results: ${path} (${durationSeconds.toFixed(0)} s)\n`)
