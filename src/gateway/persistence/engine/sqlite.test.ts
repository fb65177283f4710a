// The compliance suite ([PER-24]) on the sqlite engine, each test on its own file in a temp dir.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { isGatemeshError, type ErrorCode } from '../../../core/index.ts'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
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

describe('sqlite engine upgrade', () => {
  it('a store of the first schema (one certificate per gw, table certs) keeps its certificates, notBefore 0, beside new ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sqlite-engine-'))
    try {
      const path = join(dir, 'persistence.db')
      const gw = new Uint8Array(32).fill(7)
      const old = new DatabaseSync(path)
      old.exec('CREATE TABLE certs (gw BLOB PRIMARY KEY NOT NULL, der BLOB NOT NULL)')
      old.prepare('INSERT INTO certs (gw, der) VALUES (?, ?)').run(gw, Uint8Array.of(0x30, 1))
      old.close()
      const engine = createSqliteEngine({ path })
      await engine.open()
      await engine.putCertificate(gw, Uint8Array.of(0x30, 2), 5_000)
      assert.deepEqual((await engine.certificates([gw])).map(c => [Buffer.from(c.der).toString('hex'), c.notBefore]), [['3002', 5_000], ['3001', 0]])
      await engine.close()
      await engine.open() // opening again: nothing left to move
      assert.equal((await engine.certificates([gw])).length, 2)
      await engine.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
