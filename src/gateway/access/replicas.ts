/**
 * [PER-50] [PER-3] The history source the composition root gives the access service: the
 * sensor's replicas (the persistence peers nearest its DHT key, nearest first, remembered 30 s),
 * asked in that order until one answers, or only the one the caller named.
 */
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { HistoryQuery, HistorySource, ReplicaPage } from './history.ts'

export interface ReplicaHistoryComponents {
  /** Peer ids of the sensor's replicas, nearest first ([PER-3]: `overlay.findPeersByRole('persistence', sensor key, R)`). */
  findReplicas: (sensorId: string) => Promise<string[]>
  /** One `range` request to one replica ([PER-2]); throws when it is not reached or refuses. */
  range: (peerId: string, sensorId: string, query: HistoryQuery) => Promise<Omit<ReplicaPage, 'replica' | 'replicas'>>
  logger: Logger
  now?: () => number
}

export interface ReplicaHistoryInit {
  /** How long a sensor's replica set is remembered; default 30 s ([PER-3]). */
  cacheMs?: number
  /** Sensors whose replica set is remembered at most; default 1 000. */
  maxCached?: number
}

export function createReplicaHistorySource (components: ReplicaHistoryComponents, init: ReplicaHistoryInit = {}): HistorySource {
  const cacheMs = init.cacheMs ?? 30_000
  const maxCached = init.maxCached ?? 1000
  const now = components.now ?? Date.now
  const cache = new Map<string, { peers: string[], until: number }>()

  async function replicasOf (sensorId: string): Promise<string[]> {
    const held = cache.get(sensorId)
    if (held !== undefined && held.until > now()) return held.peers
    let peers: string[]
    try {
      peers = await components.findReplicas(sensorId)
    } catch (err) {
      throw new GatemeshError('GM_ERR_HISTORY_NO_REPLICA', 'The sensor\'s replicas could not be looked up.', { cause: err })
    }
    if (peers.length === 0) throw new GatemeshError('GM_ERR_HISTORY_NO_REPLICA', 'No persistence peer is known in the overlay.')
    cache.delete(sensorId)
    if (cache.size >= maxCached) cache.delete(cache.keys().next().value as string)
    cache.set(sensorId, { peers, until: now() + cacheMs })
    return peers
  }

  return async (sensorId, query, replica) => {
    const replicas = await replicasOf(sensorId)
    if (replica !== undefined && !replicas.includes(replica)) throw new GatemeshError('GM_ERR_HISTORY_REPLICA_UNKNOWN', `${replica} is not among the sensor's replicas (${replicas.join(', ')}).`)
    const failures: string[] = []
    for (const peer of replica === undefined ? replicas : [replica]) {
      try {
        return { ...await components.range(peer, sensorId, query), replica: peer, replicas }
      } catch (err) {
        const code = isGatemeshError(err) ? err.code : 'an error'
        failures.push(`${peer}: ${code}`)
        components.logger.info({ sensor: sensorId, replica: peer, code }, 'replica did not answer a history request')
      }
    }
    // the set may have changed: look it up again next time
    cache.delete(sensorId)
    throw new GatemeshError('GM_ERR_HISTORY_NO_REPLICA', `No replica answered (${failures.join('; ')}).`)
  }
}
