// Holds the error codes, the source and docs/ERRORS.md together: every part's errors.ts table is
// in the registry that src/core/errors.ts builds (before any part's module is imported here), every
// code the source names is declared once, and every declared code is documented with its status.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { sources } from './support/sources.ts'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { registeredErrors } from '../src/core/index.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

function documented (): Map<string, number> {
  const text = readFileSync(join(root, 'docs/ERRORS.md'), 'utf8')
  const rows = new Map<string, number>()
  for (const match of text.matchAll(/^\| `(GM_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)) {
    assert.ok(!rows.has(match[1] as string), `${match[1]} is documented twice`)
    rows.set(match[1] as string, Number(match[2]))
  }
  return rows
}

describe('error codes', () => {
  it('every code is declared, documented with its status, and used codes exist', async () => {
    // Read before any part's errors.ts is imported: the registry must not depend on imports.
    const declared = new Map(registeredErrors())
    const files = sources(join(root, 'src'))
    for (const file of files.filter(f => /(^|\/)errors\.ts$/.test(f) && !f.endsWith('src/core/errors.ts'))) {
      const name = relative(root, file)
      // A part's table imports only core/error-table.ts: data only, and no import cycle through the core.
      const imports = [...readFileSync(file, 'utf8').matchAll(/^import .* from '([^']+)'/gm)].map(m => m[1])
      assert.deepEqual(imports.map(i => i?.replace(/^(\.\.\/)+/, '')), ['core/error-table.ts'], `${name} imports only core/error-table.ts`)
      const tables = Object.values(await import(pathToFileURL(file).href) as Record<string, unknown>)
      assert.ok(tables.length > 0, `${name} exports its table`)
      for (const table of tables as Array<Record<string, unknown>>) {
        for (const [code, spec] of Object.entries(table)) {
          assert.equal(declared.get(code), spec, `${name} declares ${code}, which the registry (src/core/errors.ts ERROR_TABLES) lacks`)
        }
      }
    }
    const docs = documented()
    assert.ok(declared.size > 20, 'the registry should hold every part\'s codes')
    for (const [code, spec] of declared) {
      assert.ok(docs.has(code), `${code} is declared but not in docs/ERRORS.md`)
      assert.equal(docs.get(code), spec.status, `${code}: docs/ERRORS.md says ${docs.get(code)}, the code says ${spec.status}`)
    }
    for (const code of docs.keys()) assert.ok(declared.has(code), `${code} is documented but declared nowhere`)
    for (const file of files) {
      for (const match of readFileSync(file, 'utf8').matchAll(/GM_ERR_[A-Z0-9_]+/g)) {
        assert.ok(declared.has(match[0]), `${relative(root, file)} names ${match[0]}, which no errors.ts declares`)
      }
    }
  })
})
