import { defaultLogger } from '@libp2p/logger'
import { expect } from 'aegir/chai'
import { SocketPool } from '../../src/transport/socket-pool.ts'

describe('socket pool', () => {
  it('does not send a dial to a public address from a loopback socket whose listener closed', async () => {
    const pool = new SocketPool({ probeUnreachable: false }, defaultLogger().forComponent('test:pool'))
    try {
      const listening = await pool.listen('udp4', '127.0.0.1', 0)
      // an outbound connection still holds the listener's socket after the listener lets it go
      const held = await pool.forDial('udp4', '127.0.0.1')
      expect(held).to.equal(listening)
      await pool.unlisten(listening)
      // from 127.0.0.1 nothing reaches a public address (the kernel refuses the SYN with EINVAL)
      const socket = await pool.forDial('udp4', '192.0.2.1')
      expect(socket).to.not.equal(listening)
      expect(socket.address().address).to.equal('0.0.0.0')
    } finally {
      await pool.closeAll()
    }
  })
})
