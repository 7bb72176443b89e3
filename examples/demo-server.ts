/**
 * The listening side of `npm start`: prints its address on stdout, then serves until its parent
 * closes stdin.
 */

import { createNode } from './node.ts'

const node = await createNode(['/ip4/127.0.0.1/udp/0/utp'])
process.stdout.write(`${node.getMultiaddrs()[0].toString()}\n`)
process.stdin.resume()
process.stdin.on('end', () => {
  void node.stop()
})
