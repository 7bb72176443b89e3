/**
 * What one run of the suite measures and how much: `--quick` for a smoke check, `--only=a,b` to
 * run some rows (by the names in run.ts), `--cpu-prof` to profile every worker.
 */

const MiB = 1024 * 1024

export interface BenchOptions {
  quick: boolean
  /** runs of each throughput row (median, min and max are over these) */
  runs: number
  /** bytes moved one way by each transfer row */
  transferBytes: number
  /**
   * bytes each transfer row moves first, untimed, over a connection of its own (libp2p rows: a
   * stream of its own on the same connection): enough for V8 to optimise the JavaScript on both
   * ends, so that the row measures a long-lived process rather than a fresh one (the warm-up's
   * own MB/s is noted)
   */
  transferWarmupBytes: number
  /** UDP datagram size of udp-limit, and the packet size our engine is given */
  packetSize: number
  /** kernel UDP socket buffers asked for by udp-limit and libutp raw */
  udpBuffer: number
  /** how long the udp-limit sender sends */
  udpDurationMs: number
  /** timed dials per transport in the connect row */
  connectDials: number
  /** dials before those, untimed, for the same reason as `rttWarmup` (their median is noted) */
  connectWarmup: number
  /** timed ping-pongs per transport in the rtt row */
  rttPings: number
  /**
   * ping-pongs before those, untimed: enough for V8 to finish optimising both paths, so that the
   * row measures a long-lived connection rather than a fresh process (their median is noted)
   */
  rttWarmup: number
  /** idle connections of the many row */
  manyIdle: number
  /** of those, how many then move 64 KiB each */
  manyMoving: number
  /** client processes that open the many row's connections */
  manyClients: number
  /** deadline for each measured run of a row */
  runTimeoutMs: number
  /** rows to run; all when empty */
  only: string[]
  /**
   * every Node worker writes a V8 CPU profile, summarized at the end (this slows the rows down a
   * little: read their shares, not their speeds)
   */
  cpuProf: boolean
}

export function parseOptions (argv: string[]): BenchOptions {
  const quick = argv.includes('--quick')
  const only = argv.find(a => a.startsWith('--only='))?.slice('--only='.length).split(',').filter(s => s !== '') ?? []
  return {
    quick,
    runs: quick ? 1 : 3,
    transferBytes: (quick ? 32 : 256) * MiB,
    transferWarmupBytes: (quick ? 8 : 64) * MiB,
    packetSize: 1452,
    udpBuffer: 4 * MiB,
    udpDurationMs: quick ? 2_000 : 3_000,
    connectDials: quick ? 10 : 50,
    connectWarmup: quick ? 10 : 100,
    rttPings: quick ? 200 : 2_000,
    rttWarmup: quick ? 200 : 2_000,
    manyIdle: quick ? 1_000 : 10_000,
    manyMoving: quick ? 100 : 1_000,
    manyClients: quick ? 2 : 4,
    runTimeoutMs: quick ? 30_000 : 180_000,
    only,
    cpuProf: argv.includes('--cpu-prof')
  }
}
