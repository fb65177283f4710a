/**
 * Fixtures for the collector suites: a real sensor record and credential, a fake SensorDirectory
 * whose records a test can replace (access-list changes), a recording LatestSink, a collector on
 * 127.0.0.1 port 0 with its data dir and log file in a temp directory.
 */
import { EventEmitter, once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  EnvelopeOpener, createSensorCredential, createSensorRecord, generateIdentity, verifySensorRecord,
  type CryptoSuite, type Identity, type SensorInfo
} from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createCollector, type Collector, type CollectorInit } from '../../src/gateway/collector/index.ts'
import type { SealedReading } from '../../src/gateway/pipeline/index.ts'

/** MQTT ingest needs the aedes package; without it the fixtures run HTTP only (the MQTT suites skip). */
export const hasAedes = await import('aedes' as string).then(() => true, () => false)

export interface Fixture {
  suite: CryptoSuite
  dir: string
  logPath: string
  owner: Identity
  readers: Identity[]
  sensorId: string
  credential: string
  sensors: Map<string, SensorInfo>
  offers: SealedReading[]
  handed: SealedReading[]
  events: EventEmitter
  collector: Collector
  /** Replaces the sensor's record with one listing `readers` (seq + 1). */
  setReaders: (readers: Identity[]) => Promise<void>
  /** Replaces the sensor's record with one naming a new credential's verifier (seq + 1); returns the credential. */
  replaceCredential: () => Promise<string>
  opener: (who: Identity) => EnvelopeOpener
  /** Waits until the hand-off has seen `count` readings in total. */
  handedOff: (count: number) => Promise<void>
  /** Every file under the data dir and the log, as one buffer. */
  everything: () => Promise<Buffer>
  close: () => Promise<void>
}

export interface FixtureOptions {
  /**
   * The fake directory answers cached() too, as the gateway's does (a record held fresh): the
   * ingest then takes a sensor's record without a look-up's promise. Default: get() only.
   */
  cached?: boolean
}

export async function startFixture (init: Partial<CollectorInit> = {}, options: FixtureOptions = {}): Promise<Fixture> {
  const suite = createNodeCryptoSuite()
  const dir = await mkdtemp(join(tmpdir(), 'gm-collector-'))
  const logPath = join(dir, 'collector.log')
  const owner = await generateIdentity(suite)
  const readers = [await generateIdentity(suite), await generateIdentity(suite)]
  const sensorId = 'greenhouse-7'
  const { credential, verifier: first } = await createSensorCredential(suite)
  let verifier = first
  let listed = readers
  const sensors = new Map<string, SensorInfo>()
  let seq = 1
  const setReaders = async (list: Identity[]): Promise<void> => {
    listed = list
    const record = await createSensorRecord(suite, owner, { sensorId, readers: list, verifier, seq: seq++ })
    sensors.set(sensorId, await verifySensorRecord(suite, record))
  }
  const replaceCredential = async (): Promise<string> => {
    const next = await createSensorCredential(suite)
    verifier = next.verifier
    await setReaders(listed)
    return next.credential
  }
  await setReaders(readers)
  const offers: SealedReading[] = []
  const handed: SealedReading[] = []
  const events = new EventEmitter()
  const logger = createLogger('gatemesh:collector', { destination: logPath, level: 'debug' })
  const collector = createCollector({
    suite,
    signingSeed: suite.randomBytes(32),
    // 'dht-down' stands for a sensor whose record cannot be fetched
    sensors: {
      get: async id => { if (id === 'dht-down') throw new Error('no peers'); return sensors.get(id) },
      cached: options.cached === true ? id => sensors.get(id) : undefined
    },
    sinks: [
      { name: 'latest', deliver: async readings => { offers.push(...readings) } },
      { name: 'record', deliver: async readings => { handed.push(...readings); events.emit('handed') } }
    ],
    logger
  }, { dataDir: join(dir, 'data'), http: { port: 0 }, mqtt: hasAedes ? { port: 0 } : undefined, ...init })
  try {
    await collector.start()
  } catch (err) {
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  return {
    suite, dir, logPath, owner, readers, sensorId, credential, sensors, offers, handed, events, collector, setReaders, replaceCredential,
    opener: who => new EnvelopeOpener({ suite, reader: { pseudonym: who.pseudonym, agreementKey: who.agreementKey } }),
    async handedOff (count) {
      while (handed.length < count) await once(events, 'handed')
    },
    async everything () {
      await new Promise<void>((resolve, reject) => { logger.flush(err => { if (err !== undefined && err !== null) reject(err); else resolve() }) })
      const files: Buffer[] = []
      const walk = async (path: string): Promise<void> => {
        for (const entry of await readdir(path, { withFileTypes: true })) {
          const full = join(path, entry.name)
          if (entry.isDirectory()) await walk(full)
          else files.push(await readFile(full))
        }
      }
      await walk(dir)
      return Buffer.concat(files)
    },
    async close () {
      await collector.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export function url (fixture: Fixture): string {
  return `http://127.0.0.1:${fixture.collector.httpPort}/v1/sensors/${fixture.sensorId}/readings`
}

export async function post (target: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number, json: Record<string, unknown>, headers: Headers }> {
  const response = await fetch(target, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } })
  const text = await response.text()
  return { status: response.status, json: text === '' ? {} : JSON.parse(text) as Record<string, unknown>, headers: response.headers }
}
