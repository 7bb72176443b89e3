/**
 * One run on a fresh topology: the probe measures the idle round trip alone, then the flows start
 * on schedule (each one sender in A, one receiver in B), the link's impairments change on
 * schedule, and everything the workers and the emulator saw is collected. A flow that has not
 * ended by the deadline is reported with what its receiver had (`ended: false`), not as a failure.
 * Every process and namespace is gone when this returns or throws.
 */

import { wallClockMs } from '../../lib/clock.ts'
import { Worker, stopAll } from '../../lib/worker.ts'
import { ADDRESS_A, ADDRESS_B, Topology } from './topology.ts'
import type { Direction, Impairment } from './emulator.ts'
import type { ReceivedFlow, SentFlow } from './flow.ts'
import type { Stack } from './stacks.ts'
import type { LinkConfig } from './topology.ts'

const WORKERS = new URL('../workers/', import.meta.url)
const SETUP_TIMEOUT_MS = 15_000
const PROBE_INTERVAL_MS = 25
const IDLE_SAMPLES = 40
const UDP_BUFFER = 4 * 1024 * 1024

export interface FlowPlan {
  stack: Stack
  /** after the first flow's start */
  startMs: number
  durationMs: number
  /** our uTP's LEDBAT target */
  targetDelayMs?: number
}

export interface PlannedChange {
  atMs: number
  direction: Direction
  impairment: Partial<Impairment>
}

export interface ExperimentPlan {
  link: LinkConfig
  flows: FlowPlan[]
  changes: PlannedChange[]
  /** how long after the last flow's planned end its results may still take */
  graceMs: number
}

export interface FlowOutcome {
  plan: FlowPlan
  /** wall clock of the sender's first write */
  startMs: number
  /** undefined when the sender had not finished by the deadline */
  sent?: SentFlow & { stats?: Record<string, number> }
  received: ReceivedFlow
}

export interface ExperimentOutcome {
  /** wall clock when the first flow was told to start */
  t0Ms: number
  idleRttMs: number
  /** [wall clock sent, round trip] of every answered probe */
  probes: Array<[number, number]>
  probesSent: number
  flows: FlowOutcome[]
  emulator: Record<string, unknown>
  realtime: boolean
}

interface Running {
  plan: FlowPlan
  sender: Worker
  receiver: Worker
}

export async function runExperiment (plan: ExperimentPlan): Promise<ExperimentOutcome> {
  const topology = await Topology.create(plan.link)
  const workers: Worker[] = []
  const timers: Array<ReturnType<typeof setTimeout>> = []
  const spawn = (script: string, netns: string, args: object): Worker => {
    const worker = new Worker(script, args, { dir: WORKERS, netns })
    workers.push(worker)
    return worker
  }
  try {
    const echo = spawn('echo', topology.hostB, { host: ADDRESS_B })
    const stackOptions = (flow: FlowPlan): object => ({ stack: flow.stack, targetDelayMs: flow.targetDelayMs, udpBufferSize: UDP_BUFFER })
    const senders = plan.flows.map(flow => spawn('sender', topology.hostA, { ...stackOptions(flow), host: ADDRESS_A, durationMs: flow.durationMs }))
    const echoReady = await echo.next('ready', SETUP_TIMEOUT_MS)
    const probe = spawn('probe', topology.hostA, {
      host: ADDRESS_B, port: echoReady.port, intervalMs: PROBE_INTERVAL_MS, idleSamples: IDLE_SAMPLES
    })
    const running: Running[] = await Promise.all(plan.flows.map(async (flow, i) => {
      const ready = await senders[i].next('ready', SETUP_TIMEOUT_MS)
      const receiver = spawn('receiver', topology.hostB, { ...stackOptions(flow), host: ADDRESS_A, port: ready.port })
      await Promise.all([receiver.next('connected', SETUP_TIMEOUT_MS), senders[i].next('connected', SETUP_TIMEOUT_MS)])
      return { plan: flow, sender: senders[i], receiver }
    }))
    // the idle round trip is measured only once every flow is connected and quiet
    const idle = await probe.next('idle', SETUP_TIMEOUT_MS)

    const t0Ms = wallClockMs()
    const failures: Error[] = []
    const at = (ms: number, action: () => void | Promise<void>): void => {
      timers.push(setTimeout(() => { Promise.resolve(action()).catch((err: Error) => { failures.push(err) }) }, ms))
    }
    for (const { plan: flow, sender } of running) {
      at(flow.startMs, () => { sender.send({ type: 'start' }) })
    }
    for (const change of plan.changes) {
      at(change.atMs, async () => { await topology.impair(change.direction, change.impairment) })
    }
    const deadline = t0Ms + Math.max(...plan.flows.map(f => f.startMs + f.durationMs)) + plan.graceMs
    const flows: FlowOutcome[] = []
    for (const flow of running) {
      flows.push(await collectFlow(flow, deadline))
    }
    if (failures.length > 0) {
      throw failures[0]
    }
    probe.send({ type: 'collect' })
    const probes = await probe.next('samples', SETUP_TIMEOUT_MS)
    return {
      t0Ms,
      idleRttMs: Number(idle.rttMs),
      probes: probes.samples as Array<[number, number]>,
      probesSent: Number(probes.sent),
      flows,
      emulator: await topology.emulatorStats(),
      realtime: topology.realtime
    }
  } finally {
    timers.forEach(clearTimeout)
    await stopAll(workers)
    await topology.destroy()
  }
}

async function collectFlow ({ plan, sender, receiver }: Running, deadline: number): Promise<FlowOutcome> {
  const remaining = (): number => Math.max(1, deadline - wallClockMs())
  const started = await sender.next('started', remaining())
  let received: ReceivedFlow
  try {
    received = await receiver.next('result', remaining()) as unknown as ReceivedFlow
  } catch {
    receiver.send({ type: 'snapshot' })
    received = await receiver.next('result', SETUP_TIMEOUT_MS) as unknown as ReceivedFlow
  }
  // the sender finishes once the receiver's last ACK is in: a round trip after the end
  const sent = received.ended ? await sender.next('done', SETUP_TIMEOUT_MS).catch(() => undefined) : undefined
  return {
    plan,
    startMs: Number(started.startMs),
    sent: sent as FlowOutcome['sent'],
    received
  }
}
