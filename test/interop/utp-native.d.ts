/**
 * Types for utp-native 2.x (libutp's Node binding), which ships none. Only what the interop tests
 * use, checked against its index.js and lib/connection.js.
 */

declare module 'utp-native' {
  import type { EventEmitter } from 'node:events'
  import type { Duplex } from 'node:stream'

  /** Creates a UDP socket that can both dial and accept uTP connections */
  function utp (options?: utp.UtpNativeOptions): utp.UtpNative

  namespace utp {
    interface UtpNativeOptions {
      /** keep a connection writable after the peer ended (default true) */
      allowHalfOpen?: boolean
    }

    interface UtpNativeAddress {
      address: string
      family: string
      port: number
    }

    /** One uTP connection; a readable-stream v3 Duplex */
    interface UtpNativeConnection extends Duplex {
      readonly remoteAddress: string
      readonly remotePort: number
      address(): UtpNativeAddress | null
      /** emits 'timeout' when nothing arrived for `ms` */
      setTimeout(ms: number, ontimeout?: () => void): void
      setContentSize(size: number): void
      setPacketSize(size: number): void
    }

    /** A UDP socket carrying uTP connections, and the server of `createServer` */
    interface UtpNative extends EventEmitter {
      readonly connections: UtpNativeConnection[]
      maxConnections: number
      address(): UtpNativeAddress
      bind(port?: number, host?: string, onlistening?: () => void): void
      listen(port?: number, host?: string, onlistening?: () => void): void
      connect(port: number, host?: string): UtpNativeConnection
      send(buf: Uint8Array, offset: number, length: number, port: number, host: string, callback?: (err: Error | null) => void): void
      /** emits 'close' once every connection is closed */
      close(onclose?: () => void): void
      /** the socket must be bound first */
      getRecvBufferSize(): number
      setRecvBufferSize(size: number): number
      getSendBufferSize(): number
      setSendBufferSize(size: number): number
      ref(): void
      unref(): void
    }

    function createServer (onconnection?: (connection: UtpNativeConnection) => void): UtpNative
    function createServer (options: UtpNativeOptions | null, onconnection?: (connection: UtpNativeConnection) => void): UtpNative
    /** Dials from a socket of its own, closed when the connection closes; host defaults to 127.0.0.1 */
    function connect (port: number, host?: string, options?: UtpNativeOptions): UtpNativeConnection
  }

  export = utp
}
