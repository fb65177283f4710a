/**
 * The latest publisher: puts each sensor's newest sealed reading into the DHT as a gateway-signed
 * `latest` record under `/gm-latest/<sensorId>`. Coalesced per sensor: at most one put in flight
 * and at most one put per interval per sensor; the newest seq wins; a failed put is retried with
 * exponential backoff unless a newer reading replaced it. [COL-20] .. [COL-22]
 *
 * A reading sink that retries by itself ([COL-14]): `deliver` settles once, for each sensor of
 * the batch, a record at least as new as the batch's newest reading of it is in the DHT (a put
 * succeeded, or was refused because a newer record is held). A failed put is retried here
 * ([COL-22]), and the batch waits for it; it rejects only when the publisher stops. Until it
 * settles the readings stay journaled, so a crash between the acknowledgement and the put loses
 * nothing ([COL-7]). A batch whose readings of a sensor are superseded by a newer reading of it
 * in a later batch is settled for that sensor at once: the later batch, still journaled, carries
 * the promise. It keeps only each sensor's newest reading, so the others die young. It tells the
 * delivery how long a batch given now may wait for its turn in the put budget
 * (`expectedDelayMs`), so that a long queue of fast sensors is not counted late ([COL-14]).
 */
import { isGatemeshError, signRecord } from '../../core/index.ts'
import type { CryptoSuite, SigningKey } from '../../core/index.ts'
import { createLogger, type Logger } from '../../platform/logger.ts'
import { GatemeshError } from '../../core/index.ts'
import type { ReadingSink, SealedReading } from '../pipeline/index.ts'

export const LATEST_RECORD_TYPE = 'latest'
export const LATEST_NAMESPACE = 'gm-latest'
/**
 * [COL-20] At most one put per sensor per second by default. Each put is a kad-dht look-up and a
 * PUT_VALUE to every near peer (a new libp2p stream each): at 200 ms, 16 sensors at 1 000
 * readings/s made 80 puts a second and saturated a 3-peer network on 2 cores (docs/PERFORMANCE.md).
 */
export const LATEST_INTERVAL_MS = 1000
/**
 * [COL-20] At most this many puts a second for the whole gateway by default, shared by the
 * sensors in turn: a put cost the collector's main thread several milliseconds (a look-up and a
 * stream to each near peer), and 64 fast sensors at one put a second each took about a third of
 * it at 1 000 readings/s (docs/PERFORMANCE.md). Below this many fast sensors nothing changes.
 */
export const LATEST_PUTS_PER_SECOND = 10

export interface LatestPublisherComponents {
  suite: CryptoSuite
  /** The gateway's libp2p Ed25519 key: the overlay derives the peer id from the record's signer. */
  signer: SigningKey
  /** The gateway's certificate (DER), carried in every record ([OVL-17]). */
  certificate: Uint8Array
  /** Stores a record in the DHT (the overlay's put). */
  put: (key: string, value: Uint8Array) => Promise<unknown>
  logger?: Logger
}

export interface LatestPublisherInit {
  /** At most one put per sensor per interval (default LATEST_INTERVAL_MS). */
  intervalMs?: number
  /** At most this many puts a second in all, sensors in turn (default LATEST_PUTS_PER_SECOND); a burst of one second's worth. */
  putsPerSecond?: number
  maxBackoffMs?: number
  /** How long stop() waits for puts to drain. */
  stopTimeoutMs?: number
  now?: () => number
}

export interface LatestPublisher extends ReadingSink {
  /** Takes a reading without waiting for its put (what `deliver` does for each reading). */
  offer: (reading: SealedReading) => void
  start: () => void
  /** Puts every sensor's pending reading now and waits for those puts to settle. */
  flush: () => Promise<void>
  /** Stops taking readings and drains (bounded by stopTimeoutMs). */
  stop: () => Promise<void>
  /** The certificate to carry from now on (after a renewal). */
  setCertificate: (certificate: Uint8Array) => void
  /** [COL-20] How long a batch given now may wait for its puts: the sensors queued for the budget, in turn, and an interval. */
  expectedDelayMs: () => number
}

interface SensorState {
  /** The newest reading not yet put. */
  pending?: SealedReading
  inFlight?: Promise<void>
  /** Highest seq put or being put. */
  highest: number
  lastPutAt: number
  failures: number
  retryAt: number
  /** In `due`, waiting for its turn to be signed and put. */
  queued: boolean
  /** Highest seq whose put succeeded, or was refused for a newer record held. */
  confirmed: number
  /** Deliveries waiting for a put of at least `seq`, oldest first. */
  waiters: Waiter[]
}

/** One delivered batch: settles once every sensor of it has a put at least as new. */
interface BatchWait {
  left: number
  resolve: () => void
  reject: (err: unknown) => void
  settled: boolean
}

interface Waiter {
  seq: number
  batch: BatchWait
}

/**
 * Signing a record costs the event loop ~100 µs (the Ed25519 signature is 63): the puts that fall
 * due together (every coalesced sensor's, each interval) are signed a few per turn of the loop,
 * at most this long, so that the readings arriving meanwhile are not held behind all of them.
 */
const PUT_BUDGET_MS = 0.3

/** [COL-20] The DHT key of a sensor's latest reading. */
export function latestKey (sensorId: string): string {
  return `/${LATEST_NAMESPACE}/${sensorId}`
}

/** [COL-21] The record: `{ type: 'latest', key: sensorId, seq, body: { envelope, gatewayCert } }`. */
export async function createLatestRecord (suite: CryptoSuite, signer: SigningKey, certificate: Uint8Array, reading: SealedReading): Promise<Uint8Array> {
  return await signRecord(suite, signer, { type: LATEST_RECORD_TYPE, key: reading.sensorId, seq: reading.seq, body: { envelope: reading.envelope, gatewayCert: certificate } })
}

export function createLatestPublisher (components: LatestPublisherComponents, init: LatestPublisherInit = {}): LatestPublisher {
  const intervalMs = init.intervalMs ?? LATEST_INTERVAL_MS
  const putsPerSecond = init.putsPerSecond ?? LATEST_PUTS_PER_SECOND
  // [COL-20] the gateway's put budget: a token bucket of one second's worth
  const burst = Math.max(1, putsPerSecond)
  let tokens = burst
  let refilledAt = -Infinity
  const maxBackoffMs = init.maxBackoffMs ?? 30_000
  const stopTimeoutMs = init.stopTimeoutMs ?? 5000
  const now = init.now ?? Date.now
  const logger = components.logger ?? createLogger('gatemesh:latest')
  let certificate = components.certificate
  const states = new Map<string, SensorState>()
  const dirty = new Set<string>()
  /** Sensors whose put is due, in order; signed by drain, a few per turn. */
  const due: string[] = []
  let draining: ReturnType<typeof setImmediate> | undefined
  /** Waits for the budget's next put. */
  let budgetTimer: ReturnType<typeof setTimeout> | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false

  function enqueue (sensorId: string, state: SensorState): void {
    if (state.queued) return
    state.queued = true
    due.push(sensorId)
    if (budgetTimer === undefined) draining ??= setImmediate(drain)
  }

  /** Takes one put from the budget, or says how long until one is there. */
  function takeToken (): number {
    const t = now()
    if (t > refilledAt) tokens = Math.min(burst, tokens + (t - refilledAt) * putsPerSecond / 1000)
    refilledAt = t
    if (tokens >= 1) { tokens -= 1; return 0 }
    return Math.ceil((1 - tokens) * 1000 / putsPerSecond)
  }

  function drain (): void {
    draining = undefined
    budgetTimer = undefined
    const started = performance.now()
    let signed = 0
    while (due.length > 0 && !stopped && (signed === 0 || performance.now() - started < PUT_BUDGET_MS)) {
      const sensorId = due[0] as string
      const state = states.get(sensorId)
      // flush() may have put it meanwhile
      if (state === undefined || state.pending === undefined || state.inFlight !== undefined) {
        due.shift()
        if (state !== undefined) state.queued = false
        continue
      }
      const wait = takeToken()
      if (wait > 0) {
        // [COL-20] over the gateway's budget: the sensors wait their turn, oldest due first
        budgetTimer = setTimeout(drain, wait)
        budgetTimer.unref?.()
        return
      }
      due.shift()
      state.queued = false
      put(sensorId, state)
      signed++
    }
    if (due.length > 0 && !stopped) draining = setImmediate(drain)
  }

  function put (sensorId: string, state: SensorState): void {
    const reading = state.pending
    if (reading === undefined) return
    state.pending = undefined
    dirty.delete(sensorId)
    state.lastPutAt = now()
    state.inFlight = (async () => {
      try {
        const record = await createLatestRecord(components.suite, components.signer, certificate, reading)
        await components.put(latestKey(sensorId), record)
        state.failures = 0
        confirm(state, reading.seq)
      } catch (err) {
        // [COL-22] a newer record already held: nothing to retry
        if (isGatemeshError(err, 'GM_ERR_STALE_RECORD')) { confirm(state, reading.seq); return }
        // the deliveries waiting for this put wait for its retry
        state.failures++
        const backoff = Math.min(maxBackoffMs, intervalMs * 2 ** state.failures)
        state.retryAt = now() + backoff / 2 + Math.random() * backoff / 2
        logger.warn({ code: isGatemeshError(err) ? err.code : undefined, sensor: sensorId, failures: state.failures }, 'latest put failed, will retry')
        if (state.pending === undefined && !stopped) { state.pending = reading; dirty.add(sensorId) }
      } finally {
        state.inFlight = undefined
        if (state.pending !== undefined) schedule()
      }
    })()
  }

  /** A put of `seq` holds: the deliveries waiting for it or less are settled for this sensor. */
  function confirm (state: SensorState, seq: number): void {
    if (seq > state.confirmed) state.confirmed = seq
    settleWaiters(state, state.confirmed, undefined)
  }

  /**
   * [COL-20] A batch now waits on `state`'s sensor for a newer reading than earlier batches did:
   * their waiters with a lower seq are settled. The record only ever needs the newest reading,
   * and the newer one stays journaled until its own put holds (its batch settles only then), so
   * after a crash it is delivered again and put: releasing the older readings loses nothing the
   * latest record promises. Without this a reading's journal row lived a whole interval.
   */
  function supersede (state: SensorState, batch: BatchWait): void {
    const mine = state.waiters[state.waiters.length - 1]
    if (mine === undefined || mine.batch !== batch || state.waiters.length === 1) return
    const left: Waiter[] = []
    for (const waiter of state.waiters) {
      if (waiter === mine || waiter.seq >= mine.seq) { left.push(waiter); continue }
      const other = waiter.batch
      if (!other.settled && --other.left === 0) { other.settled = true; other.resolve() }
    }
    state.waiters = left
  }

  /** The publisher stops: the deliveries still waiting fail (their readings stay journaled). */
  function failWaiters (state: SensorState, err: unknown): void {
    settleWaiters(state, Infinity, err)
  }

  /** Settles the waiters of seq `upTo` or less (readings may come out of seq order): resolved, or rejected with `err`. */
  function settleWaiters (state: SensorState, upTo: number, err: unknown): void {
    if (state.waiters.length === 0) return
    const left: Waiter[] = []
    for (const waiter of state.waiters) {
      const batch = waiter.batch
      if (waiter.seq > upTo) left.push(waiter)
      else if (batch.settled) continue
      else if (err !== undefined) { batch.settled = true; batch.reject(err) } else if (--batch.left === 0) { batch.settled = true; batch.resolve() }
    }
    state.waiters = left
  }

  function stateOf (sensorId: string): SensorState {
    let state = states.get(sensorId)
    if (state === undefined) {
      state = { highest: -1, lastPutAt: -Infinity, failures: 0, retryAt: 0, queued: false, confirmed: -1, waiters: [] }
      states.set(sensorId, state)
    }
    return state
  }

  function offer (reading: SealedReading): void {
    if (stopped) return
    const state = stateOf(reading.sensorId)
    if (reading.seq <= state.highest) return
    state.highest = reading.seq
    state.pending = reading
    dirty.add(reading.sensorId)
    if (eligible(state, now())) enqueue(reading.sensorId, state)
    else schedule()
  }

  function eligible (state: SensorState, t: number): boolean {
    return state.pending !== undefined && state.inFlight === undefined && t - state.lastPutAt >= intervalMs && t >= state.retryAt
  }

  function tick (): void {
    timer = undefined
    const t = now()
    for (const sensorId of dirty) {
      const state = states.get(sensorId)
      if (state === undefined) { dirty.delete(sensorId); continue }
      if (eligible(state, t)) enqueue(sensorId, state)
    }
    // forget idle sensors
    if (states.size > 10_000) {
      for (const [id, state] of states) {
        if (state.pending === undefined && state.inFlight === undefined && !state.queued && state.waiters.length === 0 && t - state.lastPutAt > 60_000) states.delete(id)
      }
    }
    if (dirty.size > 0) schedule()
  }

  function schedule (): void {
    if (timer !== undefined || stopped) return
    timer = setTimeout(tick, intervalMs)
    timer.unref?.()
  }

  async function flush (): Promise<void> {
    for (const sensorId of [...dirty]) {
      const state = states.get(sensorId)
      if (state?.pending !== undefined && state.inFlight === undefined) put(sensorId, state)
    }
    await Promise.all([...states.values()].map(async s => { await s.inFlight }))
  }

  return {
    start () { stopped = false },
    name: 'latest',
    retriesItself: true,
    // [COL-20] newest wins; a fast sensor costs at most one put per interval
    offer,
    async deliver (readings) {
      if (stopped) throw new GatemeshError('GM_ERR_SINK_STOPPED')
      await new Promise<void>((resolve, reject) => {
        const batch: BatchWait = { left: 0, resolve, reject, settled: false }
        let touched: SensorState[] | undefined
        for (const reading of readings) {
          offer(reading)
          const state = stateOf(reading.sensorId)
          if (reading.seq <= state.confirmed) continue
          // one waiter per sensor and batch, for the batch's newest reading of it
          const last = state.waiters[state.waiters.length - 1]
          if (last?.batch === batch) { if (reading.seq > last.seq) last.seq = reading.seq; continue }
          state.waiters.push({ seq: reading.seq, batch })
          batch.left++
          ;(touched ??= []).push(state)
        }
        if (batch.left === 0) { batch.settled = true; resolve() }
        // [COL-20] the earlier batches' older readings of these sensors are superseded
        if (touched !== undefined) for (const state of touched) supersede(state, batch)
      })
    },
    flush,
    async stop () {
      if (stopped) return
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      let expired: ReturnType<typeof setTimeout> | undefined
      await Promise.race([flush(), new Promise<void>(resolve => { expired = setTimeout(resolve, stopTimeoutMs) })])
      clearTimeout(expired)
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      if (draining !== undefined) clearImmediate(draining)
      draining = undefined
      if (budgetTimer !== undefined) clearTimeout(budgetTimer)
      budgetTimer = undefined
      due.length = 0
      const err = new GatemeshError('GM_ERR_SINK_STOPPED')
      for (const state of states.values()) failWaiters(state, err)
      states.clear()
      dirty.clear()
    },
    setCertificate (next) { certificate = next },
    // [COL-14] [COL-20] a sensor of a batch given now waits at most an interval to be due, then
    // for the sensors queued before it, putsPerSecond a second (the burst only makes it sooner)
    expectedDelayMs () { return intervalMs + due.length * 1000 / putsPerSecond }
  }
}
