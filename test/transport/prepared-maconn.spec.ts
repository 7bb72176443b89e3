/**
 * A MultiaddrConnection prepared while its uTP handshake runs: nothing of it touches the uTP
 * connection until it is attached, once, and what it then does is a plain libp2p connection's.
 */

import { expect } from 'aegir/chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { closePair, connectedPair, preparedLibp2pConnection } from '../socket/pair.ts'
import { waitFor } from '../socket/wait-for.ts'
import type { Pair } from '../socket/pair.ts'
import type { MultiaddrConnection } from '@libp2p/interface'

describe('prepared MultiaddrConnection', function () {
  this.timeout(10_000)
  let pair: Pair | undefined

  afterEach(async () => {
    await closePair(pair)
    pair = undefined
  })

  it('leaves the uTP connection alone until attached, then carries its data both ways', async () => {
    pair = await connectedPair()
    const { x, y } = pair
    const listeners = (): number => x.listenerCount('error') + x.listenerCount('close') + x.listenerCount('end')
    const listenersBefore = listeners()
    const prepared = preparedLibp2pConnection(y.remotePort, 'outbound')
    expect(listeners()).to.equal(listenersBefore, 'prepared: no listener on the uTP connection')

    const preparedAt = Date.now()
    // not a synchronisation: a gap for the open time to tell attach from prepare
    await new Promise((resolve) => setTimeout(resolve, 20))
    const listenersAtAttach = listeners()
    const maConn: MultiaddrConnection = prepared.attach(x)
    expect(maConn.timeline.open).to.be.at.least(preparedAt + 15, 'the connection opened at attach, not at prepare')
    expect(listeners()).to.be.greaterThan(listenersAtAttach, 'attached: it listens to the uTP connection now')

    const got: Buffer[] = []
    y.on('data', (chunk: Buffer) => { got.push(chunk) })
    maConn.send(new Uint8ArrayList(Buffer.from('hello')))
    expect(await waitFor(() => Buffer.concat(got).toString() === 'hello', 5_000)).to.equal(true)

    const seen: string[] = []
    maConn.addEventListener('message', (evt) => { seen.push(Buffer.from(evt.data.subarray()).toString()) })
    y.write('world')
    expect(await waitFor(() => seen.join('') === 'world', 5_000)).to.equal(true)
    maConn.abort(new Error('test over'))
  })

  it('attaches once: a second attach throws', async () => {
    pair = await connectedPair()
    const prepared = preparedLibp2pConnection(pair.y.remotePort, 'outbound')
    const maConn = prepared.attach(pair.x)
    expect(() => prepared.attach(pair!.x)).to.throw('already attached')
    maConn.abort(new Error('test over'))
  })
})
