/**
 * The Data Collector service: HTTP and MQTT ingest over one pipeline (journal and acknowledge;
 * then seal, sign, deliver to the sinks). `createCollector(components, init)`; `start()` opens the
 * journal, starts the listeners and seals what a previous run journaled but whose sinks did not
 * all settle it; `stop()` drains and closes.
 */
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { EnvelopeSealer } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { turnOffPretenuring } from '../../platform/v8-pretenuring.ts'
import { Delivery, type DeliveryStats } from '../pipeline/index.ts'
import type { FastifyInstance } from 'fastify'
import { createHttpIngest } from './http.ts'
import { Ingest } from './ingest.ts'
import { Journal, type JournalHandle } from './journal.ts'
import { MAX_CONNECTIONS, createMqttIngest, type MqttIngest } from './mqtt.ts'
import { RateLimiter } from './rate-limit.ts'
import { SealPool, type ReadingSealer } from './seal-pool.ts'
import { Sequencer } from './sequencer.ts'
import type { CollectorComponents, CollectorInit, RateLimit } from './types.ts'

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 100, burst: 200 }
export const DEFAULT_MAX_BATCH = 100
export const HTTP_BODY_LIMIT = 1024 * 1024
/** [COL-23] One sealing thread per core beyond the event loop's, at least 1, at most 4 (a Raspberry Pi 4 gets 3). */
export const DEFAULT_SEAL_WORKERS = Math.max(1, Math.min(4, availableParallelism() - 1))
/**
 * [COL-23] While sealing is behind (acknowledgements then wait for it, [COL-9]), one more thread,
 * on the event loop's core too: the event loop then has little else to do. It stops again after
 * 5 s with nothing to seal.
 */
export const DEFAULT_MAX_SEAL_WORKERS = Math.max(DEFAULT_SEAL_WORKERS, Math.min(4, availableParallelism()))
/** [COL-9] Acknowledgements wait while more readings than this await sealing. */
export const DEFAULT_MAX_UNSEALED = 2048
/** How long a stop waits for readings being sealed and delivered, and how often journaled readings whose sensor could not be looked up are retried. */
const DRAIN_MS = 10_000
const RECOVER_RETRY_MS = 10_000

export interface Collector {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** The bound ports once started (useful with port 0). */
  readonly httpPort: number | undefined
  readonly mqttPort: number | undefined
  /** The readings awaiting the sinks and each sink's counters ([COL-14]); undefined when stopped. */
  deliveryStats: () => DeliveryStats | undefined
  /** Readings in the journal not yet settled by every sink ([COL-14]); 0 when stopped. */
  journalDepth: () => number
}

export function createCollector (components: CollectorComponents, init: CollectorInit): Collector {
  const logger = components.logger ?? createLogger('gatemesh:collector')
  const now = init.now ?? Date.now
  const journal = new Journal({
    path: join(init.dataDir, 'collector.db'),
    secret: components.signingSeed,
    intervalMs: init.commitIntervalMs ?? 0,
    maxRows: init.commitMaxRows ?? 512,
    sync: init.journalSync ?? 'normal'
  })
  let ingest: Ingest | undefined
  let delivery: Delivery<JournalHandle> | undefined
  let http: FastifyInstance | undefined
  let mqtt: MqttIngest | undefined
  let httpPort: number | undefined
  let pool: SealPool | undefined
  let retry: ReturnType<typeof setTimeout> | undefined
  let started = false

  async function stop (): Promise<void> {
    if (!started) return
    started = false
    ingest?.stop()
    // Fastify's close waits for requests in flight; Aedes closes its clients.
    await Promise.allSettled([http?.close(), mqtt?.close()])
    http = undefined
    mqtt = undefined
    httpPort = undefined
    clearTimeout(retry)
    // what was acknowledged is sealed and delivered before the journal closes (or, should that
    // take too long, after the next start: what the sinks did not settle stays journaled)
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([ingest?.drain(), new Promise(resolve => { timer = setTimeout(resolve, DRAIN_MS) })])
    clearTimeout(timer)
    delivery?.stop()
    delivery = undefined
    await pool?.close()
    pool = undefined
    await journal.close()
    logger.info('collector stopped')
  }

  return {
    get httpPort () { return httpPort },
    get mqttPort () { return mqtt?.port },
    deliveryStats: () => delivery?.stats(),
    journalDepth: () => journal.depth(),
    async start () {
      if (started) return
      started = true
      // the readings' garbage must die young: see platform/v8-pretenuring.ts
      turnOffPretenuring()
      const workers = init.sealWorkers ?? DEFAULT_SEAL_WORKERS
      // a number of threads the operator chose is kept as it is
      const maxWorkers = init.sealWorkers ?? DEFAULT_MAX_SEAL_WORKERS
      if (workers > 0) pool = new SealPool({ seed: components.signingSeed, workers, maxWorkers, logger })
      const sealer: ReadingSealer = pool ?? new EnvelopeSealer({ suite: components.suite, signer: await components.suite.importSigningKey(components.signingSeed) })
      const currentDelivery = new Delivery<JournalHandle>({ sinks: components.sinks, release: handle => { journal.release(handle) }, logger }, init.delivery)
      delivery = currentDelivery
      const current = new Ingest({
        suite: components.suite,
        sealer,
        sensors: components.sensors,
        delivery: currentDelivery,
        journal,
        limiter: new RateLimiter(init.rateLimit ?? DEFAULT_RATE_LIMIT, now),
        sequencer: new Sequencer(),
        logger,
        metrics: components.metrics
      }, { maxPending: init.maxPending ?? 10_000, maxUnsealed: init.maxUnsealed ?? DEFAULT_MAX_UNSEALED, now })
      ingest = current
      try {
        await pool?.start()
        const left = journal.open()
        if (left.unreadable > 0) logger.error({ code: 'GM_ERR_JOURNAL', readings: left.unreadable }, 'journaled readings could not be decrypted with this gateway key; kept')
        // [COL-13] what a previous run acknowledged but did not deliver is sealed now, and retried
        // while its sensor cannot be looked up
        const recover = (rows: typeof left.collected): void => {
          if (rows.length === 0 || ingest !== current) return
          current.recover(rows).then(rest => {
            if (rest.length < rows.length) logger.info({ readings: rows.length - rest.length, left: rest.length }, 'journal recovered')
            if (rest.length > 0 && ingest === current && started) retry = setTimeout(() => { recover(rest) }, RECOVER_RETRY_MS)
          }, (err: unknown) => { logger.error({ code: 'GM_ERR_COLLECTOR_INTERNAL', reason: (err as Error).message }, 'journal recovery failed') })
        }
        recover(left.collected)
        if (init.http !== undefined) {
          http = await createHttpIngest(current, logger, { maxBatch: init.maxBatch ?? DEFAULT_MAX_BATCH, bodyLimit: HTTP_BODY_LIMIT })
          http.server.maxConnections = MAX_CONNECTIONS
          await http.listen({ host: init.http.host ?? '127.0.0.1', port: init.http.port ?? 0 })
          const address = http.server.address()
          httpPort = typeof address === 'object' && address !== null ? address.port : init.http.port
        }
        if (init.mqtt !== undefined) {
          mqtt = await createMqttIngest(current, logger, { host: init.mqtt.host ?? '127.0.0.1', port: init.mqtt.port ?? 0 })
        }
      } catch (err) {
        await stop()
        throw err
      }
      logger.info({ http: httpPort, mqtt: mqtt?.port, sealWorkers: pool === undefined ? 0 : workers }, 'collector listening')
    },
    stop
  }
}
