/**
 * libp2p's DCUtR service, unchanged, with its two entry points wrapped so the bench hears when an
 * attempt ends: B (the inbound side of the relayed connection) runs `upgradeInbound`, A answers in
 * `handleIncomingUpgrade`. DCUtR emits no event of its own, and without one a test could only
 * wait an arbitrary time to see that it gave up.
 */

import { dcutr } from '@libp2p/dcutr'
import type { DCUtRServiceComponents, DCUtRServiceInit } from '@libp2p/dcutr'
import type { Connection, Stream } from '@libp2p/interface'

export interface DcutrOutcome {
  side: 'A' | 'B'
  peer: string
  /** a connection to the peer that is not limited (not relayed) exists once the attempt ended */
  direct: boolean
  error?: string
}

interface DcutrInternals {
  upgradeInbound(relayed: Connection): Promise<void>
  handleIncomingUpgrade(stream: Stream, relayed: Connection): Promise<void>
}

export function dcutrWithOutcome (init: DCUtRServiceInit, onOutcome: (outcome: DcutrOutcome) => void): (components: DCUtRServiceComponents) => unknown {
  const factory = dcutr(init)
  return (components) => {
    const service = factory(components) as DcutrInternals
    const outcome = (side: 'A' | 'B', relayed: Connection, err?: any): void => {
      const direct = components.connectionManager.getConnections(relayed.remotePeer).some(c => c.limits == null)
      onOutcome({ side, peer: relayed.remotePeer.toString(), direct, error: err == null ? undefined : String(err.message ?? err) })
    }
    const upgradeInbound = service.upgradeInbound.bind(service)
    service.upgradeInbound = async (relayed) => {
      try {
        await upgradeInbound(relayed)
      } catch (err) {
        outcome('B', relayed, err)
        throw err
      }
      outcome('B', relayed)
    }
    // bound in DCUtR's constructor, registered as the protocol handler in its start()
    const handleIncomingUpgrade = service.handleIncomingUpgrade
    service.handleIncomingUpgrade = async (stream, relayed) => {
      try {
        await handleIncomingUpgrade(stream, relayed)
      } catch (err) {
        outcome('A', relayed, err)
        throw err
      }
      outcome('A', relayed)
    }
    return service
  }
}
