// The histogram arithmetic of bench/prom-histogram.ts: `npx node --test bench/prom-histogram.test.ts`.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { intervalQuantile, parseBuckets } from './prom-histogram.ts'

const scrape = (a: number, b: number, c: number, inf: number): string => [
  '# HELP gatemesh_collector_ack_seconds Acknowledgement latency.',
  '# TYPE gatemesh_collector_ack_seconds histogram',
  `gatemesh_collector_ack_seconds_bucket{le="0.001",protocol="mqtt"} ${a}`,
  `gatemesh_collector_ack_seconds_bucket{le="0.01",protocol="mqtt"} ${b}`,
  `gatemesh_collector_ack_seconds_bucket{le="0.1",protocol="mqtt"} ${c}`,
  `gatemesh_collector_ack_seconds_bucket{le="+Inf",protocol="mqtt"} ${inf}`,
  'gatemesh_collector_ack_seconds_bucket{le="0.001",protocol="http"} 999',
  'gatemesh_collector_ack_seconds_bucket{le="+Inf",protocol="http"} 999',
  `gatemesh_collector_ack_seconds_sum{protocol="mqtt"} 1`,
  `gatemesh_collector_ack_seconds_count{protocol="mqtt"} ${inf}`
].join('\n')

test('reads one series\' cumulative buckets, by label', () => {
  const b = parseBuckets(scrape(1, 2, 3, 4), 'gatemesh_collector_ack_seconds', { protocol: 'mqtt' })
  assert.deepEqual([...b.entries()], [[0.001, 1], [0.01, 2], [0.1, 3], [Infinity, 4]])
  assert.equal(parseBuckets(scrape(1, 2, 3, 4), 'gatemesh_other_seconds').size, 0)
})

test('interpolates inside the bucket of the observations made between two scrapes', () => {
  const before = parseBuckets(scrape(10, 10, 10, 10), 'gatemesh_collector_ack_seconds', { protocol: 'mqtt' })
  // 100 new observations: 50 under 1 ms, 40 in (1, 10] ms, 10 in (10, 100] ms
  const after = parseBuckets(scrape(60, 100, 110, 110), 'gatemesh_collector_ack_seconds', { protocol: 'mqtt' })
  assert.equal(intervalQuantile(before, after, 0.5), 0.001)
  assert.ok(Math.abs(intervalQuantile(before, after, 0.7) - (0.001 + 0.009 * 20 / 40)) < 1e-12)
  assert.ok(Math.abs(intervalQuantile(before, after, 0.99) - (0.01 + 0.09 * 9 / 10)) < 1e-12)
})

test('no observation is NaN; past the last finite bound answers that bound', () => {
  const same = parseBuckets(scrape(5, 5, 5, 5), 'gatemesh_collector_ack_seconds', { protocol: 'mqtt' })
  assert.ok(Number.isNaN(intervalQuantile(same, same, 0.5)))
  const after = parseBuckets(scrape(5, 5, 5, 15), 'gatemesh_collector_ack_seconds', { protocol: 'mqtt' })
  assert.equal(intervalQuantile(same, after, 0.5), 0.1)
})
