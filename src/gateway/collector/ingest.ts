/**
 * The ingest pipeline shared by HTTP and MQTT: authenticate a sensor, admit its readings through
 * the rate limit, journal them (encrypted at rest) and acknowledge once committed; then seal each
 * for the sensor's access list as it was at acceptance, hand it to the latest sink and the
 * hand-offs, and release its journal row. [COL-7] .. [COL-14] [COL-24]
 */
import { GatemeshError, MAX_READING_BYTES, isGatemeshError, checkSensorCredential, equalBytes, isSensorId, sensorRecipients } from '../../core/index.ts'
import type { CryptoSuite, Recipient, SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { CollectedReading, Journal, JournalHandle, JournaledReading } from './journal.ts'
import type { RateLimiter } from './rate-limit.ts'
import type { ReadingSealer } from './seal-pool.ts'
import type { Sequencer } from './sequencer.ts'
import type { LatestSink, ReadingHandoff, SealedReading, SensorDirectory } from './types.ts'

export interface IngestComponents {
  suite: CryptoSuite
  sealer: ReadingSealer
  sensors: SensorDirectory
  latest: LatestSink
  handoffs: ReadingHandoff[]
  journal: Journal
  limiter: RateLimiter
  sequencer: Sequencer
  logger: Logger
}

export interface IngestInit {
  maxPending: number
  /**
   * [COL-9] Readings journaled but not yet sealed beyond which acknowledgements wait for sealing
   * to catch up: the flow control that keeps what is acknowledged no faster than what is sealed.
   */
  maxUnsealed: number
  now: () => number
}

export interface Accepted {
  /** seq of the first and last reading accepted; a batch gets consecutive numbers. */
  first: number
  seq: number
  ts: number
}

export class Ingest {
  private readonly c: IngestComponents
  private readonly init: IngestInit
  /** The access list each sensor was last sealed for, to notice changes. [COL-11] */
  private readonly lists = new Map<string, { seq: number, recipients: Recipient[] }>()
  private pending = 0
  private readonly idle: Array<() => void> = []
  /** Acknowledgements held until the backlog is back under maxUnsealed. */
  private readonly held: Array<() => void> = []
  private stopped = false

  constructor (components: IngestComponents, init: IngestInit) {
    this.c = components
    this.init = init
  }

  /**
   * [COL-8] The sensor's verified record when the credential matches its verifier. `proven`: a
   * credential that the caller saw match `verifier` before, on the same connection; the same
   * credential against the same verifier needs no hash again (a replaced credential, a new
   * verifier, is checked afresh).
   */
  async authenticate (sensorId: string, credential: unknown, proven?: { credential: string, verifier: Uint8Array }): Promise<SensorInfo> {
    if (!isSensorId(sensorId)) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'Sensor ids are 1 to 128 of [A-Za-z0-9._-].')
    const info = this.cachedSensor(sensorId) ?? await this.sensor(sensorId)
    if (proven !== undefined && proven.credential === credential && equalBytes(proven.verifier, info.verifier)) return info
    if (!await checkSensorCredential(this.c.suite, info.verifier, credential)) throw new GatemeshError('GM_ERR_SENSOR_CREDENTIAL')
    return info
  }

  /** The current record of a sensor already authenticated ([COL-11]: picks up access-list changes). */
  async sensor (sensorId: string): Promise<SensorInfo> {
    let info: SensorInfo | undefined
    try {
      info = await this.c.sensors.get(sensorId)
    } catch (err) {
      throw isGatemeshError(err) ? err : new GatemeshError('GM_ERR_SENSOR_DIRECTORY', undefined, { cause: err })
    }
    if (info === undefined) throw new GatemeshError('GM_ERR_SENSOR_UNKNOWN')
    return info
  }

  /**
   * The record of an authenticated sensor when the directory holds a fresh one, at once: what
   * sensor() would resolve to without a look-up. Undefined otherwise; then use sensor().
   */
  cachedSensor (sensorId: string): SensorInfo | undefined {
    return this.c.sensors.cached?.(sensorId)
  }

  /** [COL-9] Takes `count` tokens from the sensor's bucket, or throws GM_ERR_SENSOR_RATE_LIMITED. */
  admit (sensorId: string, count: number): void {
    if (!this.c.limiter.take(sensorId, count)) {
      throw new GatemeshError('GM_ERR_SENSOR_RATE_LIMITED', `Retry in ${this.c.limiter.retryAfter(sensorId, count)} s.`)
    }
  }

  retryAfter (sensorId: string, count: number): number {
    return this.c.limiter.retryAfter(sensorId, count)
  }

  /**
   * [COL-7] Journals the readings (encrypted at rest, [COL-24]) and resolves once they are
   * committed: the acknowledgement promise. Sealing for the access list as it is now, signing and
   * the hand-offs follow off the acknowledgement path ([COL-14]).
   */
  async accept (info: SensorInfo, plaintexts: readonly Uint8Array[]): Promise<Accepted> {
    if (this.stopped) throw new GatemeshError('GM_ERR_COLLECTOR_STOPPED')
    if (plaintexts.length === 0) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'No readings.')
    for (const p of plaintexts) {
      if (p.length > MAX_READING_BYTES) throw new GatemeshError('GM_ERR_READING_TOO_LARGE', `A reading is at most ${MAX_READING_BYTES} bytes.`)
    }
    // [COL-9] readings count as pending from here until sealed and handed off
    if (this.pending + plaintexts.length > this.init.maxPending) throw new GatemeshError('GM_ERR_BUSY')
    this.pending += plaintexts.length
    const recipients = this.recipients(info)
    const ts = this.init.now()
    // [COL-6] seqs are drawn together, so a batch gets consecutive numbers
    const seqs = plaintexts.map(() => this.c.sequencer.next(info.sensorId, ts))
    if (plaintexts.length === 1) {
      // one reading (every MQTT publish): as below, without allSettled's promises and results
      const reading: CollectedReading = { sensorId: info.sensorId, ts, seq: seqs[0] as number, plaintext: plaintexts[0] as Uint8Array }
      let id: JournalHandle
      try {
        id = await this.c.journal.append(reading)
      } catch (err) {
        this.pending--
        throw err
      }
      this.seal(id, reading, recipients)
    } else {
      const append = async (plaintext: Uint8Array, i: number): Promise<void> => {
        const reading: CollectedReading = { sensorId: info.sensorId, ts, seq: seqs[i] as number, plaintext }
        const id = await this.c.journal.append(reading)
        this.seal(id, reading, recipients)
      }
      let failure: { reason: unknown } | undefined
      for (const result of await Promise.allSettled(plaintexts.map(append))) {
        if (result.status === 'rejected') { this.pending--; failure ??= { reason: result.reason } }
      }
      if (failure !== undefined) throw failure.reason
    }
    if (this.pending > this.init.maxUnsealed) await new Promise<void>(resolve => { this.held.push(resolve) })
    return { first: seqs[0] as number, seq: seqs[seqs.length - 1] as number, ts }
  }

  /**
   * [COL-14] Seals a journaled reading, hands it off and releases its row. A reading that cannot
   * be sealed now stays in the journal and is sealed at the next start.
   */
  private seal (id: JournalHandle, reading: CollectedReading, recipients: readonly Recipient[]): void {
    const header = { sensor: reading.sensorId, ts: reading.ts, seq: reading.seq }
    this.c.sealer.seal(header, reading.plaintext, recipients).then(envelope => {
      this.handOff({ sensorId: reading.sensorId, ts: reading.ts, seq: reading.seq, envelope })
      this.c.journal.release(id)
    }, (err: unknown) => {
      this.c.logger.error({ code: isGatemeshError(err) ? err.code : 'GM_ERR_COLLECTOR_INTERNAL', sensor: reading.sensorId }, 'sealing failed; the reading stays journaled')
    }).finally(() => {
      this.pending--
      if (this.pending <= this.init.maxUnsealed && this.held.length > 0) for (const resolve of this.held.splice(0)) resolve()
      if (this.pending === 0) for (const resolve of this.idle.splice(0)) resolve()
    })
  }

  /**
   * [COL-13] Seals and hands off what a previous run journaled but did not release, for the
   * sensor's current access list. Readings of a sensor that no longer exists are released
   * unsealed (nobody may read them); returns those whose sensor cannot be looked up now, for the
   * collector to retry later.
   */
  async recover (rows: readonly JournaledReading[]): Promise<JournaledReading[]> {
    const left: JournaledReading[] = []
    for (const row of rows) {
      if (this.stopped) { left.push(row); continue }
      let info: SensorInfo
      try {
        info = await this.sensor(row.sensorId)
      } catch (err) {
        if (isGatemeshError(err, 'GM_ERR_SENSOR_UNKNOWN')) {
          this.c.logger.warn({ code: err.code, sensor: row.sensorId }, 'journaled reading of a sensor that no longer exists dropped')
          this.c.journal.release(row.id)
        } else {
          left.push(row)
        }
        continue
      }
      this.pending++
      this.seal(row.id, row, this.recipients(info))
    }
    return left
  }

  /** Resolves once every accepted reading was sealed and handed off, or failed to be. */
  async drain (): Promise<void> {
    if (this.pending === 0) return
    await new Promise<void>(resolve => { this.idle.push(resolve) })
  }

  /** [COL-14] Every sealed reading to the hand-offs, and to the latest sink. */
  handOff (reading: SealedReading): void {
    try {
      this.c.latest.offer(reading)
    } catch (err) {
      this.c.logger.error({ code: (err as GatemeshError).code, sensor: reading.sensorId }, 'latest sink failed')
    }
    for (const handoff of this.c.handoffs) {
      try {
        handoff(reading)
      } catch (err) {
        this.c.logger.error({ code: (err as GatemeshError).code, sensor: reading.sensorId }, 'hand-off failed')
      }
    }
  }

  /** [COL-11] [ENV-5] The recipients for this record; a new record drops contexts no list needs. */
  private recipients (info: SensorInfo): Recipient[] {
    const known = this.lists.get(info.sensorId)
    if (known !== undefined && known.seq >= info.seq) return known.recipients
    const recipients = sensorRecipients(info)
    if (this.lists.size >= 100_000) this.lists.clear()
    this.lists.set(info.sensorId, { seq: info.seq, recipients })
    if (known !== undefined) {
      const keep: Recipient[] = []
      for (const list of this.lists.values()) keep.push(...list.recipients)
      this.c.sealer.retainOnly(keep)
      this.c.logger.info({ sensor: info.sensorId, seq: info.seq, recipients: recipients.length }, 'access list changed')
    }
    return recipients
  }

  stop (): void {
    this.stopped = true
  }
}
