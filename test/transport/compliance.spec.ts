/**
 * The `@libp2p/interface-compliance-tests` transport suite against the uTP transport: two full
 * libp2p nodes over loopback UDP, with Noise and Yamux on top, the listener bound to two ports.
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import tests from '@libp2p/interface-compliance-tests/transport'
import { UTP, utp } from '../../src/index.ts'

describe('interface-transport compliance (uTP)', () => {
  tests({
    async setup () {
      const dialer = {
        transports: [utp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionMonitor: {
          enabled: false
        }
      }

      return {
        dialer,
        listener: {
          ...dialer,
          addresses: {
            listen: [
              '/ip4/127.0.0.1/udp/0/utp',
              '/ip4/127.0.0.1/udp/0/utp'
            ]
          }
        },
        dialMultiaddrMatcher: UTP,
        listenMultiaddrMatcher: UTP
      }
    },
    async teardown () {}
  })
})
