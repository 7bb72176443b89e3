/**
 * A receive window smaller than two packets. The receiver acknowledges every second packet at once
 * and holds a lone one for the delayed ACK (5 ms); a sender whose packets are as large as the
 * peer's whole window (path MTU probing raises them to 64 KiB over loopback, against a 4 KiB
 * `recvBufferSize`) has one packet in flight per window, so every window waited out the delayed
 * ACK. New packets take at most half the largest window the peer advertised (as Linux bounds its
 * MSS), so a window holds two of them and the ACK clock keeps running.
 *
 * Two endpoints on a simulated loopback-like wire (RTT 100 µs) with path MTU probing up to
 * 65,507 bytes; time is explicit, nothing sleeps.
 */

import { expect } from 'aegir/chai'
import { resolveConnectionConfig } from '../../src/engine/config.ts'
import { maxPayloadFor } from '../../src/engine/connection.ts'
import { InvalidPacketError } from '../../src/engine/errors.ts'
import { decodePacket, PacketType } from '../../src/engine/packet.ts'
import { EndpointPair, streamBytes } from './helpers.ts'
import type { EndpointConnection } from '../../src/engine/endpoint.ts'

const LOOPBACK_CAP = 65_507
/** probes that can pass before the packet size outgrows half a 4 KiB window */
const PROBES_BEFORE_CUT = 2
const LATENCY = 50
const RTT = 2 * LATENCY
const DELAYED_ACK = resolveConnectionConfig().delayedAck

interface Run {
  /** simulated time from the dial until the receiver had every byte and the sender's FIN, µs */
  elapsed: number
  /** payload sizes of the sender's data packets, in sending order */
  payloads: number[]
  /** the sender's packet size (what path MTU probing proved) at the end */
  packetSize: number
  /** path MTU probes the sender sent */
  mtuProbes: number
}

/** `size` bytes from a to b, both with `recvBufferSize`, path MTU probing up to the loopback cap */
function transfer (recvBufferSize: number | undefined, size: number, seed: number): Run {
  const pair = new EndpointPair({
    seed,
    latency: LATENCY,
    endpoint: { config: recvBufferSize == null ? {} : { recvBufferSize }, pathMtuCap: () => LOOPBACK_CAP }
  })
  const payloads: number[] = []
  pair.onDeliver = (d) => {
    const p = decodePacket(d.bytes)
    if (p instanceof InvalidPacketError) {
      throw new Error(`invalid datagram on the wire: ${p.message}`)
    }
    if (d.to === 'b' && p.type === PacketType.Data) {
      payloads.push(p.payload.byteLength)
    }
  }
  const start = pair.now
  const { a, b } = pair.dial(streamBytes(seed, size), new Uint8Array(0))
  expect(pair.runUntil(() => b.complete)).to.equal(true, `seed ${seed}: the transfer did not complete`)
  const elapsed = pair.now - start
  expect(pair.runUntil(() => a.complete && a.closed != null)).to.equal(true, `seed ${seed}: the connection did not close`)
  const connection = (a.entry as EndpointConnection).connection
  return { elapsed, payloads, packetSize: connection.packetSize, mtuProbes: connection.stats.mtuProbes }
}

describe('receive windows smaller than two packets', () => {
  it('a 4 KiB window after probing to 64 KiB: two packets per window, and no window waits for the delayed ACK', () => {
    const size = 256 * 1024
    const window = 4096
    const run = transfer(window, size, 1)
    // one RTT per window, plus the handshake and the close, where waiting out the delayed ACK
    // costs 50 RTTs per window (about 0.3 s for these 64 windows before the bound)
    const windows = size / window
    expect(run.elapsed).to.be.below(windows * RTT + 10 * RTT)
    expect(run.elapsed).to.be.below(DELAYED_ACK * 2)
    expect(Math.max(...run.payloads)).to.equal(window / 2)
    // probing stops once the window cuts packets below the proven size: larger probes could never
    // be filled (climbing to 64 KiB took 6 probes, 155,531 bytes, 59 % of this transfer)
    expect(run.packetSize).to.be.below(LOOPBACK_CAP)
    expect(run.mtuProbes).to.be.at.most(PROBES_BEFORE_CUT, `${run.mtuProbes} probes`)
  })

  it('a window smaller than two probed packets (100,000 bytes) cuts them to half of it', () => {
    const size = 4 * 1024 * 1024
    const window = 100_000
    const run = transfer(window, size, 2)
    // two packets a round trip: 42 windows of an RTT each, not one 64 KiB packet per delayed ACK
    expect(run.elapsed).to.be.below(Math.ceil(size / window) * RTT + 10 * RTT)
    expect(run.packetSize).to.equal(LOOPBACK_CAP)
    expect(Math.max(...run.payloads)).to.equal(window / 2)
  })

  it('leaves large windows alone: with the default 4 MiB receive buffer, packets fill the probed size', () => {
    const run = transfer(undefined, 4 * 1024 * 1024, 3)
    expect(run.packetSize).to.equal(LOOPBACK_CAP)
    expect(Math.max(...run.payloads)).to.equal(maxPayloadFor(LOOPBACK_CAP))
  })
})
