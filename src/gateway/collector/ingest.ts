/**
 * The ingest pipeline shared by HTTP and MQTT: authenticate a sensor, admit its readings through
 * the rate limit, seal each for the sensor's current access list, journal the envelopes, and
 * once committed hand them to the latest sink and the hand-offs. [COL-7] .. [COL-14]
 */
import './errors.ts'
import { GatemeshError, MAX_READING_BYTES, isGatemeshError, checkSensorCredential, isSensorId, sensorRecipients } from '../../core/index.ts'
import type { CryptoSuite, EnvelopeSealer, Recipient, SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { Journal } from './journal.ts'
import type { RateLimiter } from './rate-limit.ts'
import type { Sequencer } from './sequencer.ts'
import type { LatestSink, ReadingHandoff, SealedReading, SensorDirectory } from './types.ts'

export interface IngestComponents {
  suite: CryptoSuite
  sealer: EnvelopeSealer
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
  private stopped = false

  constructor (components: IngestComponents, init: IngestInit) {
    this.c = components
    this.init = init
  }

  /** [COL-8] The sensor's verified record when the credential matches its verifier. */
  async authenticate (sensorId: string, credential: unknown): Promise<SensorInfo> {
    if (!isSensorId(sensorId)) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'Sensor ids are 1 to 128 of [A-Za-z0-9._-].')
    const info = await this.sensor(sensorId)
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
   * [COL-7] Seals, signs and journals the readings; resolves once all are committed, after they
   * were handed to the latest sink and the hand-offs.
   */
  async accept (info: SensorInfo, plaintexts: readonly Uint8Array[]): Promise<Accepted> {
    if (this.stopped) throw new GatemeshError('GM_ERR_COLLECTOR_STOPPED')
    if (plaintexts.length === 0) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'No readings.')
    for (const p of plaintexts) {
      if (p.length > MAX_READING_BYTES) throw new GatemeshError('GM_ERR_READING_TOO_LARGE', `A reading is at most ${MAX_READING_BYTES} bytes.`)
    }
    if (this.pending + plaintexts.length > this.init.maxPending) throw new GatemeshError('GM_ERR_BUSY')
    this.pending += plaintexts.length
    try {
      const recipients = this.recipients(info)
      const ts = this.init.now()
      // [COL-6] seqs are drawn together, so a batch gets consecutive numbers
      const seqs = plaintexts.map(() => this.c.sequencer.next(info.sensorId, ts))
      await Promise.all(plaintexts.map(async (plaintext, i) => {
        const header = { sensor: info.sensorId, ts, seq: seqs[i] as number }
        const envelope = await this.c.sealer.seal(header, plaintext, recipients)
        const reading: SealedReading = { sensorId: info.sensorId, ts, seq: header.seq, envelope }
        const id = await this.c.journal.append(reading)
        this.handOff(reading)
        this.c.journal.handOff(id)
      }))
      return { first: seqs[0] as number, seq: seqs[seqs.length - 1] as number, ts }
    } finally {
      this.pending -= plaintexts.length
    }
  }

  /** [COL-14] Every committed reading to the hand-offs, and to the latest sink. */
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
