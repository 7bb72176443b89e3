/**
 * Errors a {@link UtpConnection} or {@link UtpSocket} reports. Each carries a Node-style `code`
 * (the one `net` uses for the same failure) so that code written for TCP sockets keeps working.
 */

/** The peer reset the connection (ST_RESET) */
export class ConnectionResetError extends Error {
  static override name = 'ConnectionResetError'
  readonly code = 'ECONNRESET'

  constructor (message = 'connection reset by the peer') {
    super(message)
    this.name = 'ConnectionResetError'
  }
}

/** The peer answered the SYN with ST_RESET: nobody listens there */
export class ConnectionRefusedError extends Error {
  static override name = 'ConnectionRefusedError'
  readonly code = 'ECONNREFUSED'

  constructor (message = 'connection refused') {
    super(message)
    this.name = 'ConnectionRefusedError'
  }
}

/** The peer stopped answering: connect deadline, retransmissions or idle timeout */
export class ConnectionTimeoutError extends Error {
  static override name = 'ConnectionTimeoutError'
  readonly code = 'ETIMEDOUT'

  constructor (message = 'connection timed out') {
    super(message)
    this.name = 'ConnectionTimeoutError'
  }
}

/** The socket is closed, or not bound yet */
export class SocketStateError extends Error {
  static override name = 'SocketStateError'
  readonly code = 'ERR_SOCKET_DGRAM_NOT_RUNNING'

  constructor (message = 'socket is not running') {
    super(message)
    this.name = 'SocketStateError'
  }
}

/**
 * A dial's SYN could not be sent at all: the kernel refused the datagram (EACCES for a broadcast
 * address, ENETUNREACH, EHOSTUNREACH, EINVAL, EPERM from a firewall...). As with a failed TCP
 * connect, `code` is the kernel's, with the destination in `address` and `port`; `cause` is the
 * error `node:dgram` gave.
 */
export class DialSendError extends Error {
  static override name = 'DialSendError'
  readonly code: string
  readonly address: string
  readonly port: number

  constructor (address: string, port: number, cause: Error & { code?: unknown }) {
    const code = typeof cause.code === 'string' ? cause.code : 'ERR_SOCKET_SEND'
    super(`connection to ${address}:${port} failed: the SYN could not be sent (${code})`, { cause })
    this.name = 'DialSendError'
    this.code = code
    this.address = address
    this.port = port
  }
}
