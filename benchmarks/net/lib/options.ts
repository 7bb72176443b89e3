/**
 * What one run of the network bench covers: `--quick` shortens every phase, `--only=a,b` picks
 * scenarios (by name or by the issue's number: 1 is alone and target60), `--stacks=utp,tcp` picks
 * stacks.
 */

import { STACKS } from './stacks.ts'
import type { Scenario } from './scenarios.ts'
import type { Stack } from './stacks.ts'

export interface NetOptions {
  quick: boolean
  scenarios: string[]
  stacks: Stack[]
}

function list (argv: string[], flag: string): string[] | undefined {
  return argv.find(a => a.startsWith(`${flag}=`))?.slice(flag.length + 1).split(',').filter(s => s !== '')
}

/** Throws on a scenario or stack it does not know */
export function parseNetOptions (argv: string[], scenarios: readonly Scenario[]): NetOptions {
  const only = list(argv, '--only')
  const selected = only == null
    ? scenarios
    : scenarios.filter(s => only.includes(s.name) || only.includes(String(s.group)))
  const unknownScenarios = (only ?? []).filter(o => !scenarios.some(s => s.name === o || String(s.group) === o))
  if (unknownScenarios.length > 0) {
    throw new Error(`unknown scenarios: ${unknownScenarios.join(', ')}; scenarios are ${scenarios.map(s => `${s.name} (${s.group})`).join(', ')}`)
  }
  const stacks = list(argv, '--stacks') ?? [...STACKS]
  const unknownStacks = stacks.filter(s => !(STACKS as readonly string[]).includes(s))
  if (unknownStacks.length > 0) {
    throw new Error(`unknown stacks: ${unknownStacks.join(', ')}; stacks are ${STACKS.join(', ')}`)
  }
  return { quick: argv.includes('--quick'), scenarios: selected.map(s => s.name), stacks: stacks as Stack[] }
}
