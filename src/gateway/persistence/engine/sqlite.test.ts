// The compliance suite ([PER-24]) on the sqlite engine, each test on its own file in a temp dir.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { isGatemeshError, type ErrorCode } from '../../../core/index.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storageEngineCompliance } from './compliance.ts'
import { createSqliteEngine } from './sqlite.ts'
import type { StorageEngine } from './types.ts'

async function rejectsWithCode (action: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(action, (err: unknown) => isGatemeshError(err) && err.code === code)
}

const dirs = new WeakMap<StorageEngine, string>()

describe('sqlite engine', () => {
  storageEngineCompliance({
    describe,
    it,
    createEngine: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gm-sqlite-engine-'))
      const engine = createSqliteEngine({ path: join(dir, 'persistence.db') })
      dirs.set(engine, dir)
      return engine
    },
    destroy: async engine => { rmSync(dirs.get(engine)!, { recursive: true, force: true }) }
  })
})

describe('sqlite engine failures', () => {
  it('a file that cannot be opened or is not a database, and calls before open, are GM_ERR_PERSISTENCE_ENGINE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sqlite-engine-'))
    try {
      await rejectsWithCode(async () => { await createSqliteEngine({ path: join(dir, 'missing', 'persistence.db') }).open() }, 'GM_ERR_PERSISTENCE_ENGINE')
      const garbage = join(dir, 'garbage.db')
      writeFileSync(garbage, Buffer.alloc(8192, 0x5a))
      await rejectsWithCode(async () => { await createSqliteEngine({ path: garbage }).open() }, 'GM_ERR_PERSISTENCE_ENGINE')
      const unopened = createSqliteEngine({ path: join(dir, 'persistence.db') })
      await rejectsWithCode(async () => await unopened.append([]), 'GM_ERR_PERSISTENCE_ENGINE')
      await rejectsWithCode(async () => await unopened.sizeBytes(), 'GM_ERR_PERSISTENCE_ENGINE')
      assert.throws(() => createSqliteEngine({ path: '' }), { code: 'GM_ERR_MALFORMED' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('sqlite engine: size', () => {
  it('sizeBytes falls after deleteBefore (pages freed count as free room, [PER-42])', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sqlite-size-'))
    const engine = createSqliteEngine({ path: join(dir, 'persistence.db'), sync: 'normal' })
    try {
      await engine.open()
      const gw = new Uint8Array(32).fill(7)
      await engine.append(Array.from({ length: 2000 }, (_, i) => ({ sensor: 's1', gw, seq: i, envelope: new Uint8Array(1024).fill(i & 0xff) })))
      const full = await engine.sizeBytes()
      assert.equal(await engine.deleteBefore('s1', 1900), 1900)
      const after = await engine.sizeBytes()
      assert.ok(after < full / 4, `sizeBytes ${full} → ${after}`)
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('sqlite engine: appends of many rows a statement', () => {
  it('duplicates within one 64-row statement, across statements and in the single-row tail are counted and the first copy kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sqlite-rows-'))
    const engine = createSqliteEngine({ path: join(dir, 'persistence.db'), sync: 'normal' })
    try {
      await engine.open()
      const gw = new Uint8Array(32).fill(3)
      // 200 rows (3 statements of 64, then 8 one by one): seqs 0..149 and 50 repeats with other
      // envelope bytes (of 10..19 within the first statement, of 60..99 in later statements and the tail)
      const seqs = [...Array.from({ length: 150 }, (_, i) => i)]
      seqs.splice(30, 0, ...Array.from({ length: 10 }, (_, i) => 10 + i))
      seqs.push(...Array.from({ length: 40 }, (_, i) => 60 + i))
      const readings = seqs.map((seq, n) => ({ sensor: 's1', gw, seq, envelope: new Uint8Array([n & 0xff, n >> 8, 1]) }))
      const first = new Map<number, Uint8Array>()
      for (const r of readings) if (!first.has(r.seq)) first.set(r.seq, r.envelope)
      assert.deepEqual(await engine.append(readings), { stored: 150, duplicates: 50 })
      const held = await engine.range({ sensor: 's1', fromSeq: 0, toSeq: 1000, order: 'asc', limit: 1000 })
      assert.deepEqual(held.map(r => [r.seq, [...r.envelope]]), [...first].sort((a, b) => a[0] - b[0]).map(([seq, e]) => [seq, [...e]]))
      assert.deepEqual(await engine.append(readings.slice(0, 130)), { stored: 0, duplicates: 130 })
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
