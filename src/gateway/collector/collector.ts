/**
 * The Data Collector service: HTTP and MQTT ingest over one pipeline (seal, sign, journal, hand
 * off). `createCollector(components, init)`; `start()` opens the journal, replays what a previous
 * run journaled but did not hand off, and starts the listeners; `stop()` drains and closes.
 */
import { join } from 'node:path'
import { EnvelopeSealer } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import type { FastifyInstance } from 'fastify'
import { createHttpIngest } from './http.ts'
import { Ingest } from './ingest.ts'
import { Journal } from './journal.ts'
import { MAX_CONNECTIONS, createMqttIngest, type MqttIngest } from './mqtt.ts'
import { RateLimiter } from './rate-limit.ts'
import { Sequencer } from './sequencer.ts'
import type { CollectorComponents, CollectorInit, RateLimit } from './types.ts'

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 100, burst: 200 }
export const DEFAULT_MAX_BATCH = 100
export const HTTP_BODY_LIMIT = 1024 * 1024

export interface Collector {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** The bound ports once started (useful with port 0). */
  readonly httpPort: number | undefined
  readonly mqttPort: number | undefined
}

export function createCollector (components: CollectorComponents, init: CollectorInit): Collector {
  const logger = components.logger ?? createLogger('gatemesh:collector')
  const now = init.now ?? Date.now
  const journal = new Journal({
    path: join(init.dataDir, 'collector.db'),
    intervalMs: init.commitIntervalMs ?? 0,
    maxRows: init.commitMaxRows ?? 512,
    sync: init.journalSync ?? 'normal'
  })
  let ingest: Ingest | undefined
  let http: FastifyInstance | undefined
  let mqtt: MqttIngest | undefined
  let httpPort: number | undefined
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
    journal.close()
    logger.info('collector stopped')
  }

  return {
    get httpPort () { return httpPort },
    get mqttPort () { return mqtt?.port },
    async start () {
      if (started) return
      started = true
      const sealer = new EnvelopeSealer({ suite: components.suite, signer: components.signer })
      const current = new Ingest({
        suite: components.suite,
        sealer,
        sensors: components.sensors,
        latest: components.latest,
        handoffs: components.handoffs ?? [],
        journal,
        limiter: new RateLimiter(init.rateLimit ?? DEFAULT_RATE_LIMIT, now),
        sequencer: new Sequencer(),
        logger
      }, { maxPending: init.maxPending ?? 10_000, now })
      ingest = current
      try {
        // [COL-13] what a previous run committed but did not hand off goes out now
        const left = journal.open()
        for (const row of left) current.handOff(row)
        if (left.length > 0) {
          journal.handOff(left[left.length - 1]?.id as number)
          logger.info({ readings: left.length }, 'journal replayed')
        }
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
      logger.info({ http: httpPort, mqtt: mqtt?.port }, 'collector listening')
    },
    stop
  }
}
