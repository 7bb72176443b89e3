import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { UtpListener } from '../../src/transport/listener.ts'
import { SocketPool } from '../../src/transport/socket-pool.ts'
import type { Upgrader } from '@libp2p/interface'

describe('uTP listener', () => {
  it('close() while listen() binds frees the socket and says \'close\' once', async () => {
    const log = defaultLogger()
    const pool = new SocketPool({ probeUnreachable: false }, log.forComponent('test:pool'))
    const listener = new UtpListener({ upgrader: {} as unknown as Upgrader, pool, logger: log })
    let closes = 0
    let listenings = 0
    listener.addEventListener('close', () => { closes++ })
    listener.addEventListener('listening', () => { listenings++ })
    try {
      const listening = listener.listen(multiaddr('/ip4/127.0.0.1/udp/0/utp'))
      await listener.close()
      await listening
      expect(closes).to.equal(1)
      expect(listenings).to.equal(0)
      expect(listener.getAddrs()).to.deep.equal([])
      // its socket went back to the pool and closed: a dial binds a socket of its own
      const socket = await pool.forDial('udp4', '127.0.0.1')
      expect(socket.listening).to.equal(false)
      await expect(listener.listen(multiaddr('/ip4/127.0.0.1/udp/0/utp'))).to.eventually.be.rejectedWith(/closed/)
    } finally {
      await pool.closeAll()
    }
  })
})
