// The sustainable-rate search of bench/sustainable.ts against a fake server whose PUBACK p99 is
// a step function of the offered rate: `npx node --test bench/sustainable.test.ts`.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { holds, searchSustainableRate, sustainMarkdown, type StepMeasurement } from './sustainable.ts'

/** A server that holds up to `limit`/s (p99 5 ms) and falls behind above it (p99 400 ms). */
const server = (limit: number) => async (rate: number): Promise<StepMeasurement> =>
  rate <= limit ? { perSecond: rate, errors: 0, p50: 1, p99: 5 } : { perSecond: limit, errors: 0, p50: 200, p99: 400 }

test('finds the highest rate that holds to within 5 %, below the quarter of the burst it starts from', async () => {
  const offered: number[] = []
  const search = await searchSustainableRate('fake', async rate => { offered.push(rate); return await server(7_300)(rate) }, { burstPerSecond: 35_000 })
  assert.equal(offered[0], 8_800) // a quarter of the burst, in steps of 100/s
  assert.ok(search.sustainablePerSecond !== null && search.sustainablePerSecond <= 7_300, `${search.sustainablePerSecond}`)
  assert.ok(search.sustainablePerSecond >= 7_300 * 0.95, `${search.sustainablePerSecond}`)
  assert.ok(search.steps.length <= 8)
  assert.equal(search.heldAtCap, false)
  // every rate that held is at most the limit, every one that failed above it
  for (const step of search.steps) assert.equal(step.held, step.rate <= 7_300, `${step.rate}`)
})

test('doubles up to the cap, and reports a rate held there as at least the cap', async () => {
  const search = await searchSustainableRate('fake', server(1e9), { burstPerSecond: 90_000, maxOffered: 40_000 })
  assert.deepEqual(search.steps.map(s => s.rate), [22_500, 40_000])
  assert.equal(search.cap, 40_000)
  assert.equal(search.sustainablePerSecond, 40_000)
  assert.equal(search.heldAtCap, true)
  assert.match(sustainMarkdown([search], 15).join('\n'), /≥ 40000 \(the cap\)/)
})

test('never offers more than the burst', async () => {
  const search = await searchSustainableRate('fake', server(1e9), { burstPerSecond: 12_345 })
  assert.ok(search.steps.every(s => s.rate <= 12_300))
  assert.equal(search.heldAtCap, true)
})

test('halves until a rate holds, and reports none when nothing does within the steps', async () => {
  const search = await searchSustainableRate('fake', server(0), { burstPerSecond: 4_000, maxSteps: 3 })
  assert.deepEqual(search.steps.map(s => s.rate), [1_000, 500, 300])
  assert.equal(search.sustainablePerSecond, null)
  assert.match(sustainMarkdown([search], 15).join('\n'), /none \(< 300\)/)
})

test('a step holds only with p99 under 50 ms, no error and 95 % of the rate acknowledged', () => {
  assert.equal(holds(1_000, { perSecond: 1_000, errors: 0, p99: 49.9 }), true)
  assert.equal(holds(1_000, { perSecond: 1_000, errors: 0, p99: 50 }), false)
  assert.equal(holds(1_000, { perSecond: 1_000, errors: 1, p99: 5 }), false)
  assert.equal(holds(1_000, { perSecond: 900, errors: 0, p99: 5 }), false)
  assert.equal(holds(1_000, { perSecond: 0, errors: 0, p99: Number.NaN }), false)
})
