/**
 * Sealing after a revalidation. A reading accepted on a stale sensor record (served while the
 * directory refreshes it, [COL-10]) is journaled and acknowledged at once, but sealed only once
 * the refresh has settled, for the refreshed record's access list: a revocation is never
 * sealed for past it ([COL-11], [ENV-5]). The readings of a sensor are handed to sealing in the
 * order they were accepted: while one waits, later ones of that sensor (even on a fresh record)
 * wait behind it. [COL-7] [COL-10] [COL-11] [COL-13]
 */
import { isGatemeshError } from '../../core/index.ts'
import type { Recipient, SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { CollectedReading, JournalHandle } from './journal.ts'
import type { SealingDispatch } from './sealing.ts'

export interface RevalidatedSealingComponents {
  sealing: SealingDispatch
  /**
   * The sensor's record once the directory's refresh has settled ([COL-10]): undefined when the
   * look-up found none; throws when it cannot be had. Either way the readings wait and it is asked again.
   */
  lookup: (sensorId: string) => Promise<SensorInfo | undefined>
  logger: Logger
}

export interface RevalidatedSealingInit {
  /** [COL-13] How long readings whose sensor cannot be looked up wait before the next try. */
  retryMs: number
}

interface Waiting {
  id: JournalHandle
  reading: CollectedReading
  /** The list of the fresh record the reading was accepted on; undefined: the refreshed record's. */
  recipients: readonly Recipient[] | undefined
  /** Whether the reading counts as pending in the sealing dispatch ([COL-9]). */
  counted: boolean
}

interface Queue {
  items: Waiting[]
  /** Set while the queue waits to look its sensor up again, after a failure. */
  timer?: ReturnType<typeof setTimeout>
}

export class RevalidatedSealing {
  private readonly c: RevalidatedSealingComponents
  private readonly retryMs: number
  /** Per sensor, the readings waiting for its refresh, in the order they were accepted. */
  private readonly queues = new Map<string, Queue>()
  private stopped = false

  constructor (components: RevalidatedSealingComponents, init: RevalidatedSealingInit) {
    this.c = components
    this.retryMs = init.retryMs
  }

  /**
   * Seals a journaled reading, reserved in the sealing dispatch, for `recipients` (the list of the
   * fresh record it was accepted on), or, when undefined, for the list of the sensor's record
   * once its refresh settles. Either way after any earlier reading of the sensor still waiting.
   */
  seal (id: JournalHandle, reading: CollectedReading, recipients: readonly Recipient[] | undefined): void {
    const queue = this.queues.get(reading.sensorId)
    if (queue !== undefined) {
      queue.items.push({ id, reading, recipients, counted: true })
      // a fresh record now (the directory answers again): no need to wait for the retry
      if (recipients !== undefined && queue.timer !== undefined) this.settle(reading.sensorId, queue)
      return
    }
    if (recipients !== undefined) {
      this.c.sealing.seal(id, reading, recipients)
      return
    }
    const waiting: Queue = { items: [{ id, reading, recipients, counted: true }] }
    this.queues.set(reading.sensorId, waiting)
    this.settle(reading.sensorId, waiting)
  }

  /** No more retries: the readings still waiting stay journaled, for the next start ([COL-13]). */
  stop (): void {
    this.stopped = true
    for (const [sensorId, queue] of this.queues) {
      if (queue.timer === undefined) continue // a look-up in flight settles them
      clearTimeout(queue.timer)
      this.uncount(queue)
      this.queues.delete(sensorId)
    }
  }

  private settle (sensorId: string, queue: Queue): void {
    clearTimeout(queue.timer)
    queue.timer = undefined
    this.c.lookup(sensorId).then(info => {
      if (info === undefined) {
        // [COL-11] [COL-13] the reading was accepted on a verified record and sensors are never
        // deleted: a look-up that finds none (the directory no longer held the entry) is a
        // partial answer, and the readings are kept and looked up again, as recovery does
        this.retryLater(sensorId, queue, 'GM_ERR_SENSOR_UNKNOWN', 'sensor record not found on refresh; its readings stay journaled, looked up again later')
        return
      }
      if (this.queues.get(sensorId) === queue) this.queues.delete(sensorId)
      const { sealing } = this.c
      // [COL-11] the refreshed record's list (the directory never answers an older record)
      const current = sealing.recipients(info)
      for (const item of queue.items) {
        if (!item.counted) sealing.reserveRecovered()
        sealing.seal(item.id, item.reading, item.recipients ?? current)
      }
    }, (err: unknown) => {
      // [COL-13] the record is past maxStaleMs and cannot be refreshed
      this.retryLater(sensorId, queue, isGatemeshError(err) ? err.code : 'GM_ERR_SENSOR_DIRECTORY', 'sensor record not refreshed; its readings stay journaled, retried later')
    })
  }

  /** [COL-13] The readings stay journaled, uncounted (as recovery's), and the look-up is tried again after retryMs. */
  private retryLater (sensorId: string, queue: Queue, code: string, message: string): void {
    this.uncount(queue)
    this.c.logger.warn({ code, sensor: sensorId, readings: queue.items.length }, message)
    if (this.stopped) { if (this.queues.get(sensorId) === queue) this.queues.delete(sensorId); return }
    queue.timer = setTimeout(() => { this.settle(sensorId, queue) }, this.retryMs)
    queue.timer.unref()
  }

  private uncount (queue: Queue): void {
    let n = 0
    for (const item of queue.items) if (item.counted) { item.counted = false; n++ }
    if (n > 0) this.c.sealing.unreserve(n)
  }
}
