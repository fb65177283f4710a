// Pure helpers of the persistence benchmark: `npx node --test bench/persistence-helpers.test.ts`.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CHECKPOINT_BUCKET } from '../src/core/index.ts'
import { checkpointGroups, chunks, formatSpread, quantile, spread } from './persistence-helpers.ts'

test('quantile is nearest rank and leaves its input alone; spread gives min, median, max', () => {
  const values = [5, 1, 4, 2, 3]
  assert.equal(quantile(values, 0.5), 3)
  assert.equal(quantile(values, 0.99), 5)
  assert.equal(quantile(values, 0), 1)
  assert.deepEqual(values, [5, 1, 4, 2, 3])
  assert.ok(Number.isNaN(quantile([], 0.5)))
  assert.deepEqual(spread([30, 10, 20]), { n: 3, min: 10, median: 20, max: 30 })
  assert.equal(formatSpread(spread([21_500, 19_000, 20_250])), '19 000-21 500 (median 20 250)')
  assert.equal(formatSpread(spread([1.25]), 1), '1.3')
  assert.equal(formatSpread(spread([])), '-')
})

test('checkpointGroups: one group per bucket in order; seqs must increase', () => {
  const b = CHECKPOINT_BUCKET
  const seqs = [b * 10 + 1, b * 10 + 5, b * 11, b * 13 + 7]
  assert.deepEqual(checkpointGroups(seqs), [
    { bucket: 10, seqs: [b * 10 + 1, b * 10 + 5] },
    { bucket: 11, seqs: [b * 11] },
    { bucket: 13, seqs: [b * 13 + 7] }
  ])
  assert.throws(() => checkpointGroups([b * 2, b]), /increase/)
  assert.deepEqual(checkpointGroups([]), [])
})

test('chunks cuts in order, the last one short', () => {
  assert.deepEqual(chunks([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])
  assert.deepEqual(chunks([], 3), [])
  assert.throws(() => chunks([1], 0))
})
