/**
 * Errors the engine produces. The engine never throws on input from the network: malformed
 * packets come back as an {@link InvalidPacketError} value and are dropped by the caller.
 */

/** A datagram that is not a valid BEP 29 version 1 packet */
export class InvalidPacketError extends Error {
  static override name = 'InvalidPacketError'

  constructor (message = 'invalid uTP packet') {
    super(message)
    this.name = 'InvalidPacketError'
  }
}

/** A configuration value out of its documented bounds */
export class InvalidConfigError extends Error {
  static override name = 'InvalidConfigError'

  constructor (message = 'invalid uTP configuration') {
    super(message)
    this.name = 'InvalidConfigError'
  }
}

/** An operation that the connection's state does not allow (for example `write()` after `end()`) */
export class ConnectionStateError extends Error {
  static override name = 'ConnectionStateError'

  constructor (message = 'operation not allowed in this connection state') {
    super(message)
    this.name = 'ConnectionStateError'
  }
}
