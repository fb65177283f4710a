/**
 * Retention and the storage limit on a replica ([PER-40]..[PER-43]). Every sweep interval (1 h)
 * the replica deletes, per sensor it holds, the readings older than the sensor's retention (from
 * its signed record: `retention` seconds, 30 days when absent, 0 forever) and the checkpoints of
 * buckets that ended before that. With a storage limit (`--persistence-max-bytes`), a store that
 * finds the engine at the limit first sweeps what is past retention; if the engine is still at
 * the limit, the store is refused whole with GM_ERR_PERSISTENCE_FULL: nothing inside its
 * retention is ever evicted to make room (the collector keeps it in its outbox).
 */
import { GatemeshError, isGatemeshError, verifySensorRecord } from '../../core/index.ts'
import { NAMESPACES, recordKey } from '../../overlay/index.ts'
import { createLogger, type Logger } from '../../platform/logger.ts'
import { MAX_SENSORS_LIMIT } from './protocol.ts'
import type { CryptoSuite, SensorInfo } from '../../core/index.ts'
import type { OverlayNode } from '../../overlay/index.ts'
import type { StorageEngine } from './engine/types.ts'

const RECORD_KNOWN_MS = 5 * 60_000
const RECORD_UNKNOWN_MS = 10_000
const RECORD_CACHE_SIZE = 100_000

/**
 * The sensor records the replica reads from the overlay, cached (5 min when found, 10 s when
 * not): the store checks ([PER-2]: the sensor is known) and the sweeps (its retention) share it.
 */
export interface SensorRecords {
  /** The sensor's verified record, or undefined when the overlay has none. Other failures throw. */
  get: (sensorId: string) => Promise<SensorInfo | undefined>
}

export function createSensorRecords (components: { overlay: Pick<OverlayNode, 'get'>, suite: CryptoSuite, now?: () => number }): SensorRecords {
  const now = components.now ?? Date.now
  const cache = new Map<string, { info: SensorInfo | undefined, until: number }>()
  const pending = new Map<string, Promise<SensorInfo | undefined>>()
  const lookup = async (sensorId: string): Promise<SensorInfo | undefined> => {
    let info: SensorInfo | undefined
    try {
      const { value } = await components.overlay.get(recordKey(NAMESPACES.sensor, sensorId))
      info = await verifySensorRecord(components.suite, value)
    } catch (err) {
      if (!isGatemeshError(err, 'GM_ERR_RECORD_NOT_FOUND')) throw err
    }
    if (cache.size >= RECORD_CACHE_SIZE) cache.delete(cache.keys().next().value as string)
    cache.set(sensorId, { info, until: now() + (info === undefined ? RECORD_UNKNOWN_MS : RECORD_KNOWN_MS) })
    return info
  }
  return {
    async get (sensorId) {
      const held = cache.get(sensorId)
      if (held !== undefined && held.until > now()) return held.info
      let p = pending.get(sensorId)
      if (p === undefined) {
        p = lookup(sensorId).finally(() => pending.delete(sensorId))
        pending.set(sensorId, p)
      }
      return await p
    }
  }
}

/** [PER-40] A record's retention in seconds (0: forever; [SEN-2] gives 30 days to a record without one). */
export function retentionOf (info: SensorInfo): number {
  return info.retentionSeconds
}

/** [PER-41] The first seq kept: readings with seq below it are past retention. Undefined: keep all (forever). */
export function retentionCutoff (nowMs: number, retentionSeconds: number): number | undefined {
  if (retentionSeconds === 0) return undefined
  return Math.max(0, Math.floor((nowMs - retentionSeconds * 1000) * 1000))
}

export interface RetentionComponents {
  engine: StorageEngine
  /** The sensor's retention in seconds (0 forever), or undefined when its record cannot be found (kept). */
  retention: (sensorId: string) => Promise<number | undefined>
  now?: () => number
  logger?: Logger
}

export interface RetentionInit {
  /** A sweep every this often (1 h). */
  sweepIntervalMs?: number
  /** [PER-42] The engine's size limit in bytes; undefined or 0: none. */
  maxBytes?: number
  /** At the limit, a sweep at most this often (stores refused meanwhile). */
  fullSweepMinIntervalMs?: number
  /** The engine's size is asked at most this often. */
  sizeRefreshMs?: number
}

export const RETENTION_DEFAULTS = {
  sweepIntervalMs: 60 * 60_000,
  fullSweepMinIntervalMs: 10_000,
  sizeRefreshMs: 1000
} as const

export interface Retention {
  start: () => void
  stop: () => Promise<void>
  /** [PER-41] Deletes what is past retention, now; resolves to what it did. */
  sweep: () => Promise<{ sensors: number, deleted: number }>
  /** [PER-42] Throws GM_ERR_PERSISTENCE_FULL when the engine is at its limit after sweeping. */
  assertRoom: () => Promise<void>
  /** [PER-42] Whether the last measure found the engine at its limit. */
  full: () => boolean
  status: () => Record<string, unknown>
}

export function createRetention (components: RetentionComponents, init: RetentionInit = {}): Retention {
  const cfg = { ...RETENTION_DEFAULTS, ...Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined)) } as Required<RetentionInit>
  const { engine } = components
  const now = components.now ?? Date.now
  const log = components.logger ?? createLogger('gatemesh:persistence-retention')
  const maxBytes = init.maxBytes === undefined || init.maxBytes === 0 ? undefined : init.maxBytes
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let sweeping: Promise<{ sensors: number, deleted: number }> | undefined
  let size = { bytes: 0, at: -Infinity }
  let lastFullSweep = -Infinity
  const counts = { sweeps: 0, deleted: 0, unknownSensors: 0, errors: 0, refusedFull: 0 }
  let lastSweepMs: number | null = null

  async function sweepOnce (): Promise<{ sensors: number, deleted: number }> {
    const started = performance.now()
    const nowMs = now()
    let sensors = 0
    let deleted = 0
    try {
      for (let after: string | undefined; ;) {
        const page = await engine.sensors(after, MAX_SENSORS_LIMIT)
        for (const sensor of page) {
          sensors++
          try {
            const seconds = await components.retention(sensor)
            if (seconds === undefined) { counts.unknownSensors++; continue }
            const cutoff = retentionCutoff(nowMs, seconds)
            if (cutoff === undefined) continue
            deleted += await engine.deleteBefore(sensor, cutoff) // [PER-41]
          } catch (err) {
            counts.errors++
            log.warn({ sensor, code: isGatemeshError(err) ? err.code : undefined, err: isGatemeshError(err) ? undefined : err }, 'retention sweep of a sensor failed')
          }
        }
        if (page.length < MAX_SENSORS_LIMIT) break
        after = page[page.length - 1]
      }
    } finally {
      counts.sweeps++
      counts.deleted += deleted
      lastSweepMs = Math.round(performance.now() - started)
      size.at = -Infinity
    }
    if (deleted > 0) log.info({ sensors, deleted }, 'retention sweep deleted readings past retention')
    return { sensors, deleted }
  }

  const sweep = async (): Promise<{ sensors: number, deleted: number }> => {
    if (sweeping === undefined) sweeping = sweepOnce().finally(() => { sweeping = undefined })
    return await sweeping
  }

  const measure = async (): Promise<number> => {
    if (performance.now() - size.at > cfg.sizeRefreshMs) size = { bytes: await engine.sizeBytes(), at: performance.now() }
    return size.bytes
  }

  const tick = (): void => {
    timer = setTimeout(() => {
      void sweep().catch(() => {}).finally(() => { if (running) tick() })
    }, cfg.sweepIntervalMs)
    timer.unref?.()
  }

  return {
    start () {
      if (running) return
      running = true
      tick()
    },
    async stop () {
      running = false
      if (timer !== undefined) clearTimeout(timer)
      await sweeping?.catch(() => {})
    },
    sweep,
    async assertRoom () {
      if (maxBytes === undefined) return
      if (await measure() < maxBytes) return
      // [PER-42] at the limit: what is past retention goes first
      if (performance.now() - lastFullSweep >= cfg.fullSweepMinIntervalMs) {
        lastFullSweep = performance.now()
        await sweep()
        size.at = -Infinity
        if (await measure() < maxBytes) return
      }
      counts.refusedFull++
      throw new GatemeshError('GM_ERR_PERSISTENCE_FULL', `The storage limit (${maxBytes} bytes) is reached and nothing held is past its retention.`)
    },
    full: () => maxBytes !== undefined && size.at !== -Infinity && size.bytes >= maxBytes,
    status: () => ({ ...counts, lastSweepMs, sizeBytes: size.at === -Infinity ? null : size.bytes, maxBytes: maxBytes ?? null })
  }
}
