import { defaultLogger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'aegir/chai'
import { UtpSocket } from '../../src/index.ts'
import { UtpListener } from '../../src/transport/listener.ts'
import { SocketPool } from '../../src/transport/socket-pool.ts'
import { within } from '../socket/wait-for.ts'
import { recordingUpgrader } from './recording-upgrader.ts'
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

  it('a second close() during the first waits for the socket to go back too', async () => {
    const log = defaultLogger()
    const pool = new SocketPool({ probeUnreachable: false }, log.forComponent('test:pool'))
    const listener = new UtpListener({ upgrader: {} as unknown as Upgrader, pool, logger: log })
    let closes = 0
    listener.addEventListener('close', () => { closes++ })
    try {
      const listening = listener.listen(multiaddr('/ip4/127.0.0.1/udp/0/utp'))
      const first = listener.close()
      await listener.close()
      // the first close() is done: its socket went back, and it said so
      expect(closes).to.equal(1)
      expect(await pool.forDial('udp4', '127.0.0.1')).to.have.property('listening', false)
      await first
      await listening
    } finally {
      await pool.closeAll()
    }
  })

  it('a listener opened on the socket a closed one left to a dial gets the inbound connections', async () => {
    // the closed listener's 'connection' handler stayed on the socket, ran first, found its
    // listener closed and destroyed every connection before the new listener saw it
    const log = defaultLogger()
    const pool = new SocketPool({ probeUnreachable: false }, log.forComponent('test:pool'))
    const { upgrader, upgraded, nextUpgrade } = recordingUpgrader()
    const client = new UtpSocket({ probeUnreachable: false })
    const first = new UtpListener({ upgrader, pool, logger: log })
    const second = new UtpListener({ upgrader, pool, logger: log })
    try {
      await first.listen(multiaddr('/ip4/127.0.0.1/udp/0/utp'))
      const held = await pool.forDial('udp4', '127.0.0.1')
      const port = held.address().port
      await first.close()
      await second.listen(multiaddr(`/ip4/127.0.0.1/udp/${port}/utp`))
      expect(held.listening).to.equal(true)
      const upgradedOnce = nextUpgrade()
      await client.bind(0, '127.0.0.1')
      const conn = await client.connect(port, '127.0.0.1')
      conn.on('error', () => {})
      await within(upgradedOnce, 5_000, 'the connection was never upgraded')
      expect(upgraded).to.have.lengthOf(1)
      expect(conn.destroyed).to.equal(false)
    } finally {
      await client.close(0)
      await second.close()
      await pool.closeAll()
    }
  })
})
