// The core's known-answer vectors: every Node suite must reproduce test/vectors/core-kat.json
// byte for byte and open what it holds. test/browser/core.test.ts runs the same in Chromium.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { computeKnownAnswers, KAT_INPUTS, openKnownAnswers } from './support/known-answers.ts'
import { SUITES } from './support/suites.ts'

const expected = JSON.parse(readFileSync(new URL('./vectors/core-kat.json', import.meta.url), 'utf8')) as Record<string, string>

for (const suite of SUITES) {
  describe(`known-answer vectors (${suite.name})`, () => {
    it('reproduces every vector byte for byte', async () => {
      assert.deepEqual(await computeKnownAnswers(suite), expected)
    })

    it('opens the vectors', async () => {
      assert.deepEqual(await openKnownAnswers(suite, expected), {
        alicePseudonym: expected.alicePseudonym,
        recordKey: KAT_INPUTS.reading.sensor,
        envelope1ByAlice: KAT_INPUTS.reading.plaintext,
        envelope2ByBob: `${KAT_INPUTS.reading.seq + 1}:${KAT_INPUTS.reading.plaintext}`,
        envelopeBatch1Of3ByBob: `${KAT_INPUTS.reading.seq + 3}:${KAT_INPUTS.reading.plaintext}`,
        checkpointSeqs: `${KAT_INPUTS.checkpoint.bucket}.1:${KAT_INPUTS.checkpoint.seqs.join(',')}`
      })
    })
  })
}
