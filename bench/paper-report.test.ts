// The paper scenario's floors and CPU-per-reading helpers: `npx node --test bench/paper-report.test.ts`.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ProtocolSummary, SimulationReport } from '../src/sim/index.ts'
import { cpuCost, cpuDelta, cpuMarkdown, failedCount, floorPhaseMs, floorsMarkdown } from './paper-report.ts'
import type { FloorResult } from './paper-report.ts'

const summary = (over: Partial<ProtocolSummary>): ProtocolSummary => ({ sensors: 2, sent: 10, acknowledged: 10, refused: {}, errors: {}, pending: 0, n: 10, mean: 1, sd: 0.5, p50: 1, p99: 2, max: 3, ...over })
const report = (mqtt: Partial<ProtocolSummary>, http: Partial<ProtocolSummary>): SimulationReport => ({
  startedAt: '2026-01-01T00:00:00.000Z', durationMs: 30_000, speed: 1, periodSeconds: { min: 20, max: 150 }, qos: 1, keepAlive: false, seed: 1, protocols: { mqtt: summary(mqtt), http: summary(http) }, sensors: []
})

test('a floor phase is --floor-seconds, else a quarter of the run, never under 30 s', () => {
  assert.equal(floorPhaseMs(2), 30_000)
  assert.equal(floorPhaseMs(1), 30_000)
  assert.equal(floorPhaseMs(4), 60_000)
  assert.equal(floorPhaseMs(3), 45_000)
  assert.equal(floorPhaseMs(4, 12), 12_000)
})

test('the CPU between two snapshots sums each process present in both', () => {
  assert.equal(cpuDelta([100, 200, 300], [150, 260, 300]), 110)
  // a gateway gone (or not readable) in either snapshot is left out, not counted as -its total
  assert.equal(cpuDelta([100, undefined, 300], [150, 900, undefined]), 50)
  assert.equal(cpuDelta([], []), 0)
})

test('CPU per acknowledged reading, in all and above the idle rate', () => {
  // idle: 70 ms of CPU over 10 s (7 ms/s); busy: 12 000 ms over 120 s (100 ms/s) for 300 readings
  const cost = cpuCost({ cpuMs: 70, ms: 10_000 }, { cpuMs: 12_000, ms: 120_000, acknowledged: 300 }, 2)
  assert.equal(cost.idleCpuMsPerSecond, 7)
  assert.equal(cost.busyCpuMsPerSecond, 100)
  assert.equal(cost.busyShareOfCores, 0.05)
  assert.equal(cost.acknowledged, 300)
  assert.equal(cost.cpuMsPerReading, 40)
  // 12 000 - 7 ms/s × 120 s = 11 160 ms above idle, over 300 readings
  assert.equal(cost.cpuMsPerReadingAboveIdle, 37.2)
})

test('no acknowledged reading or no time: no per-reading figure, no division by zero', () => {
  const cost = cpuCost({ cpuMs: 0, ms: 0 }, { cpuMs: 500, ms: 1000, acknowledged: 0 }, 2)
  assert.equal(cost.idleCpuMsPerSecond, 0)
  assert.equal(cost.cpuMsPerReading, null)
  assert.equal(cost.cpuMsPerReadingAboveIdle, null)
})

test('refused and failed readings are counted together', () => {
  assert.equal(failedCount(summary({ refused: { GM_ERR_X: 2, 'HTTP 500': 1 }, errors: { timeout: 4 } })), 7)
  assert.equal(failedCount(summary({})), 0)
})

const floors: FloorResult[] = [
  { name: 'acknowledging at once', servers: { mqtt: 'raw Aedes', http: 'raw Fastify' }, report: report({ mean: 0.5, p50: 0.4, sent: 20, acknowledged: 20 }, { mean: 4, p50: 2, sent: 25, acknowledged: 24, errors: { ECONNRESET: 1 } }), cpu: { cpuMs: 900, ms: 30_000 } },
  { name: 'journal before the acknowledgement', servers: { mqtt: 'raw Aedes + raw SQLite journal', http: 'raw Fastify + raw SQLite journal' }, report: report({ mean: 1, p50: 0 }, { mean: null, p50: null, acknowledged: 0 }), cpu: { cpuMs: 1000, ms: 30_000 } }
]

test('the floors\' table: a row per floor and protocol, with gatemesh\'s mean and p50 as ratios', () => {
  const gatemesh = report({ mean: 20, p50: 10 }, { mean: 100, p50: 50 })
  const lines = floorsMarkdown(floors, gatemesh, 30_000)
  const rows = lines.filter(l => l.startsWith('| raw'))
  assert.deepEqual(rows, [
    '| raw Fastify | HTTP | 25 | 24 | 1 | **4.00** | 0.50 | 2.00 | 2.00 | 3.00 | 25.0× | 25.0× |',
    '| raw Aedes | MQTT QoS 1 | 20 | 20 | 0 | **0.50** | 0.50 | 0.40 | 2.00 | 3.00 | 40.0× | 25.0× |',
    // no time, or a zero p50: no ratio
    '| raw Fastify + raw SQLite journal | HTTP | 10 | 0 | 0 | **-** | 0.50 | - | 2.00 | 3.00 | - | - |',
    '| raw Aedes + raw SQLite journal | MQTT QoS 1 | 10 | 10 | 0 | **1.00** | 0.50 | 0.00 | 2.00 | 3.00 | 20.0× | - |'
  ])
  const text = lines.join('\n')
  assert.match(text, /2 phases of 30 s/)
  assert.match(text, /7 gateways stayed up, idle/)
  assert.match(text, /checks the sensor's credentials/)
  // every row has as many cells as the header
  const cells = (l: string): number => l.split('|').length
  for (const row of rows) assert.equal(cells(row), cells(lines.find(l => l.startsWith('| floor |')) as string))
})

test('the CPU table: the gateways idle and busy, and each floor\'s process per reading', () => {
  const cost = cpuCost({ cpuMs: 70, ms: 10_000 }, { cpuMs: 12_000, ms: 120_000, acknowledged: 300 }, 2)
  const lines = cpuMarkdown(cost, 2, 10_000, floors)
  assert.ok(lines.includes('| 7 gateways, idle | - | 7.0 | - | - |'))
  assert.ok(lines.includes('| 7 gateways, simulation | 300 | 100.0 | 40.00 | 37.20 |'))
  // 900 ms over the phase's 44 readings; 1000 ms over 10
  assert.ok(lines.includes('| floors\' process, acknowledging at once | 44 | 30.0 | 20.45 | - |'))
  assert.ok(lines.includes('| floors\' process, journal before the acknowledgement | 10 | 33.3 | 100.00 | - |'))
  assert.match(lines.join('\n'), /2 cores, 2000 CPU ms per second; while the readings arrived the gateways used 5\.0 %/)
})
