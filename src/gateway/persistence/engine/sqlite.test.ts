// The compliance suite ([PER-24]) on the sqlite engine, each test on its own file in a temp dir.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { storageEngineCompliance } from './compliance.ts'
import { createSqliteEngine } from './sqlite.ts'
import type { StorageEngine } from './types.ts'

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
