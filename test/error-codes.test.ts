// Holds the error codes, the source and docs/ERRORS.md together: every code the source names is
// declared once with defineErrors, and every declared code is documented with its HTTP status.
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
    const files = sources(join(root, 'src'))
    for (const file of files.filter(f => /(^|\/)errors\.ts$/.test(f))) await import(pathToFileURL(file).href)
    const declared = registeredErrors()
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
