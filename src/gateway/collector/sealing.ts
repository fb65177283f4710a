/**
 * Sealing dispatch: each journaled reading to the sealer for its sensor's access list, then to
 * the reading sinks; and the flow control between acknowledging and sealing. [COL-9] [COL-11]
 * [COL-14] [COL-23]
 */
import { isGatemeshError, sensorRecipients } from '../../core/index.ts'
import type { Recipient, SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { Delivery } from '../pipeline/index.ts'
import type { CollectedReading, JournalHandle } from './journal.ts'
import type { ReadingSealer } from './seal-pool.ts'
import type { IngestMetrics } from './types.ts'

export interface SealingComponents {
  sealer: ReadingSealer
  /** Takes every sealed reading to the sinks and releases its journal row once they hold it. */
  delivery: Delivery<JournalHandle>
  logger: Logger
  metrics: IngestMetrics
}

export interface SealingInit {
  /** Readings in the pipeline (reserved, journaling or sealing) past which none are taken. */
  maxPending: number
  /** [COL-9] Readings journaled but not yet sealed past which acknowledgements wait. */
  maxUnsealed: number
}

/** Access lists kept per sensor, at most; past it they are all forgotten and rebuilt as used. */
const MAX_LISTS = 100_000

export class SealingDispatch {
  private readonly c: SealingComponents
  private readonly init: SealingInit
  /** The access list each sensor was last sealed for, to notice changes. [COL-11] */
  private readonly lists = new Map<string, { seq: number, recipients: readonly Recipient[] }>()
  /** Readings reserved and not yet sealed (or failed to be). */
  private pending = 0
  private readonly idle: Array<() => void> = []
  /** Acknowledgements held until the backlog is back under maxUnsealed. */
  private readonly held: Array<() => void> = []

  constructor (components: SealingComponents, init: SealingInit) {
    this.c = components
    this.init = init
  }

  /** [COL-9] Counts `count` readings in, unless the pipeline is full: then false, and none are. */
  reserve (count: number): boolean {
    if (this.pending + count > this.init.maxPending || this.c.delivery.full) return false
    this.pending += count
    return true
  }

  /** Gives back what reserve() counted for readings that were not journaled. */
  unreserve (count: number): void {
    this.pending -= count
    this.settled()
  }

  /** Takes one more reading in without the bound (recovery of what was acknowledged before). */
  reserveRecovered (): void {
    this.pending++
  }

  /** [COL-9] Resolves once the readings awaiting sealing are back under maxUnsealed (undefined: they are). */
  caughtUp (): Promise<void> | undefined {
    if (this.pending <= this.init.maxUnsealed) return undefined
    return new Promise<void>(resolve => { this.held.push(resolve) })
  }

  /**
   * [COL-14] Seals a journaled, reserved reading for `recipients` and delivers it to the sinks,
   * which release its row once they all hold it. A reading that cannot be sealed now stays in
   * the journal and is sealed at the next start.
   */
  seal (id: JournalHandle, reading: CollectedReading, recipients: readonly Recipient[]): void {
    const header = { sensor: reading.sensorId, ts: reading.ts, seq: reading.seq }
    this.c.sealer.seal(header, reading.plaintext, recipients).then(envelope => {
      // the sealing lag: acceptance (the reading's ts) to sealed
      this.c.metrics.sealed((Date.now() - reading.ts) / 1000)
      this.c.delivery.push({ sensorId: reading.sensorId, ts: reading.ts, seq: reading.seq, envelope }, id)
    }, (err: unknown) => {
      this.c.logger.error({ code: isGatemeshError(err) ? err.code : 'GM_ERR_COLLECTOR_INTERNAL', sensor: reading.sensorId }, 'sealing failed; the reading stays journaled')
    }).finally(() => {
      this.pending--
      this.settled()
    })
  }

  private settled (): void {
    if (this.pending <= this.init.maxUnsealed && this.held.length > 0) for (const resolve of this.held.splice(0)) resolve()
    if (this.pending === 0) for (const resolve of this.idle.splice(0)) resolve()
  }

  /** Resolves once nothing reserved awaits sealing. */
  async drained (): Promise<void> {
    if (this.pending > 0) await new Promise<void>(resolve => { this.idle.push(resolve) })
  }

  /** [COL-11] [ENV-5] The recipients for this record; a new record drops contexts no list needs. */
  recipients (info: SensorInfo): readonly Recipient[] {
    const known = this.lists.get(info.sensorId)
    if (known !== undefined && known.seq >= info.seq) return known.recipients
    // frozen: the seal pool knows a list again by identity ([COL-23])
    const recipients = Object.freeze(sensorRecipients(info))
    if (this.lists.size >= MAX_LISTS) this.lists.clear()
    this.lists.set(info.sensorId, { seq: info.seq, recipients })
    if (known !== undefined) {
      const keep: Recipient[] = []
      for (const list of this.lists.values()) keep.push(...list.recipients)
      this.c.sealer.retainOnly(keep)
      this.c.logger.info({ sensor: info.sensorId, seq: info.seq, recipients: recipients.length }, 'access list changed')
    }
    return recipients
  }
}
