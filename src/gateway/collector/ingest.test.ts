import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { setImmediate as turn } from 'node:timers/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSensorCredential, createSensorRecord, generateIdentity, utf8, verifySensorRecord } from '../../core/index.ts'
import type { SensorInfo } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createLogger } from '../../platform/logger.ts'
import { createCachedSensorDirectory } from './directory.ts'
import { Ingest, type IngestComponents, type IngestInit } from './ingest.ts'
import { Journal, type JournalHandle } from './journal.ts'
import { RateLimiter } from './rate-limit.ts'
import { Sequencer } from './sequencer.ts'
import { Delivery, type ReadingSink, type SealedReading } from '../pipeline/index.ts'
import type { ReadingSealer } from './seal-pool.ts'

const suite = createNodeCryptoSuite()
const logger = createLogger('test', { level: 'silent' })

function deliveryTo (journal: Journal, ...sinks: ReadingSink[]): Delivery<JournalHandle> {
  return new Delivery<JournalHandle>({ sinks, release: handle => { journal.release(handle) }, logger })
}

/** An Ingest over `parts.journal`, with no rate limit and room for 100 readings unless told otherwise. */
function ingestOf (parts: Pick<IngestComponents, 'journal' | 'sealer' | 'sensors'> & Partial<IngestComponents>, init: Partial<IngestInit> = {}): Ingest {
  return new Ingest({
    suite,
    delivery: deliveryTo(parts.journal),
    limiter: new RateLimiter({ perSecond: 1e6, burst: 1e6 }),
    sequencer: new Sequencer(),
    logger,
    ...parts
  }, { maxPending: 100, maxUnsealed: 100, now: Date.now, ...init })
}

/** A silent logger that keeps the fields of every warning in `warnings`. */
function warningsTo (warnings: Array<Record<string, unknown>>): typeof logger {
  return Object.assign(Object.create(logger) as typeof logger, { warn: (fields: Record<string, unknown>) => { warnings.push(fields) } })
}

describe('ingest flow control', () => {
  it('refuses a reading the journal cannot take, one or several, and counts none of them as pending', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-ingest-'))
    const journal = new Journal({ path: join(dir, 'j.db'), secret: suite.randomBytes(32) })
    try {
      journal.open()
      await journal.close() // appends are refused from here on
      const owner = await generateIdentity(suite)
      const { verifier } = await createSensorCredential(suite)
      const info = await verifySensorRecord(suite, await createSensorRecord(suite, owner, { sensorId: 's', verifier, seq: 1 }))
      let sealed = 0
      const ingest = ingestOf({
        journal,
        sealer: { seal: async () => { sealed++; return new Uint8Array([1]) }, retainOnly: () => {} },
        sensors: { get: async () => info }
      }, { maxPending: 2, maxUnsealed: 2 })
      // with a pending count left behind by a failure, a later call would be GM_ERR_BUSY instead
      for (const readings of [[utf8('1')], [utf8('2'), utf8('3')], [utf8('4'), utf8('5')], [utf8('6')]]) {
        await assert.rejects(ingest.accept(info, readings), { code: 'GM_ERR_COLLECTOR_STOPPED' })
      }
      assert.equal(sealed, 0, 'nothing that was not journaled is sealed')
      await ingest.drain()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('holds acknowledgements while more readings than maxUnsealed await sealing, and releases them as sealing catches up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-ingest-'))
    const journal = new Journal({ path: join(dir, 'j.db'), secret: suite.randomBytes(32) })
    try {
      journal.open()
      // a sealer that seals only when the test says so
      const waiting: Array<() => void> = []
      const events = new EventEmitter()
      const sealer: ReadingSealer = {
        seal: async () => await new Promise<Uint8Array>(resolve => { waiting.push(() => { resolve(new Uint8Array([1])) }); events.emit('seal') }),
        retainOnly: () => {}
      }
      const handed: SealedReading[] = []
      const sink: ReadingSink = { name: 'record', deliver: async readings => { handed.push(...readings); events.emit('delivered') } }
      const owner = await generateIdentity(suite)
      const { verifier } = await createSensorCredential(suite)
      const info = await verifySensorRecord(suite, await createSensorRecord(suite, owner, { sensorId: 's', verifier, seq: 1 }))
      const ingest = ingestOf({ sealer, journal, sensors: { get: async () => info }, delivery: deliveryTo(journal, sink) }, { maxUnsealed: 2 })
      const acked: number[] = []
      const accept = async (n: number): Promise<void> => { await ingest.accept(info, [utf8(String(n))]); acked.push(n) }
      await Promise.all([accept(1), accept(2)])
      assert.deepEqual(acked.sort(), [1, 2], 'within the limit: acknowledged once journaled, before sealing')
      assert.equal(waiting.length, 2)
      const third = accept(3)
      // the third reading is journaled and sent to the sealer; its acknowledgement then waits
      await once(events, 'seal')
      await turn()
      assert.deepEqual(acked, [1, 2], 'three await sealing: the third acknowledgement waits')
      waiting.shift()?.()
      await third
      assert.deepEqual(acked, [1, 2, 3], 'sealing caught up: released')
      await once(events, 'delivered')
      assert.equal(handed.length, 1)
      for (const seal of waiting.splice(0)) seal()
      await ingest.drain()
      assert.equal(handed.length, 3)
    } finally {
      await journal.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('journal recovery [COL-13]', () => {
  it('keeps, never releases, the journaled readings of a sensor the look-up does not find', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-ingest-'))
    const secret = suite.randomBytes(32)
    try {
      const before = new Journal({ path: join(dir, 'j.db'), secret })
      before.open()
      await before.append({ sensorId: 's', ts: 1, seq: 1, plaintext: utf8('1') })
      await before.append({ sensorId: 's', ts: 2, seq: 2, plaintext: utf8('2') })
      await before.close()
      const journal = new Journal({ path: join(dir, 'j.db'), secret })
      const left = journal.open()
      assert.equal(left.collected.length, 2)
      const warnings: Array<Record<string, unknown>> = []
      let sealed = 0
      const ingest = ingestOf({
        journal,
        sealer: { seal: async () => { sealed++; return new Uint8Array([1]) }, retainOnly: () => {} },
        // the peers that answered hold no copy of the record
        sensors: { get: async () => undefined },
        logger: warningsTo(warnings)
      })
      const rest = await ingest.recover(left.collected)
      assert.deepEqual(rest.map(r => r.seq), [1, 2], 'returned, to be looked up again')
      assert.equal(sealed, 0)
      await journal.close()
      const again = new Journal({ path: join(dir, 'j.db'), secret })
      assert.equal(again.open().collected.length, 2, 'still in the journal')
      await again.close()
      assert.deepEqual(warnings.map(w => [w.code, w.readings]), [['GM_ERR_SENSOR_UNKNOWN', 2]])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

/**
 * [COL-10] [COL-11] Readings accepted on a stale sensor record (served at once while the directory
 * refreshes it) are acknowledged at once but sealed only once the refresh settles, in order.
 */
const owner = await generateIdentity(suite)
const bob = await generateIdentity(suite)
const { credential, verifier } = await createSensorCredential(suite)

describe('ingest on a stale sensor record', () => {
  const TTL = 1000
  const MAX_STALE = 10_000

  interface Sealed { text: string, seq: number, to: string[] }
  interface Fixture {
    ingest: Ingest
    journal: Journal
    /** The sensor record the fake DHT holds: bytes, undefined (deleted), or 'down' (fetch fails). */
    publish: (record: Uint8Array | undefined | 'down') => void
    /** From now on every fetch waits until release() (one per fetch). */
    gate: () => void
    release: () => void
    fetches: () => number
    sealed: Sealed[]
    events: EventEmitter
    warnings: Array<Record<string, unknown>>
    setTime: (ms: number) => void
    close: () => Promise<void>
  }

  const recordOf = async (seq: number, readers: typeof owner[]): Promise<Uint8Array> => await createSensorRecord(suite, owner, { sensorId: 's', readers, verifier, seq })

  async function fixture (retryMs = 60_000): Promise<Fixture> {
    const dir = await mkdtemp(join(tmpdir(), 'gm-ingest-'))
    const journal = new Journal({ path: join(dir, 'j.db'), secret: suite.randomBytes(32) })
    journal.open()
    let t = 0
    let held: Uint8Array | undefined | 'down' = await recordOf(1, [bob])
    let gated = false
    let fetches = 0
    const gates: Array<() => void> = []
    const events = new EventEmitter()
    const sensors = createCachedSensorDirectory({
      suite,
      fetch: async () => {
        fetches++
        if (gated) await new Promise<void>(resolve => { gates.push(resolve); events.emit('fetch') })
        if (held === 'down') throw new Error('dht down')
        return held
      }
    }, { ttlMs: TTL, maxStaleMs: MAX_STALE, now: () => t })
    const sealed: Sealed[] = []
    const sealer: ReadingSealer = {
      seal: async (header, plaintext, recipients) => {
        sealed.push({ text: new TextDecoder().decode(plaintext), seq: header.seq, to: recipients.map(r => r.id) })
        events.emit('seal')
        return new Uint8Array([1])
      },
      retainOnly: () => {}
    }
    const warnings: Array<Record<string, unknown>> = []
    const ingest = ingestOf({
      sealer, journal, sensors, logger: warningsTo(warnings),
      delivery: deliveryTo(journal, { name: 'sink', deliver: async () => {} })
    }, { now: () => t, retryMs })
    return {
      ingest, journal, sealed, events, warnings,
      publish: record => { held = record },
      gate: () => { gated = true },
      release: () => { gated = false; for (const open of gates.splice(0)) open() },
      fetches: () => fetches,
      setTime: ms => { t = ms },
      close: async () => { ingest.stop(); await journal.close(); await rm(dir, { recursive: true, force: true }) }
    }
  }

  /** Resolves once the sealer has been called `n` times in all. */
  async function sealedCount (f: Fixture, n: number): Promise<void> {
    while (f.sealed.length < n) await once(f.events, 'seal')
  }

  it('acknowledges at once on the stale record, refreshes it once, and seals for the refreshed list: a revocation published between two readings is not sealed for the revoked reader', async () => {
    const f = await fixture()
    try {
      const info = await f.ingest.authenticate('s', credential)
      await f.ingest.accept(info, [utf8('"before"')])
      await sealedCount(f, 1)
      assert.deepEqual(f.sealed[0]?.to, [owner.pseudonym, bob.pseudonym], 'the owner, then the readers')
      // bob is revoked: the new record reaches the DHT; the collector's copy is past its TTL
      f.publish(await recordOf(2, []))
      f.gate()
      f.setTime(TTL + 1)
      const stale = f.ingest.cachedSensor('s')
      assert.equal(stale?.seq, 1, 'the held record, at once, past ttlMs')
      assert.equal(f.fetches(), 2, 'one refresh started')
      const again = await f.ingest.authenticate('s', credential)
      assert.equal(again.seq, 1, 'authenticated on the stale record without waiting for the look-up')
      assert.equal(f.fetches(), 2, 'coalesced')
      await f.ingest.accept(stale as typeof info, [utf8('"after"')])
      assert.equal(f.sealed.length, 1, 'acknowledged, not sealed while the refresh runs')
      assert.equal(f.journal.depth(), 1, 'journaled')
      f.release()
      await sealedCount(f, 2)
      assert.deepEqual(f.sealed[1], { text: '"after"', seq: f.sealed[1]?.seq, to: [owner.pseudonym] }, 'sealed for the refreshed list only')
      await f.ingest.drain()
    } finally {
      await f.close()
    }
  })

  it('keeps each sensor\'s order: readings behind a deferred one wait for it, one or a batch', async () => {
    const f = await fixture()
    try {
      const info = await f.ingest.authenticate('s', credential)
      f.gate()
      f.setTime(TTL + 1)
      const stale = f.ingest.cachedSensor('s') as typeof info
      await f.ingest.accept(stale, [utf8('1')])
      await f.ingest.accept(stale, [utf8('2'), utf8('3')])
      await f.ingest.accept(info, [utf8('4')])
      assert.equal(f.sealed.length, 0, 'all wait behind the first')
      assert.equal(f.fetches(), 2, 'for one refresh')
      f.release()
      await sealedCount(f, 4)
      assert.deepEqual(f.sealed.map(s => s.text), ['1', '2', '3', '4'], 'in the order accepted')
      const seqs = f.sealed.map(s => s.seq)
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b))
      // fresh again: sealed at once
      await f.ingest.accept(f.ingest.cachedSensor('s') as typeof info, [utf8('5')])
      await sealedCount(f, 5)
      assert.equal(f.fetches(), 2)
      await f.ingest.drain()
    } finally {
      await f.close()
    }
  })

  it('a failed refresh: sealed for the held record while it is younger than maxStaleMs, as before', async () => {
    const f = await fixture()
    try {
      await f.ingest.authenticate('s', credential)
      f.gate()
      f.publish('down')
      f.setTime(TTL + 1)
      await f.ingest.accept(f.ingest.cachedSensor('s') as SensorInfo, [utf8('1')])
      assert.equal(f.sealed.length, 0)
      f.release()
      await sealedCount(f, 1)
      assert.equal(f.sealed[0]?.to.length, 2, 'the held list')
      await f.ingest.drain()
    } finally {
      await f.close()
    }
  })

  it('a refresh that fails past maxStaleMs leaves the readings journaled; a later reading on a fresh record queues behind them and both are sealed in order', async () => {
    const f = await fixture()
    try {
      await f.ingest.authenticate('s', credential)
      f.gate()
      f.publish('down')
      f.setTime(MAX_STALE - 1)
      await f.ingest.accept(f.ingest.cachedSensor('s') as SensorInfo, [utf8('1')])
      f.setTime(MAX_STALE + 1)
      f.release()
      await f.ingest.drain() // the failed look-up has settled: nothing counts as pending
      assert.equal(f.sealed.length, 0, 'not sealed')
      assert.equal(f.journal.depth(), 1, 'still journaled')
      assert.equal(f.warnings.at(-1)?.code, 'GM_ERR_SENSOR_DIRECTORY')
      // the DHT answers again, with bob revoked
      f.publish(await recordOf(2, []))
      f.setTime(MAX_STALE + 2000)
      const fresh = await f.ingest.authenticate('s', credential)
      assert.equal(fresh.seq, 2)
      await f.ingest.accept(fresh, [utf8('2')])
      await sealedCount(f, 2)
      assert.deepEqual(f.sealed.map(s => [s.text, s.to]), [['1', [owner.pseudonym]], ['2', [owner.pseudonym]]])
      await f.ingest.drain()
      assert.equal(f.journal.depth(), 0)
    } finally {
      await f.close()
    }
  })

  it('retries a failed refresh after retryMs, as recovery does', async () => {
    const f = await fixture(5)
    try {
      await f.ingest.authenticate('s', credential)
      f.gate()
      f.publish('down')
      f.setTime(MAX_STALE - 1)
      await f.ingest.accept(f.ingest.cachedSensor('s') as SensorInfo, [utf8('1')])
      f.setTime(MAX_STALE + 1)
      f.release()
      await f.ingest.drain()
      assert.equal(f.sealed.length, 0)
      f.publish(await recordOf(2, []))
      f.setTime(MAX_STALE + 2000)
      await sealedCount(f, 1)
      assert.deepEqual(f.sealed[0]?.to, [owner.pseudonym])
      await f.ingest.drain()
    } finally {
      await f.close()
    }
  })

  it('never drops the readings of a sensor whose refresh finds no record: sensors are never deleted [OVL-36]', { timeout: 30_000 }, async () => {
    const f = await fixture(5)
    try {
      await f.ingest.authenticate('s', credential)
      // the look-up finds no copy (peers that answered without one): within maxStaleMs the held
      // record serves, as after any failed refresh
      f.gate()
      f.publish(undefined)
      f.setTime(TTL + 1)
      await f.ingest.accept(f.ingest.cachedSensor('s') as SensorInfo, [utf8('1'), utf8('2')])
      assert.equal(f.journal.depth(), 2)
      f.release()
      await sealedCount(f, 2)
      assert.deepEqual(f.sealed.map(s => [s.text, s.to]), [['1', [owner.pseudonym, bob.pseudonym]], ['2', [owner.pseudonym, bob.pseudonym]]], 'for the held record')
      await f.ingest.drain()
      // past maxStaleMs: kept journaled, looked up again, never released unsealed
      f.gate()
      f.setTime(MAX_STALE - 1)
      await f.ingest.accept(f.ingest.cachedSensor('s') as SensorInfo, [utf8('3')])
      f.setTime(MAX_STALE + TTL + 1)
      f.release()
      await f.ingest.drain()
      assert.equal(f.journal.depth(), 1, 'kept')
      assert.equal(f.warnings.some(w => w.code === 'GM_ERR_SENSOR_UNKNOWN'), false, 'never taken for deleted')
      f.publish(await recordOf(2, []))
      f.setTime(MAX_STALE + TTL + 2000)
      await sealedCount(f, 3)
      assert.deepEqual(f.sealed[2]?.to, [owner.pseudonym], 'for the record found again')
      await f.ingest.drain()
      assert.equal(f.journal.depth(), 0)
    } finally {
      await f.close()
    }
  })
})
