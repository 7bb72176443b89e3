import { expect } from 'aegir/chai'
import { pEvent } from 'p-event'
import { libp2pConnection, listeningPair } from '../socket/pair.ts'
import { waitFor, within } from '../socket/wait-for.ts'
import type { UtpConnection } from '../../src/index.ts'

describe('libp2p connection: closing', function () {
  this.timeout(30_000)

  it('ends our side when the peer ends its own, even with connection.allowHalfOpen set', async () => {
    // libp2p takes the peer's FIN for the end of the connection and never closes it itself
    const { a, b } = await listeningPair({ connection: { allowHalfOpen: true } })
    try {
      const accepted = pEvent<'connection', UtpConnection>(b, 'connection')
      const x = await a.connect(b.address().port, '127.0.0.1')
      const y = await accepted
      const maConn = libp2pConnection(x, 'outbound')
      maConn.addEventListener('message', () => {})
      y.on('error', () => {})
      y.resume()
      const closed = new Promise<void>((resolve) => { x.once('close', () => { resolve() }) })
      y.end()
      await within(closed, 5_000, 'our side never closed after the peer ended its own')
      expect(maConn.status).to.equal('closed')
      expect(x.writableEnded).to.equal(true)
      expect(await waitFor(() => a.connectionCount === 0 && b.connectionCount === 0, 5_000, 20))
        .to.equal(true, `connectionCount a=${a.connectionCount} b=${b.connectionCount}`)
    } finally {
      await a.close(0)
      await b.close(0)
    }
  })
})
