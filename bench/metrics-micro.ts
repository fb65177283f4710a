/**
 * Micro-benchmark "metrics-micro": what counting a reading for /metrics costs the collector's
 * event loop, per call: prom-client's labelled `Histogram.observe` and `Counter.inc` beside the
 * collector's own `IngestMetrics` (`accepted` + `acknowledged`: one counter and one histogram
 * series resolved once, src/platform/metrics.ts). Wall time per call, and bytes allocated per
 * call: the young generation is made large enough (256 MB) that no scavenge runs during a
 * measured loop, so the heap's growth is what the calls allocated.
 *
 * Run: `npx node --expose-gc --min-semi-space-size=256 --max-semi-space-size=256 bench/metrics-micro.ts [--calls N]`;
 * prints one JSON line per measurement.
 */
import { parseArgs } from 'node:util'
import { Counter, Histogram, Registry } from 'prom-client'
import { ACK_BUCKETS, createIngestMetrics } from '../src/gateway/metrics.ts'

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' } } })
const calls = Number(values.calls)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc (and --min-semi-space-size=256 --max-semi-space-size=256)')

const register = new Registry()
const histogram = new Histogram({ name: 'micro_ack_seconds', help: 'h', labelNames: ['protocol'], buckets: ACK_BUCKETS, registers: [register] })
const counter = new Counter({ name: 'micro_accepted_total', help: 'c', labelNames: ['protocol'], registers: [register] })
const ingest = createIngestMetrics(register)
const labels = { protocol: 'mqtt' }

function measure (name: string, call: (i: number) => void): void {
  for (let i = 0; i < 100_000; i++) call(i)
  gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const start = performance.now()
  for (let i = 0; i < calls; i++) call(i)
  const ns = (performance.now() - start) * 1e6 / calls
  const bytes = (process.memoryUsage().heapUsed - heapBefore) / calls
  process.stdout.write(JSON.stringify({ name, calls, nsPerCall: Math.round(ns), bytesPerCall: Math.round(bytes * 10) / 10 }) + '\n')
}

measure('prom-client Histogram.observe({protocol})', i => { histogram.observe(labels, (i % 1000) / 10_000) })
measure('prom-client Counter.inc({protocol})', () => { counter.inc(labels) })
measure('IngestMetrics accepted + acknowledged', i => { ingest.accepted('mqtt', 1); ingest.acknowledged('mqtt', (i % 1000) / 10_000) })
