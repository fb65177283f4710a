// docs/PROTOCOL.md and the code agree: every clause the source cites (`[ENV-3]`) is defined in
// the document, and every clause the document defines is cited by the code that implements it.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sources } from './support/sources.ts'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

describe('protocol clauses', () => {
  it('are defined once, and cited by the code', () => {
    const doc = readFileSync(join(root, 'docs/PROTOCOL.md'), 'utf8')
    const definitions = [...doc.matchAll(/\*\*\[([A-Z]+-\d+)\]/g)].map(m => m[1] as string)
    const defined = new Set(definitions)
    assert.equal(defined.size, definitions.length, 'a clause is defined twice')
    const cited = new Set<string>()
    for (const file of sources(join(root, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\[([A-Z]{2,4}-\d+)\]/g)) cited.add(m[1] as string)
    }
    for (const clause of cited) assert.ok(defined.has(clause), `the source cites [${clause}], which docs/PROTOCOL.md does not define`)
    for (const clause of defined) assert.ok(cited.has(clause), `docs/PROTOCOL.md defines [${clause}], which no source file cites`)
  })
})
