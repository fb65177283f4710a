// The compliance suite ([PER-24]) on the sqlite engine, each test on its own file in a temp dir.
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
