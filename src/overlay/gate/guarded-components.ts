/**
 * The components kad-dht (and every extra libp2p service, [OVL-33]) sees: the real libp2p
 * components, except that every way in and out first waits for the certificate gate. This
 * replaces stream middleware (`node.use`), which is broken in libp2p 3.3.11.
 *
 * [OVL-6] Inbound DHT streams from a peer that has not verified are aborted: it can neither
 *         store nor fetch.
 * [OVL-7] Outbound DHT streams open only to verified peers.
 * [OVL-8] The routing table admits a peer only after a ping, and the ping succeeds only for a
 *         verified peer; topology notifications (identify) are held back likewise.
 */
import { isPeerId } from '@libp2p/interface'
import { GatemeshError } from '../../core/index.ts'
import type { CertificateGate } from './certificate-gate.ts'
import type { KadDHTComponents } from '@libp2p/kad-dht'
import type { Connection, PeerId, Stream, StreamHandler, Topology } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { VerifiedPeer } from '../types.ts'
import type { Datastore } from 'interface-datastore'

/**
 * [OVL-6] [OVL-32] A stream handler that sees a stream only once its peer has verified: a stream
 * from a peer that does not verify within the exchange timeout (uncertified, refused, revoked) is
 * aborted with GM_ERR_PEER_NOT_VERIFIED and never reaches `handler`.
 */
export function gateStreamHandler (gate: CertificateGate, handler: (stream: Stream, connection: Connection, peer: VerifiedPeer) => void | Promise<void>): StreamHandler {
  return async (stream, connection) => {
    const peer = await gate.waitVerified(connection.remotePeer)
    if (peer === undefined) {
      stream.abort(new GatemeshError('GM_ERR_PEER_NOT_VERIFIED'))
      return
    }
    await handler(stream, connection, peer)
  }
}

export function guardRegistrar (registrar: Registrar, gate: CertificateGate): Registrar {
  const handle: Registrar['handle'] = async (protocol, handler, options) => {
    await registrar.handle(protocol, gateStreamHandler(gate, async (stream, connection) => { await handler(stream, connection) }), options)
  }
  const register: Registrar['register'] = async (protocol, topology: Topology) => {
    const onConnect = topology.onConnect
    return await registrar.register(protocol, {
      ...topology,
      onConnect: onConnect === undefined
        ? undefined
        : (peerId, connection) => {
            void gate.waitVerified(peerId).then(cert => {
              if (cert !== undefined) return onConnect(peerId, connection)
            })
          }
    })
  }
  return new Proxy(registrar, {
    get (target, property, receiver) {
      if (property === 'handle') return handle
      if (property === 'register') return register
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

export function guardConnectionManager (connectionManager: ConnectionManager, gate: CertificateGate): ConnectionManager {
  const openStream: ConnectionManager['openStream'] = async (peer, protocol, options) => {
    if (isPeerId(peer)) {
      await gate.ensureVerified(peer, options)
      return await connectionManager.openStream(peer, protocol, options)
    }
    const connection = await connectionManager.openConnection(peer, options)
    await gate.ensureVerified(connection.remotePeer, options)
    return await connection.newStream(protocol, options)
  }
  return new Proxy(connectionManager, {
    get (target, property, receiver) {
      if (property === 'openStream') return openStream
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

interface Pinger { ping (peer: PeerId, options?: { signal?: AbortSignal }): Promise<number> }

export function guardPing (ping: KadDHTComponents['ping'], gate: CertificateGate): KadDHTComponents['ping'] {
  const guarded: Pinger['ping'] = async (peer, options) => {
    await gate.ensureVerified(peer, options)
    return await (ping as unknown as Pinger).ping(peer, options)
  }
  return new Proxy(ping, {
    get (target, property, receiver) {
      if (property === 'ping') return guarded
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** What every libp2p service's components have, of what the gate guards. */
export interface GuardableComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
}

/**
 * A libp2p service's components (kad-dht's, or an extra service's [OVL-33]), with the registrar,
 * the connection manager and ping (when the service has it) guarded by the gate, and (when given)
 * a datastore of the overlay's own in place of libp2p's. [OVL-25]
 */
export function guardComponents<T extends GuardableComponents> (components: T, gate: () => CertificateGate, datastore?: Datastore): T {
  return new Proxy(components, {
    get (target, property, receiver) {
      if (property === 'datastore' && datastore !== undefined) return datastore
      if (property === 'registrar') return guardRegistrar(target.registrar, gate())
      if (property === 'connectionManager') return guardConnectionManager(target.connectionManager, gate())
      if (property === 'ping') {
        const ping: unknown = Reflect.get(target, property, receiver)
        return ping === undefined ? undefined : guardPing(ping as KadDHTComponents['ping'], gate())
      }
      return Reflect.get(target, property, receiver)
    }
  })
}
