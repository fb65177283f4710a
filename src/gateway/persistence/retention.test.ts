// Retention sweeps and the storage limit ([PER-40]..[PER-42]) on the sqlite engine, with an
// injected clock: what is past a sensor's retention goes, what is inside it never does.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { rejectsWithCode } from '../../../test/support/assert-error.ts'
import { createSqliteEngine } from './engine/sqlite.ts'
import { DEFAULT_RETENTION_SECONDS, createSensorRecord, generateIdentity, verifySensorRecord } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createRetention, retentionCutoff, retentionOf } from './retention.ts'
import type { StorageEngine, StoredReading } from './engine/types.ts'

const DAY_S = 86_400
const gw = new Uint8Array(32).fill(3)
let now = Date.UTC(2025, 5, 1)
const seqDaysAgo = (days: number, c = 0): number => (now - days * DAY_S * 1000) * 1000 + c
const reading = (sensor: string, seq: number, bytes = 64): StoredReading => ({ sensor, gw, seq, envelope: new Uint8Array(bytes).fill(seq & 0xff) })

describe('retention [PER-41]', () => {
  let dir: string
  let engine: StorageEngine
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gm-retention-'))
    engine = createSqliteEngine({ path: join(dir, 'persistence.db'), sync: 'normal' })
    await engine.open()
  })
  afterEach(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('the cutoff is now minus the retention, in seq units; forever has none', () => {
    assert.equal(retentionCutoff(1_000_000, 60), (1_000_000 - 60_000) * 1000)
    assert.equal(retentionCutoff(1_000_000, 0), undefined)
    assert.equal(retentionCutoff(10, 60), 0)
  })

  it('a sweep deletes, per sensor, the readings past its retention and nothing else', async () => {
    // s-7d keeps 7 days; s-default has no retention (30 days); s-forever keeps all; s-unknown has no record
    const retentions: Record<string, number | undefined> = { 's-7d': 7 * DAY_S, 's-default': DEFAULT_RETENTION_SECONDS, 's-forever': 0, 's-unknown': undefined }
    for (const sensor of Object.keys(retentions)) {
      await engine.append([1, 6.9, 7.1, 29.9, 30.1, 400].map((d, i) => reading(sensor, seqDaysAgo(d, i))))
    }
    await engine.putCheckpoints([{ sensor: 's-7d', gw, bucket: Math.floor(seqDaysAgo(8) / 60e6), part: 0, bytes: new Uint8Array([1]) }])
    const retention = createRetention({ engine, retention: async s => retentions[s], now: () => now })
    const result = await retention.sweep()
    assert.deepEqual(result, { sensors: 4, deleted: 4 + 2 })
    const daysHeld = async (sensor: string): Promise<number[]> => (await engine.ids(sensor, 0, Number.MAX_SAFE_INTEGER)).map(k => Math.round((now - k.seq / 1000) / (DAY_S * 100)) / 10)
    assert.deepEqual(await daysHeld('s-7d'), [6.9, 1])
    assert.deepEqual(await daysHeld('s-default'), [29.9, 7.1, 6.9, 1])
    assert.deepEqual(await daysHeld('s-forever'), [400, 30.1, 29.9, 7.1, 6.9, 1])
    assert.deepEqual(await daysHeld('s-unknown'), [400, 30.1, 29.9, 7.1, 6.9, 1], 'a sensor whose record is not found is kept')
    assert.deepEqual(await engine.checkpoints('s-7d', 0, Number.MAX_SAFE_INTEGER), [], 'checkpoints of buckets past retention go too')
    assert.equal(retention.status().unknownSensors, 1)
    // time passes: the next sweep takes what has aged past it since
    now += 2 * DAY_S * 1000
    assert.deepEqual(await retention.sweep(), { sensors: 4, deleted: 1 + 1 })
    assert.deepEqual(await daysHeld('s-7d'), [3])
  })

  it("a sensor record's retention: its `retention`, 30 days without one, 0 for forever [SEN-2]", async () => {
    const suite = createNodeCryptoSuite()
    const owner = await generateIdentity(suite)
    const verifier = new Uint8Array(32)
    const of = async (retention?: number): Promise<number> => retentionOf(await verifySensorRecord(suite, await createSensorRecord(suite, owner, { sensorId: 's', verifier, seq: 1, retention })))
    assert.equal(await of(7 * DAY_S), 7 * DAY_S)
    assert.equal(await of(undefined), DEFAULT_RETENTION_SECONDS)
    assert.equal(await of(0), 0)
  })

  it('a sweep that fails on one sensor goes on with the others', async () => {
    await engine.append([reading('a', seqDaysAgo(40)), reading('b', seqDaysAgo(40))])
    const retention = createRetention({ engine, retention: async s => { if (s === 'a') throw new Error('lookup failed'); return 7 * DAY_S }, now: () => now, logger: silent() })
    assert.deepEqual(await retention.sweep(), { sensors: 2, deleted: 1 })
    assert.equal(retention.status().errors, 1)
  })
})

describe('the storage limit [PER-42]', () => {
  let dir: string
  let engine: StorageEngine
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gm-limit-'))
    engine = createSqliteEngine({ path: join(dir, 'persistence.db'), sync: 'normal' })
    await engine.open()
  })
  afterEach(async () => {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('at the limit, past-retention data is swept first and the store goes on', async () => {
    await engine.append(Array.from({ length: 400 }, (_, i) => reading('s', seqDaysAgo(60, i), 1024)))
    const limit = await engine.sizeBytes()
    const retention = createRetention({ engine, retention: async () => 7 * DAY_S, now: () => now }, { maxBytes: limit })
    await retention.assertRoom()
    assert.equal((await engine.ids('s', 0, Number.MAX_SAFE_INTEGER)).length, 0)
    assert.equal(retention.full(), false)
  })

  it('at the limit with everything inside retention: GM_ERR_PERSISTENCE_FULL, nothing deleted', async () => {
    await engine.append(Array.from({ length: 400 }, (_, i) => reading('s', seqDaysAgo(1, i), 1024)))
    const limit = await engine.sizeBytes()
    const retention = createRetention({ engine, retention: async () => 7 * DAY_S, now: () => now }, { maxBytes: limit })
    await rejectsWithCode(async () => { await retention.assertRoom() }, 'GM_ERR_PERSISTENCE_FULL')
    assert.equal((await engine.ids('s', 0, Number.MAX_SAFE_INTEGER)).length, 400)
    assert.equal(retention.full(), true)
    // a second refusal does not sweep again at once
    await rejectsWithCode(async () => { await retention.assertRoom() }, 'GM_ERR_PERSISTENCE_FULL')
    assert.equal(retention.status().sweeps, 1)
    assert.equal(retention.status().refusedFull, 2)
  })

  it('no limit (undefined or 0): never full', async () => {
    await engine.append([reading('s', seqDaysAgo(1))])
    for (const maxBytes of [undefined, 0]) {
      const retention = createRetention({ engine, retention: async () => 7 * DAY_S, now: () => now }, { maxBytes })
      await retention.assertRoom()
      assert.equal(retention.full(), false)
    }
  })
})

function silent (): never {
  const noop = (): void => {}
  return { warn: noop, info: noop, debug: noop, error: noop } as never
}
