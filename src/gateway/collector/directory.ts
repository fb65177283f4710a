/**
 * A SensorDirectory over any fetch (the DHT in a gateway): verifies every record, caches positive
 * and negative answers for a TTL, coalesces concurrent look-ups of one id, never lets an older
 * record replace a newer one, and never caches a failure for longer than `failureTtlMs`. held()
 * serves a record past its TTL at once while one refresh runs in the background
 * (stale-while-revalidate), and with `refreshAheadMs` starts that refresh before the TTL ends;
 * get() and cached() never answer a stale record. [COL-10]
 */
import { GatemeshError, isGatemeshError, verifySensorRecord } from '../../core/index.ts'
import type { CryptoSuite, SensorInfo } from '../../core/index.ts'
import type { SensorDirectory } from './types.ts'

export interface CachedSensorDirectoryComponents {
  /** The stored sensor record bytes, or undefined when there is none. */
  fetch: (sensorId: string) => Promise<Uint8Array | undefined>
  suite: CryptoSuite
}

export interface CachedSensorDirectoryInit {
  /**
   * How long an answer (a record, or "no such sensor") is used before it is fetched again; a
   * function is asked each time (the composition root's depends on the network, [COL-10]).
   */
  ttlMs?: number | (() => number)
  /**
   * After a failed refresh, a held record is still used while it is younger than this; held()
   * serves a record past ttlMs, while it is refreshed, as long as it is younger than this.
   */
  maxStaleMs?: number
  /** A failed look-up is answered from memory (as a failure) for this long, to spare the DHT. */
  failureTtlMs?: number
  /**
   * held() starts the refresh of a record this long before its TTL ends (default 0: once it has
   * ended), so that a sensor that keeps sending finds its record fresh when the TTL ends: the
   * record stays fresh, and used as such, until then ([COL-10]).
   */
  refreshAheadMs?: number
  maxEntries?: number
  now?: () => number
}

export interface CachedSensorDirectory extends SensorDirectory {
  /** Forgets a sensor, so the next get fetches it (e.g. on news of a new record). */
  invalidate: (sensorId: string) => void
}

interface Entry {
  info: SensorInfo | undefined
  /** When the answer was fetched. */
  at: number
  failure?: { error: unknown, at: number }
  pending?: Promise<SensorInfo | undefined>
}

export function createCachedSensorDirectory (components: CachedSensorDirectoryComponents, init: CachedSensorDirectoryInit = {}): CachedSensorDirectory {
  const ttlOf = typeof init.ttlMs === 'function' ? init.ttlMs : () => (init.ttlMs as number | undefined) ?? 5000
  const maxStaleMs = init.maxStaleMs ?? 60_000
  const maxEntries = init.maxEntries ?? 100_000
  // read per call: a TTL that changes takes effect at the next look-at of each entry
  const failureTtlMsOf = (ttlMs: number): number => Math.min(init.failureTtlMs ?? 1000, ttlMs)
  const refreshAheadMsOf = (ttlMs: number): number => Math.min(Math.max(0, init.refreshAheadMs ?? 0), ttlMs)
  const now = init.now ?? Date.now
  const entries = new Map<string, Entry>()

  async function load (sensorId: string, entry: Entry): Promise<SensorInfo | undefined> {
    let bytes: Uint8Array | undefined
    try {
      bytes = await components.fetch(sensorId)
    } catch (err) {
      throw new GatemeshError('GM_ERR_SENSOR_DIRECTORY', undefined, { cause: err })
    }
    if (bytes === undefined) {
      // [COL-10] sensors are never deleted: once a record verified here, a look-up that finds
      // none is a partial answer (peers that do not hold it yet, or lost it), not news that the
      // sensor is gone; it fails like an unreachable DHT, and the held record serves meanwhile
      if (entry.info !== undefined) throw new GatemeshError('GM_ERR_SENSOR_DIRECTORY', 'The look-up found no copy of a sensor record held before.')
      return undefined
    }
    let info: SensorInfo
    try {
      info = await verifySensorRecord(components.suite, bytes)
    } catch (err) {
      throw new GatemeshError('GM_ERR_SENSOR_DIRECTORY', 'The stored sensor record does not verify.', { cause: err })
    }
    if (info.sensorId !== sensorId) throw new GatemeshError('GM_ERR_SENSOR_DIRECTORY', 'The stored record is for another sensor.')
    // [REC-5] an older record (e.g. from a lagging peer) never replaces a newer one
    if (entry.info !== undefined && entry.info.seq > info.seq) return entry.info
    return info
  }

  function refresh (sensorId: string, entry: Entry): Promise<SensorInfo | undefined> {
    const pending = load(sensorId, entry).then(info => {
      entry.info = info
      entry.at = now()
      entry.failure = undefined
      return info
    }, (error: unknown) => {
      entry.failure = { error, at: now() }
      const stale = entry.info !== undefined && now() - entry.at < maxStaleMs
      if (stale) return entry.info
      throw error
    }).finally(() => { entry.pending = undefined })
    entry.pending = pending
    return pending
  }

  function evict (): void {
    if (entries.size < maxEntries) return
    // Maps iterate in insertion order: drop the oldest tenth.
    let drop = Math.ceil(maxEntries / 10)
    for (const key of entries.keys()) {
      if (drop-- <= 0) break
      entries.delete(key)
    }
  }

  return {
    held (sensorId) {
      const entry = entries.get(sensorId)
      if (entry === undefined || entry.info === undefined) return undefined
      const t = now()
      const ttlMs = ttlOf()
      if (t - entry.at < ttlMs - refreshAheadMsOf(ttlMs) || (entry.pending !== undefined && t - entry.at < ttlMs)) return entry.info
      if (t - entry.at >= maxStaleMs) return undefined
      // [COL-10] stale: served at once, one refresh in the background (a failed one is not tried
      // again within failureTtlMs); whoever must wait for it asks get()
      if (entry.pending === undefined && (entry.failure === undefined || t - entry.failure.at >= failureTtlMsOf(ttlMs))) {
        refresh(sensorId, entry).catch(() => { /* kept in entry.failure, for get() */ })
      }
      return entry.info
    },
    async get (sensorId) {
      let entry = entries.get(sensorId)
      if (entry === undefined) {
        evict()
        entry = { info: undefined, at: -Infinity }
        entries.set(sensorId, entry)
      }
      const t = now()
      const ttlMs = ttlOf()
      // fresh, also while a refresh started ahead of the TTL runs
      if (t - entry.at < ttlMs) return entry.info
      if (entry.pending !== undefined) return await entry.pending
      if (entry.failure !== undefined && t - entry.failure.at < failureTtlMsOf(ttlMs)) {
        if (entry.info !== undefined && t - entry.at < maxStaleMs) return entry.info
        throw isGatemeshError(entry.failure.error) ? entry.failure.error : new GatemeshError('GM_ERR_SENSOR_DIRECTORY')
      }
      return await refresh(sensorId, entry)
    },
    cached (sensorId) {
      const entry = entries.get(sensorId)
      // a refresh started ahead of the TTL leaves the record fresh until the TTL ends
      if (entry === undefined || now() - entry.at >= ttlOf()) return undefined
      return entry.info
    },
    invalidate (sensorId) {
      const entry = entries.get(sensorId)
      if (entry !== undefined) { entry.at = -Infinity; entry.failure = undefined }
    }
  }
}
