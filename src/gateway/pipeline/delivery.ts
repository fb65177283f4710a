/**
 * Delivery: gives every sealed reading to every sink and releases its journal row only once all
 * of them have settled it. [COL-7] [COL-14]
 *
 * The readings pushed within one turn of the event loop go to each sink as one batch (the seal
 * pool settles a thread's whole message in one turn, so a batch is usually one message). A sink
 * that rejects a batch, throws, or does not settle it within `timeoutMs` is given the batch again
 * after a back-off (doubling from `retryMinMs` to `retryMaxMs`, with jitter) for as long as the
 * delivery runs; the other sinks are not asked again. A sink that retries by itself
 * (`retriesItself`) is given each batch once, and counted late (logged, never given again) only
 * after `timeoutMs` plus the delay it expects for that batch (`expectedDelayMs`, at most
 * `maxExpectedDelayMs`): the latest publisher's put budget makes a sensor wait its turn, past
 * 30 s with a few hundred fast sensors, while working as designed. When every sink retries by
 * itself, the delivery keeps only the batch's journal handles, not its readings, which then die
 * young (a reading kept for the latest publisher's interval, 200 ms then, outlived two scavenges
 * and lengthened the PUBACK tail). Meanwhile the readings stay journaled: a crash or a stop
 * leaves them to the next start, which seals and delivers them again (sinks take a reading twice
 * as once). What the delivery holds is bounded: past `maxHeld` readings awaiting
 * a sink, `full` is true and the collector refuses new readings ([COL-9]).
 */
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { ReadingSink, SealedReading } from './types.ts'

export const DEFAULT_DELIVERY = {
  timeoutMs: 30_000,
  retryMinMs: 500,
  retryMaxMs: 30_000,
  maxHeld: 50_000,
  maxExpectedDelayMs: 5 * 60_000
} as const

export interface DeliveryComponents<H> {
  sinks: readonly ReadingSink[]
  /** Called once for each reading every sink has settled: its journal row may go. */
  release: (handle: H) => void
  logger: Logger
}

export interface DeliveryInit {
  /** A batch a sink has not settled after this long counts as failed (GM_ERR_SINK_TIMEOUT). */
  timeoutMs?: number
  retryMinMs?: number
  retryMaxMs?: number
  /** Readings awaiting a sink past which `full` is true. */
  maxHeld?: number
  /**
   * The most of a sink's `expectedDelayMs` taken: a sink that retries by itself and stalls for
   * real is counted late at the latest `timeoutMs` plus this after it was given a batch, whatever
   * it expects. [COL-14]
   */
  maxExpectedDelayMs?: number
}

/** Counters per sink, for the admin status and the logs. */
export interface DeliveryStats {
  /** Readings pushed and not yet settled by every sink. */
  held: number
  maxHeld: number
  /** Per sink: readings settled, batches failed and timed out, whether it fails now, and readings it has not settled yet. */
  sinks: Record<string, { delivered: number, failedBatches: number, timedOut: number, failing: boolean, awaiting: number }>
}

interface Batch<H> {
  /** Emptied once given, when every sink retries by itself. */
  readings: SealedReading[]
  handles: H[]
  /** Sinks that have not settled the batch yet. */
  left: number
}

interface SinkState {
  sink: ReadingSink
  delivered: number
  failedBatches: number
  timedOut: number
  /** Readings given to it (in batches) that it has not settled yet. */
  awaiting: number
  /** Failed since its last success: logged once when it starts, once when it ends. */
  failing: boolean
}

export class Delivery<H> {
  private readonly release: (handle: H) => void
  private readonly logger: Logger
  private readonly init: Required<DeliveryInit>
  private readonly sinks: SinkState[]
  private readings: SealedReading[] = []
  private handles: H[] = []
  private scheduled?: ReturnType<typeof setImmediate>
  private heldCount = 0
  private warnedFull = false
  private readonly retries = new Set<ReturnType<typeof setTimeout>>()
  private readonly idle: Array<() => void> = []
  private stopped = false
  /** Every sink retries by itself: a batch's readings are not kept once given. */
  private readonly keepNone: boolean

  constructor (components: DeliveryComponents<H>, init: DeliveryInit = {}) {
    this.release = components.release
    this.logger = components.logger
    this.init = { ...DEFAULT_DELIVERY, ...init }
    this.sinks = components.sinks.map(sink => ({ sink, delivered: 0, failedBatches: 0, timedOut: 0, awaiting: 0, failing: false }))
    this.keepNone = this.sinks.every(s => s.sink.retriesItself === true)
    const names = new Set(this.sinks.map(s => s.sink.name))
    if (names.size !== this.sinks.length) throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', 'Two reading sinks have the same name.')
  }

  /** Readings awaiting a sink. */
  get held (): number {
    return this.heldCount
  }

  /** True while `maxHeld` or more readings await a sink: take no new ones. */
  get full (): boolean {
    return this.heldCount >= this.init.maxHeld
  }

  /** Gives a sealed reading to every sink; `handle` is released once all have settled it. */
  push (reading: SealedReading, handle: H): void {
    if (this.stopped) return
    if (this.sinks.length === 0) { this.release(handle); return }
    this.readings.push(reading)
    this.handles.push(handle)
    this.heldCount++
    if (this.heldCount >= this.init.maxHeld && !this.warnedFull) {
      this.warnedFull = true
      this.logger.warn({ code: 'GM_ERR_BUSY', held: this.heldCount, sinks: this.failingSinks() }, 'readings awaiting a sink reached the bound; new readings are refused until they drain')
    }
    this.scheduled ??= setImmediate(() => { this.flushBatch() })
  }

  private flushBatch (): void {
    this.scheduled = undefined
    if (this.readings.length === 0) return
    const batch: Batch<H> = { readings: this.readings, handles: this.handles, left: this.sinks.length }
    this.readings = []
    this.handles = []
    for (const state of this.sinks) {
      state.awaiting += batch.handles.length
      this.attempt(batch, state, 0)
    }
    if (this.keepNone) batch.readings = []
  }

  private attempt (batch: Batch<H>, state: SinkState, failures: number): void {
    let pending: Promise<void>
    try {
      pending = state.sink.deliver(batch.readings)
    } catch (err) {
      this.failed(batch, state, failures, err)
      return
    }
    // asked once the sink has the batch: what it expects includes the batch itself
    const waitMs = this.deadline(state.sink)
    let settled = false
    // called only from the timer or the promise, both after `timer` is set
    const settle = (err?: unknown): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err === undefined) this.succeeded(batch, state)
      else this.failed(batch, state, failures, err)
    }
    const timer = setTimeout(() => {
      // a sink that retries by itself is waited for, not asked again
      if (state.sink.retriesItself === true) this.late(batch, state, waitMs)
      else settle(new GatemeshError('GM_ERR_SINK_TIMEOUT'))
    }, waitMs)
    timer.unref()
    pending.then(() => { settle() }, settle)
  }

  /**
   * [COL-14] How long a batch given now may take before it counts as late: the time-out, plus, for
   * a sink that retries by itself, the delay it expects (a positive number, at most
   * `maxExpectedDelayMs`, so that a sink that misjudges it still shows a real stall).
   */
  private deadline (sink: ReadingSink): number {
    if (sink.retriesItself !== true || sink.expectedDelayMs === undefined) return this.init.timeoutMs
    let expected: number
    try {
      expected = sink.expectedDelayMs()
    } catch {
      expected = 0
    }
    return this.init.timeoutMs + (expected > 0 ? Math.min(expected, this.init.maxExpectedDelayMs) : 0)
  }

  /** A sink that retries by itself has not settled a batch in time: counted and logged, still awaited. */
  private late (batch: Batch<H>, state: SinkState, waitedMs: number): void {
    state.timedOut++
    if (state.failing) return
    state.failing = true
    this.logger.warn({ sink: state.sink.name, code: 'GM_ERR_SINK_TIMEOUT', readings: batch.handles.length, waitedMs }, 'reading sink has not settled a batch in time; its readings stay journaled until it does')
  }

  private succeeded (batch: Batch<H>, state: SinkState): void {
    state.delivered += batch.handles.length
    state.awaiting -= batch.handles.length
    if (state.failing) {
      state.failing = false
      this.logger.info({ sink: state.sink.name }, 'reading sink delivers again')
    }
    if (--batch.left > 0) return
    for (const handle of batch.handles) this.release(handle)
    this.heldCount -= batch.handles.length
    if (this.heldCount < this.init.maxHeld / 2) this.warnedFull = false
    if (this.heldCount === 0) for (const resolve of this.idle.splice(0)) resolve()
  }

  private failed (batch: Batch<H>, state: SinkState, failures: number, err: unknown): void {
    state.failedBatches++
    const code = isGatemeshError(err) ? err.code : 'GM_ERR_COLLECTOR_INTERNAL'
    if (code === 'GM_ERR_SINK_TIMEOUT') state.timedOut++
    if (!state.failing) {
      state.failing = true
      this.logger.warn({ sink: state.sink.name, code, readings: batch.handles.length }, 'reading sink failed; its readings stay journaled and are delivered again')
    }
    // one that retries by itself fails a batch only as it stops: the next start delivers it
    if (this.stopped || state.sink.retriesItself === true) return
    const backoff = Math.min(this.init.retryMaxMs, this.init.retryMinMs * 2 ** failures)
    const retry = setTimeout(() => {
      this.retries.delete(retry)
      if (!this.stopped) this.attempt(batch, state, failures + 1)
    }, backoff / 2 + Math.random() * backoff / 2)
    retry.unref()
    this.retries.add(retry)
  }

  private failingSinks (): string[] {
    return this.sinks.filter(s => s.failing).map(s => s.sink.name)
  }

  /** Asks the sinks to hurry, and resolves once nothing awaits a sink. */
  async drain (): Promise<void> {
    if (this.heldCount === 0) return
    const idle = new Promise<void>(resolve => { this.idle.push(resolve) })
    await Promise.allSettled(this.sinks.map(async s => { await s.sink.flush?.() }))
    await idle
  }

  /** Stops retrying: what awaits a sink stays journaled, for the next start. */
  stop (): void {
    this.stopped = true
    if (this.scheduled !== undefined) clearImmediate(this.scheduled)
    this.scheduled = undefined
    for (const retry of this.retries) clearTimeout(retry)
    this.retries.clear()
    this.readings = []
    this.handles = []
  }

  stats (): DeliveryStats {
    const sinks: DeliveryStats['sinks'] = {}
    // readings pushed but not yet given (the next turn's batch) await every sink too
    for (const s of this.sinks) sinks[s.sink.name] = { delivered: s.delivered, failedBatches: s.failedBatches, timedOut: s.timedOut, failing: s.failing, awaiting: s.awaiting + this.readings.length }
    return { held: this.heldCount, maxHeld: this.init.maxHeld, sinks }
  }
}
