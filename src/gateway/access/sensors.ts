/**
 * Sensor records and latest readings as the access service handles them: who may store a sensor
 * record, who may read it, the listing by access index, and the latest envelope.
 * [ACS-7] .. [ACS-10], [ACS-13]
 */
import type { CryptoSuite, SensorInfo } from '../../core/index.ts'
import { GatemeshError, equalBytes, isGatemeshError, mayRead, openRecord, verifyEnvelope, verifySensorRecord } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { AccessIndexer } from './access-index.ts'
import { dhtGet, dhtPut, keys, type AccessDht } from './dht.ts'

export const LATEST_RECORD_TYPE = 'latest'
/** The field of a `latest` record's body that holds the envelope ([ENV-1] bytes). */
export const LATEST_ENVELOPE_FIELD = 'envelope'
const MAX_LATEST_BYTES = 256 * 1024
/** Sensor records fetched at once while listing. */
const LIST_CONCURRENCY = 8
/** [PER-50] How long a look-up's record may grant a history read without another look-up. */
export const READ_GRANT_MAX_AGE_MS = 5_000
/** Sensor records held for read grants at most (the oldest stored is dropped first). */
const READ_GRANTS_MAX = 4096

export interface SensorRegistryComponents {
  suite: CryptoSuite
  dht: AccessDht
  logger: Logger
  /** Absent when the gateway has no signer: listings then come from no index. */
  indexer?: AccessIndexer
  /** [PER-50] Default READ_GRANT_MAX_AGE_MS; 0 looks every record up. */
  readGrantMaxAgeMs?: number
  /** The clock, ms (default Date.now). */
  now?: () => number
}

export interface OwnedSensor { id: string, seq: number, readers: string[] }
export interface SharedSensor { id: string, seq: number, owner: string }
export interface LatestReading { envelope: Uint8Array, seq: number, ts: number, gatewayCert: Uint8Array }

export class SensorRegistry {
  private readonly components: SensorRegistryComponents
  private readonly now: () => number
  private readonly grantMaxAgeMs: number
  /** [PER-50] The newest record looked up or stored here per sensor, and when it was. */
  private readonly recent = new Map<string, { info: SensorInfo, at: number }>()

  constructor (components: SensorRegistryComponents) {
    this.components = components
    this.now = components.now ?? Date.now
    this.grantMaxAgeMs = components.readGrantMaxAgeMs ?? READ_GRANT_MAX_AGE_MS
  }

  /** The current sensor record, verified; undefined when none is held or it no longer verifies. */
  async current (sensorId: string): Promise<SensorInfo | undefined> {
    const encoded = await dhtGet(this.components.dht, keys.sensor(sensorId))
    if (encoded === undefined) return undefined
    try {
      return await verifySensorRecord(this.components.suite, encoded)
    } catch (err) {
      this.components.logger.warn({ sensor: sensorId, code: (err as GatemeshError).code }, 'held sensor record does not verify')
      return undefined
    }
  }

  /** [ACS-7] Stores a sensor record for its owner; returns whether the sensor is new. */
  async put (caller: string, sensorId: string, encoded: Uint8Array): Promise<{ created: boolean, seq: number }> {
    const info = await verifySensorRecord(this.components.suite, encoded)
    if (info.sensorId !== sensorId) throw new GatemeshError('GM_ERR_SENSOR_ID_MISMATCH')
    if (info.owner.pseudonym !== caller) throw new GatemeshError('GM_ERR_NOT_OWNER')
    const held = await this.current(sensorId)
    if (held !== undefined && held.owner.pseudonym !== caller) throw new GatemeshError('GM_ERR_SENSOR_OWNED')
    if (held !== undefined && info.seq <= held.seq) throw new GatemeshError('GM_ERR_STALE_RECORD', `The held record has seq ${held.seq}.`)
    // [ACS-12] Every user the record adds must have room in its index, or nothing is stored.
    const before = new Set(held === undefined ? [] : [held.owner.pseudonym, ...held.readers.map(r => r.pseudonym)])
    const added = [info.owner.pseudonym, ...info.readers.map(r => r.pseudonym)].filter(p => !before.has(p))
    await this.components.indexer?.checkRoom(added, sensorId)
    await dhtPut(this.components.dht, keys.sensor(sensorId), encoded)
    // [PER-50] a change made through this gateway holds here at once (a revocation included)
    this.hold(info, this.now())
    await this.reindex(info, held)
    return { created: held === undefined, seq: info.seq }
  }

  /** [ACS-12] Adds the sensor to its owner's and readers' indexes, removes it from dropped readers'. */
  private async reindex (info: SensorInfo, held: SensorInfo | undefined): Promise<void> {
    const indexer = this.components.indexer
    if (indexer === undefined) return
    const now = new Set([info.owner.pseudonym, ...info.readers.map(r => r.pseudonym)])
    const dropped = (held?.readers ?? []).map(r => r.pseudonym).filter(p => !now.has(p))
    const results = await Promise.allSettled([
      ...[...now].map(async p => { await indexer.update(p, { add: [info.sensorId] }) }),
      ...dropped.map(async p => { await indexer.update(p, { remove: [info.sensorId] }) })
    ])
    const failures = results.filter(r => r.status === 'rejected').map(r => (r.reason as { code?: unknown }).code ?? 'unknown')
    // The sensor record is stored; an index left behind is repaired by the sensor's next change.
    if (failures.length > 0) this.components.logger.warn({ sensor: info.sensorId, failed: failures.length, codes: [...new Set(failures)] }, 'access index update failed')
  }

  /** [ACS-8] The record, for its owner and readers only. */
  async get (caller: string, sensorId: string): Promise<SensorInfo> {
    const info = await this.current(sensorId)
    if (info === undefined) throw new GatemeshError('GM_ERR_SENSOR_NOT_FOUND')
    if (!mayRead(info, caller)) throw new GatemeshError('GM_ERR_FORBIDDEN')
    return info
  }

  /**
   * [PER-50] As `get`, for the history route: a caller whom a record looked up (or stored) here in
   * the last `readGrantMaxAgeMs` lets read is let through on it without a look-up. A refusal
   * always rests on a fresh look-up, and the newer of the two records decides.
   */
  async getForRead (caller: string, sensorId: string): Promise<SensorInfo> {
    const now = this.now()
    const known = this.recent.get(sensorId)
    if (known !== undefined && now - known.at < this.grantMaxAgeMs && mayRead(known.info, caller)) return known.info
    const looked = await this.current(sensorId)
    if (looked === undefined) {
      this.recent.delete(sensorId)
      throw new GatemeshError('GM_ERR_SENSOR_NOT_FOUND')
    }
    const info = this.hold(looked, now)
    if (!mayRead(info, caller)) throw new GatemeshError('GM_ERR_FORBIDDEN')
    return info
  }

  /** Holds a record looked up or stored at `at` (the look-up's start); an older seq never replaces a newer one. Returns the newer. */
  private hold (info: SensorInfo, at: number): SensorInfo {
    const known = this.recent.get(info.sensorId)
    if (known !== undefined && known.info.seq > info.seq) return known.info
    this.recent.delete(info.sensorId)
    if (this.recent.size >= READ_GRANTS_MAX) this.recent.delete(this.recent.keys().next().value as string)
    this.recent.set(info.sensorId, { info, at })
    return info
  }

  /** [ACS-13] The caller's sensors: the index's ids, each checked against its current record. */
  async list (caller: string): Promise<{ owned: OwnedSensor[], shared: SharedSensor[] }> {
    const owned: OwnedSensor[] = []
    const shared: SharedSensor[] = []
    const ids = (await this.components.indexer?.read(caller))?.sensors ?? []
    for (let i = 0; i < ids.length; i += LIST_CONCURRENCY) {
      const batch = await Promise.all(ids.slice(i, i + LIST_CONCURRENCY).map(async id => await this.current(id)))
      for (const info of batch) {
        if (info === undefined) continue
        if (info.owner.pseudonym === caller) owned.push({ id: info.sensorId, seq: info.seq, readers: info.readers.map(r => r.pseudonym) })
        else if (mayRead(info, caller)) shared.push({ id: info.sensorId, seq: info.seq, owner: info.owner.pseudonym })
      }
    }
    return { owned, shared }
  }

  /** [ACS-9] The latest envelope, for the owner and readers of the current record only. */
  async latest (caller: string, sensorId: string): Promise<LatestReading> {
    const info = await this.current(sensorId)
    if (info === undefined) throw new GatemeshError('GM_ERR_SENSOR_NOT_FOUND')
    if (!mayRead(info, caller)) throw new GatemeshError('GM_ERR_FORBIDDEN')
    const encoded = await dhtGet(this.components.dht, keys.latest(sensorId))
    if (encoded === undefined) throw new GatemeshError('GM_ERR_NO_READING')
    try {
      const record = await openRecord(this.components.suite, encoded, { type: LATEST_RECORD_TYPE, maxBytes: MAX_LATEST_BYTES })
      const envelope = record.body[LATEST_ENVELOPE_FIELD]
      const gatewayCert = record.body.gatewayCert
      if (record.key !== sensorId || !(envelope instanceof Uint8Array) || !(gatewayCert instanceof Uint8Array)) {
        throw new GatemeshError('GM_ERR_MALFORMED', 'Not a latest record for this sensor.')
      }
      // [ENV-6] The envelope's signature and header are checked without any key; the client opens it.
      const opened = await verifyEnvelope(this.components.suite, envelope)
      if (opened.sensor !== sensorId) throw new GatemeshError('GM_ERR_MALFORMED', 'The envelope is for another sensor.')
      // [ACS-9] [OVL-31] the certified collector that signed the record sealed the envelope itself.
      if (!equalBytes(opened.gw, record.signer)) throw new GatemeshError('GM_ERR_RECORD_SIGNER', 'The envelope was sealed by another key than the record\'s signer.')
      return { envelope, seq: opened.seq, ts: opened.ts, gatewayCert }
    } catch (err) {
      if (!isGatemeshError(err)) throw err
      this.components.logger.warn({ sensor: sensorId, code: err.code }, 'held latest record unusable')
      throw new GatemeshError('GM_ERR_NO_READING', 'The held reading does not verify.', { cause: err })
    }
  }
}
