import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatDuration, parseDuration } from './duration.ts'

test('durations parse from one number and one unit, and nothing else', () => {
  assert.equal(parseDuration('90s'), 90_000)
  assert.equal(parseDuration('30m'), 1_800_000)
  assert.equal(parseDuration('24h'), 86_400_000)
  assert.equal(parseDuration('30d'), 2_592_000_000)
  for (const bad of ['', '0s', '10', 'h', '1.5h', '-1h', '1h30m', '1w', '9999999d']) assert.equal(parseDuration(bad), undefined, bad)
  assert.equal(formatDuration(86_400_000), '1d')
  assert.equal(formatDuration(5_400_000), '90m')
})
