/**
 * The components kad-dht sees: the real libp2p components, except that every way in and out of
 * the DHT first waits for the certificate gate. This replaces stream middleware (`node.use`),
 * which is broken in libp2p 3.3.11.
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
import type { PeerId, StreamHandler, Topology } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Datastore } from 'interface-datastore'

export function guardRegistrar (registrar: Registrar, gate: CertificateGate): Registrar {
  const handle: Registrar['handle'] = async (protocol, handler, options) => {
    const guarded: StreamHandler = async (stream, connection) => {
      const cert = await gate.waitVerified(connection.remotePeer)
      if (cert === undefined) {
        stream.abort(new GatemeshError('GM_ERR_PEER_NOT_VERIFIED'))
        return
      }
      await handler(stream, connection)
    }
    await registrar.handle(protocol, guarded, options)
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

/**
 * kad-dht's components, with the registrar, connection manager and ping guarded by the gate, and
 * (when given) its own durable datastore for records. [OVL-25]
 */
export function guardComponents (components: KadDHTComponents, gate: () => CertificateGate, datastore?: Datastore): KadDHTComponents {
  return new Proxy(components, {
    get (target, property, receiver) {
      if (property === 'datastore' && datastore !== undefined) return datastore
      if (property === 'registrar') return guardRegistrar(target.registrar, gate())
      if (property === 'connectionManager') return guardConnectionManager(target.connectionManager, gate())
      if (property === 'ping') return guardPing(target.ping, gate())
      return Reflect.get(target, property, receiver)
    }
  })
}
