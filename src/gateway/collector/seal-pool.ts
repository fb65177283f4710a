/**
 * [COL-23] Sealing off the event loop: worker threads that each hold their own EnvelopeSealer
 * (node:crypto suite, HPKE contexts, the gateway's signing key) and seal the readings the main
 * thread sends them. Sealing and signing are most of a reading's CPU; on the event loop they
 * would queue every PUBACK and HTTP answer behind them, so under load one turn's sealing would
 * decide the latency tail. Here the event loop only parses, authenticates, journals and
 * acknowledges; sealing follows the acknowledgement ([COL-7]). The readings of one message are
 * signed together, once ([ENV-9]).
 *
 * The readings that arrive within `batchWindowMs` go to a worker as one message (a full one of
 * `maxBatch` at once): the readings packed into one transferred buffer (see `packBatch`, seal-thread.ts), each
 * naming its access list by number; a list goes to a thread once, with the first message that
 * uses it. The worker answers with the envelopes packed into one transferred buffer. Structured
 * clones of an object per reading and of every list per message cost the event loop ~11 µs a
 * reading at 5 000 readings/s (profiled); the packed form costs it a copy of each reading's
 * bytes. Each worker sets up its own HPKE context per recipient, so contexts are
 * never shared between threads and counter nonces stay unique per context ([ENV-3]). A worker that
 * dies fails the readings it held (GM_ERR_COLLECTOR_INTERNAL: they stay journaled and are sealed at
 * the next start, [COL-13]) and is replaced while fewer than `workers` run; readings that arrive
 * meanwhile wait for the new one.
 */
import { Worker } from 'node:worker_threads'
import { GatemeshError, allocBytes } from '../../core/index.ts'
import type { ReadingHeader, Recipient } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import { packBatch, type PostedRecipient, type Reply, type Request } from './seal-thread.ts'

/** What the ingest needs of a sealer: EnvelopeSealer in-thread, or this pool. */
export interface ReadingSealer {
  /**
   * Seals a reading for `recipients`, an access list the caller never changes: the pool sends
   * each list to a thread once and knows it again by identity, so it takes only frozen lists.
   */
  seal: (header: ReadingHeader, plaintext: Uint8Array, recipients: readonly Recipient[]) => Promise<Uint8Array>
  retainOnly: (keep: readonly Recipient[]) => void
}

/** [COL-23] The default wait for a message to fill. */
export const DEFAULT_BATCH_WINDOW_MS = 5

export interface SealPoolInit {
  /** The gateway's 32-byte Ed25519 seed; it is copied to each worker and to nowhere else. */
  seed: Uint8Array
  /** Threads always running. */
  workers: number
  /**
   * Threads at most (default `workers`): while the least busy thread has had more than 8 full
   * messages waiting for `behindForMs`, sealing is behind, and the pool starts another; while
   * more than `workers` run, a thread that has had nothing to do for `idleRetireMs` (checked
   * every half of it) is stopped again.
   */
  maxWorkers?: number
  idleRetireMs?: number
  /**
   * How long sealing must stay behind before a thread is added (default 250 ms). A backlog that
   * one thread clears within it, after a stall of the machine or a burst, adds none: on a
   * machine whose cores are all busy, another thread adds no CPU, only its own wake-ups.
   */
  behindForMs?: number
  /** Readings per message to a worker. */
  maxBatch?: number
  /**
   * How long the first reading of a message waits for others (ms; 0: until the end of the
   * event-loop turn). Sealing follows the acknowledgement, so this delays only the hand-off,
   * and fuller messages mean fewer signatures ([ENV-9]) and fewer thread wake-ups.
   */
  batchWindowMs?: number
  /**
   * Told of each sealing thread once it is ready, with the means to stop it: for a supervisor
   * (and the test that kills a thread to see its readings failed and the thread replaced).
   */
  onThreadStarted?: (thread: { terminate: () => Promise<number> }) => void
  logger: Logger
}

/**
 * A copy holding only the view's bytes: a view posted to a worker takes its whole ArrayBuffer
 * along (Node's pooled Buffers share 8 KiB ones).
 */
function compact (view: Uint8Array): Uint8Array {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view : view.slice()
}

interface Item {
  header: ReadingHeader
  plaintext: Uint8Array
  recipients: readonly Recipient[]
  resolve: (envelope: Uint8Array) => void
  reject: (err: unknown) => void
}

/**
 * Full messages in flight on the least busy thread past which sealing is behind (the pool adds a
 * thread): 256 readings, what arrives in 50 ms at 5 000 readings/s, so a short stall of the
 * machine does not start one.
 */
const BEHIND_MESSAGES = 8
/** Access lists a thread keeps; past this many, the next message tells it to forget them all. */
const MAX_THREAD_LISTS = 4096
interface Thread {
  worker: Worker
  /**
   * Batches sent and not answered, oldest first: a thread answers in that order as a rule, and
   * `settle` looks past the first only when it does not. Not a Map: a V8 Map
   * with this churn rehashes often, and each table it leaves behind links to the next one (for
   * iterators). Once one such table was promoted to the old generation, every later table was
   * kept alive by the one before it until the next full GC, and with each the closures and
   * promises of the readings its batches held: at 5 000 readings/s the event loop's isolate
   * promoted ~450 KB per scavenge, nearly every reading's garbage, and ran a mark-compact of
   * 7-20 ms every few seconds, the PUBACK tail. With an array, runs promote 5-65 KB per
   * scavenge (--trace-gc-nvp); the runs that still promoted 250-400 KB did so through V8's
   * pretenuring, which the collector turns off (platform/v8-pretenuring.ts). What is left of the PUBACK
   * tail at 5 000/s is CPU contention, not GC (ARCHITECTURE.md, Data Collector).
   */
  inFlight: Array<{ id: number, items: Item[] }>
  items: number
  /** When the thread last had nothing in flight (ms, performance.now()). */
  idleSince: number
  /**
   * The access lists this thread holds, each with its number there: 1, 2, ... in the order they
   * were sent, starting again at 1 after each reset, so numbers stay small.
   */
  lists: Map<readonly Recipient[], number>
}

export class SealPool implements ReadingSealer {
  private readonly init: Required<Omit<SealPoolInit, 'onThreadStarted'>> & Pick<SealPoolInit, 'onThreadStarted'>
  private readonly threads: Thread[] = []
  private queue: Item[] = []
  private flushScheduled = false
  private nextId = 1
  /** Access lists posted to threads so far (see stats). */
  private listsSent = 0
  /** Threads being started to replace dead ones, and to catch up. */
  private replacing = 0
  private growing = 0
  /** Since when (performance.now()) the least busy thread has had a backlog past BEHIND_MESSAGES. */
  private behindSince?: number
  private retireTimer?: ReturnType<typeof setInterval>
  private closing = false
  private closed = false
  /** Told when the last answer is in, once closed. */
  private drained?: () => void

  constructor (init: SealPoolInit) {
    const workers = Math.max(1, init.workers)
    this.init = {
      ...init,
      workers,
      maxWorkers: Math.max(workers, init.maxWorkers ?? workers),
      maxBatch: init.maxBatch ?? 32,
      batchWindowMs: init.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS,
      idleRetireMs: init.idleRetireMs ?? 5000,
      behindForMs: init.behindForMs ?? 250
    }
  }

  /** Starts the workers; resolves once each has imported its signing key. */
  async start (): Promise<void> {
    await Promise.all(Array.from({ length: this.init.workers }, async () => { this.threads.push(await this.spawn()) }))
  }

  private async spawn (): Promise<Thread> {
    const worker = new Worker(new URL('./seal-thread.ts', import.meta.url), { workerData: { sealPool: true, seed: this.init.seed } })
    const thread: Thread = { worker, inFlight: [], items: 0, idleSince: performance.now(), lists: new Map() }
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject)
      worker.once('message', (reply: Reply) => {
        worker.off('error', reject)
        if (reply.type === 'ready') resolve()
        else reject(new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'The sealing thread did not start.'))
      })
    })
    worker.on('message', (reply: Reply) => { if (reply.type === 'sealed') this.settle(thread, reply) })
    worker.on('error', (err: Error) => { this.init.logger.error({ code: 'GM_ERR_COLLECTOR_INTERNAL', reason: err.message }, 'sealing thread failed') })
    worker.on('exit', () => { this.lost(thread) })
    worker.unref()
    this.init.onThreadStarted?.({ terminate: async () => await worker.terminate() })
    return thread
  }

  seal (header: ReadingHeader, plaintext: Uint8Array, recipients: readonly Recipient[]): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new GatemeshError('GM_ERR_COLLECTOR_STOPPED'))
    // a list is known again by identity (Thread.lists): one that could change after it was sent
    // would be sealed for its old members
    if (!Object.isFrozen(recipients)) return Promise.reject(new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'The seal pool takes frozen access lists only.'))
    if (this.threads.length === 0 && this.replacing === 0 && this.growing === 0) return Promise.reject(new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'No sealing thread is running.'))
    return new Promise((resolve, reject) => {
      this.queue.push({ header, plaintext, recipients, resolve, reject })
      if (this.queue.length >= this.init.maxBatch) this.flush()
      else if (!this.flushScheduled) {
        this.flushScheduled = true
        const flush = (): void => { this.flushScheduled = false; this.flush() }
        if (this.init.batchWindowMs > 0) setTimeout(flush, this.init.batchWindowMs)
        else setImmediate(flush)
      }
    })
  }

  /** [ENV-5] Every worker drops the contexts of recipients no longer on any list. */
  retainOnly (keep: readonly Recipient[]): void {
    const message: Request = { type: 'retain', keep: keep.map(r => ({ id: r.id, publicKey: compact(r.publicKey) })) }
    for (const thread of this.threads) thread.worker.postMessage(message)
  }

  /** Sends what waits to a worker, `maxBatch` readings per message; with no worker up, it waits for one. */
  private flush (): void {
    while (this.queue.length > 0 && this.threads.length > 0) {
      const items = this.queue.splice(0, this.init.maxBatch)
      // the first thread with less than a full message in flight, else the least busy: a thread
      // added while sealing was behind gets work only while it still is, and stops once idle
      const thread = this.threads.find(t => t.items < this.init.maxBatch) ?? this.threads.reduce((a, b) => b.items < a.items ? b : a)
      // an access list is an array of recipients, as the ingest keeps one per sensor record
      const reset = thread.lists.size >= MAX_THREAD_LISTS
      if (reset) thread.lists.clear()
      const lists: Array<[number, PostedRecipient[]]> = []
      const added: Array<readonly Recipient[]> = []
      const numbers = new Uint32Array(items.length)
      for (let i = 0; i < items.length; i++) {
        const { recipients } = items[i] as Item
        let list = thread.lists.get(recipients)
        if (list === undefined) {
          list = thread.lists.size + 1
          thread.lists.set(recipients, list)
          added.push(recipients)
          lists.push([list, recipients.map(r => ({ id: r.id, publicKey: compact(r.publicKey) }))])
        }
        numbers[i] = list
      }
      const id = this.nextId++
      try {
        const readings = packBatch(items)
        thread.worker.postMessage({ type: 'seal', id, readings, numbers, lists, reset } satisfies Request, [readings, numbers.buffer])
      } catch (err) {
        // not expected (the packing writes only what it measured). The lists were not sent: the
        // thread is not told of them. A number it still holds from before is sent again, with
        // its new list, before any reading names it. The readings stay journaled ([COL-13]).
        for (const list of added) thread.lists.delete(list)
        const error = new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'The readings could not be sent to a sealing thread.', { cause: err })
        for (const item of items) item.reject(error)
        continue
      }
      this.listsSent += lists.length
      thread.inFlight.push({ id, items })
      thread.items += items.length
      if (thread.items > BEHIND_MESSAGES * this.init.maxBatch) {
        const now = performance.now()
        this.behindSince ??= now
        if (now - this.behindSince >= this.init.behindForMs) this.grow()
      } else {
        this.behindSince = undefined
      }
    }
  }

  /** Sealing is behind: one more thread, up to maxWorkers. */
  private grow (): void {
    if (this.closing || this.threads.length + this.replacing + this.growing >= this.init.maxWorkers) return
    this.growing++
    this.spawn().then(thread => {
      this.growing--
      if (this.closed) { void thread.worker.terminate(); return }
      this.threads.push(thread)
      // another thread, if any may be added, only once sealing stays behind with this one too
      this.behindSince = undefined
      this.init.logger.info({ sealWorkers: this.threads.length }, 'sealing behind: thread added')
      this.retireTimer ??= setInterval(() => { this.retireIdle() }, Math.max(10, this.init.idleRetireMs / 2))
      this.retireTimer.unref()
      this.flush()
    }, (err: unknown) => {
      this.growing--
      this.init.logger.warn({ code: 'GM_ERR_COLLECTOR_INTERNAL', reason: (err as Error).message }, 'sealing thread could not be added')
    })
  }

  /** Stops a thread idle for idleRetireMs while more than `workers` run. */
  private retireIdle (): void {
    const now = performance.now()
    const idle = this.threads.filter(t => t.items === 0 && now - t.idleSince >= this.init.idleRetireMs)
    if (this.threads.length > this.init.workers && idle.length > 0) {
      const thread = idle.reduce((a, b) => b.idleSince < a.idleSince ? b : a)
      this.threads.splice(this.threads.indexOf(thread), 1)
      void thread.worker.terminate()
      this.init.logger.info({ sealWorkers: this.threads.length }, 'sealing thread idle: stopped')
    }
    if (this.threads.length <= this.init.workers) { clearInterval(this.retireTimer); this.retireTimer = undefined }
  }

  /** For diagnostics: threads running, access lists each holds, and lists posted to threads so far. */
  stats (): { threads: number, listsHeld: number[], listsSent: number } {
    return { threads: this.threads.length, listsHeld: this.threads.map(t => t.lists.size), listsSent: this.listsSent }
  }

  private settle (thread: Thread, reply: Extract<Reply, { type: 'sealed' }>): void {
    const at = thread.inFlight[0]?.id === reply.id ? 0 : thread.inFlight.findIndex(b => b.id === reply.id)
    if (at < 0) return
    const items = (thread.inFlight.splice(at, 1)[0] as { items: Item[] }).items
    thread.items -= items.length
    if (thread.items <= BEHIND_MESSAGES * this.init.maxBatch) this.behindSince = undefined
    if (thread.items === 0) thread.idleSince = performance.now()
    const view = new DataView(reply.packed)
    const bytes = new Uint8Array(reply.packed)
    let offset = 4 + 4 * items.length
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as Item
      const length = view.getUint32(4 + 4 * i)
      const error = reply.errors?.[i]
      if (error !== null && error !== undefined) item.reject(new GatemeshError(error.code as `GM_ERR_${string}`, error.message))
      else {
        // a copy of its own (from the core's slab), so a kept envelope keeps not the whole batch
        const envelope = allocBytes(length)
        envelope.set(bytes.subarray(offset, offset + length))
        item.resolve(envelope)
      }
      offset += length
    }
    this.checkDrained()
  }

  private checkDrained (): void {
    if (this.drained !== undefined && this.threads.every(t => t.inFlight.length === 0)) this.drained()
  }

  /** A worker exited: its readings fail, and a new worker takes its place while fewer than `workers` run. */
  private lost (thread: Thread): void {
    const at = this.threads.indexOf(thread)
    if (at < 0) return
    this.threads.splice(at, 1)
    const error = new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'The sealing thread stopped.')
    for (const { items } of thread.inFlight.splice(0)) for (const item of items) item.reject(error)
    this.checkDrained()
    // a thread beyond `workers` is not replaced; the pool grows again if sealing falls behind
    if (this.closed || this.threads.length + this.replacing >= this.init.workers) return
    this.replacing++
    this.spawn().then(replacement => {
      this.replacing--
      if (this.closed) { void replacement.worker.terminate(); return }
      this.threads.push(replacement)
      this.flush()
    }, (err: unknown) => {
      this.replacing--
      this.init.logger.error({ code: 'GM_ERR_COLLECTOR_INTERNAL', reason: (err as Error).message }, 'sealing thread could not be replaced')
      if (this.threads.length === 0 && this.replacing === 0 && this.growing === 0) for (const item of this.queue.splice(0)) item.reject(error)
    })
  }

  /** Seals what waits, then stops the workers once their answers are in. */
  async close (): Promise<void> {
    if (this.closed) return
    // no thread is added for what this last flush sends
    this.closing = true
    this.flush()
    this.closed = true
    clearInterval(this.retireTimer)
    // readings still waiting for a thread (none up) fail; they stay journaled ([COL-13])
    for (const item of this.queue.splice(0)) item.reject(new GatemeshError('GM_ERR_COLLECTOR_STOPPED'))
    // the threads are unref'd so that they never keep the process alive, but the wait for their
    // answers must: a process whose last work is this close would otherwise exit before them
    for (const thread of this.threads) thread.worker.ref()
    await new Promise<void>(resolve => { this.drained = resolve; this.checkDrained() })
    const threads = this.threads.splice(0)
    await Promise.all(threads.map(async t => await t.worker.terminate()))
  }
}
