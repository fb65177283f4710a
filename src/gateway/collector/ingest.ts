/**
 * The ingest pipeline shared by HTTP and MQTT, one responsibility a part: authenticate a sensor
 * (sensor-auth.ts), admit its readings through the rate limit (rate-limit.ts), journal them
 * encrypted at rest and acknowledge once committed (journal.ts), then seal each for the sensor's
 * access list as it was at acceptance and deliver it to the reading sinks (sealing.ts, which
 * releases its journal row once all of them hold it), and at start recover what a previous run
 * left (recover below). [COL-7] .. [COL-14] [COL-24]
 */
import { GatemeshError, MAX_READING_BYTES, isGatemeshError } from '../../core/index.ts'
import type { CryptoSuite, SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { Delivery } from '../pipeline/index.ts'
import type { CollectedReading, Journal, JournalHandle, JournaledReading } from './journal.ts'
import type { RateLimiter } from './rate-limit.ts'
import type { ReadingSealer } from './seal-pool.ts'
import { RevalidatedSealing } from './revalidated-sealing.ts'
import { SealingDispatch } from './sealing.ts'
import { SensorAuthenticator } from './sensor-auth.ts'
import type { Sequencer } from './sequencer.ts'
import { NO_INGEST_METRICS, type IngestMetrics, type SensorDirectory } from './types.ts'

export interface IngestComponents {
  suite: CryptoSuite
  sealer: ReadingSealer
  sensors: SensorDirectory
  /** Takes every sealed reading to the sinks and releases its journal row once they hold it. */
  delivery: Delivery<JournalHandle>
  journal: Journal
  limiter: RateLimiter
  sequencer: Sequencer
  logger: Logger
  /** What HTTP and MQTT ingest and sealing count for /metrics; nothing when absent. */
  metrics?: IngestMetrics
}

export interface IngestInit {
  maxPending: number
  /**
   * [COL-9] Readings journaled but not yet sealed beyond which acknowledgements wait for sealing
   * to catch up: the flow control that keeps what is acknowledged no faster than what is sealed.
   */
  maxUnsealed: number
  now: () => number
  /**
   * [COL-13] How long readings accepted on a stale record, whose refresh failed past maxStaleMs,
   * wait before their sensor is looked up again; default 10 s, as recovery's retries.
   */
  retryMs?: number
}

export interface Accepted {
  /** seq of the first and last reading accepted; a batch gets consecutive numbers. */
  first: number
  seq: number
  ts: number
}

export class Ingest {
  private readonly c: IngestComponents
  private readonly now: () => number
  private readonly auth: SensorAuthenticator
  private readonly sealing: SealingDispatch
  /** Hands readings to sealing in order, those accepted on a stale record once it is refreshed. */
  private readonly ordered: RevalidatedSealing
  private stopped = false
  /** What HTTP and MQTT ingest count for /metrics. */
  readonly metrics: IngestMetrics

  constructor (components: IngestComponents, init: IngestInit) {
    this.c = components
    this.now = init.now
    this.metrics = components.metrics ?? NO_INGEST_METRICS
    this.auth = new SensorAuthenticator(components)
    this.sealing = new SealingDispatch({ ...components, metrics: this.metrics }, init)
    this.ordered = new RevalidatedSealing({
      sealing: this.sealing,
      lookup: async sensorId => await components.sensors.get(sensorId),
      logger: components.logger
    }, { retryMs: init.retryMs ?? 10_000 })
  }

  /** [COL-8] The sensor's verified record when the credential matches its verifier (sensor-auth.ts). */
  async authenticate (sensorId: string, credential: unknown, provenVerifier?: Uint8Array): Promise<SensorInfo> {
    return await this.auth.authenticate(sensorId, credential, provenVerifier)
  }

  /** The current record of a sensor already authenticated ([COL-11]: picks up access-list changes). */
  async sensor (sensorId: string): Promise<SensorInfo> {
    return await this.auth.sensor(sensorId)
  }

  /**
   * [COL-10] The record of an authenticated sensor the directory holds, at once: fresh, or stale
   * while it is refreshed in the background (readings accepted on it are sealed once the refresh
   * settles). Undefined when none is held; then use sensor().
   */
  cachedSensor (sensorId: string): SensorInfo | undefined {
    return this.auth.held(sensorId)
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
   * the delivery to the sinks follow off the acknowledgement path ([COL-14]); for a reading
   * accepted on a stale record ([COL-10]), once the record is refreshed ([COL-11]).
   */
  async accept (info: SensorInfo, plaintexts: readonly Uint8Array[]): Promise<Accepted> {
    if (this.stopped) throw new GatemeshError('GM_ERR_COLLECTOR_STOPPED')
    if (plaintexts.length === 0) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'No readings.')
    for (const p of plaintexts) {
      if (p.length > MAX_READING_BYTES) throw new GatemeshError('GM_ERR_READING_TOO_LARGE', `A reading is at most ${MAX_READING_BYTES} bytes.`)
    }
    // [COL-9] readings count as pending from here until sealed; none are taken while the sinks
    // hold as many unsettled as they may
    if (!this.sealing.reserve(plaintexts.length)) throw new GatemeshError('GM_ERR_BUSY')
    // [COL-11] a fresh record's list now; on a stale record, sealing waits for its refresh
    const fresh = this.auth.fresh(info)
    const recipients = fresh === undefined ? undefined : this.sealing.recipients(fresh)
    const ts = this.now()
    // [COL-6] seqs are drawn together, so a batch gets consecutive numbers
    const seqs = plaintexts.map(() => this.c.sequencer.next(info.sensorId, ts))
    if (plaintexts.length === 1) {
      // one reading (every MQTT publish): as below, without allSettled's promises and results
      const reading: CollectedReading = { sensorId: info.sensorId, ts, seq: seqs[0] as number, plaintext: plaintexts[0] as Uint8Array }
      let id: JournalHandle
      try {
        id = await this.c.journal.append(reading)
      } catch (err) {
        this.sealing.unreserve(1)
        throw err
      }
      this.ordered.seal(id, reading, recipients)
    } else {
      const append = async (plaintext: Uint8Array, i: number): Promise<void> => {
        const reading: CollectedReading = { sensorId: info.sensorId, ts, seq: seqs[i] as number, plaintext }
        const id = await this.c.journal.append(reading)
        this.ordered.seal(id, reading, recipients)
      }
      let failure: { reason: unknown } | undefined
      for (const result of await Promise.allSettled(plaintexts.map(append))) {
        if (result.status === 'rejected') { this.sealing.unreserve(1); failure ??= { reason: result.reason } }
      }
      if (failure !== undefined) throw failure.reason
    }
    const behind = this.sealing.caughtUp()
    if (behind !== undefined) await behind
    return { first: seqs[0] as number, seq: seqs[seqs.length - 1] as number, ts }
  }

  /**
   * [COL-13] Seals and delivers what a previous run journaled but its sinks did not all settle,
   * for the sensor's current access list. Returns those whose sensor cannot be looked up now, or
   * was not found (never taken for deleted: sensors are never deleted), for the collector to
   * retry later.
   */
  async recover (rows: readonly JournaledReading[]): Promise<JournaledReading[]> {
    const left: JournaledReading[] = []
    const notFound = new Map<string, number>()
    for (const row of rows) {
      if (this.stopped) { left.push(row); continue }
      let info: SensorInfo
      try {
        info = await this.auth.sensor(row.sensorId)
      } catch (err) {
        // [COL-13] a reading was journaled only on a verified record, and sensors are never
        // deleted: a look-up that finds none is a partial answer ([OVL-36]); kept, retried
        if (isGatemeshError(err, 'GM_ERR_SENSOR_UNKNOWN')) notFound.set(row.sensorId, (notFound.get(row.sensorId) ?? 0) + 1)
        left.push(row)
        continue
      }
      this.sealing.reserveRecovered()
      this.ordered.seal(row.id, row, this.sealing.recipients(info))
    }
    for (const [sensor, readings] of notFound) this.c.logger.warn({ code: 'GM_ERR_SENSOR_UNKNOWN', sensor, readings }, 'journaled readings of a sensor the look-up did not find; kept, looked up again later')
    return left
  }

  /** Resolves once every accepted reading was sealed (or failed to be) and the sinks settled what was sealed. */
  async drain (): Promise<void> {
    await this.sealing.drained()
    await this.c.delivery.drain()
  }

  stop (): void {
    this.stopped = true
    this.ordered.stop()
  }
}
