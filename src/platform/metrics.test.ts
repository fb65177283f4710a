import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { FixedCounter, FixedHistogram, createMetricsRegistry } from './metrics.ts'
import { createIngestMetrics } from '../gateway/metrics.ts'

function lines (text: string, name: string): string[] {
  return text.split('\n').filter(line => line.startsWith(name))
}

describe('metrics', () => {
  it('a fixed counter counts per series and is formatted by the registry', async () => {
    const register = createMetricsRegistry()
    const counter = new FixedCounter({ name: 'test_things_total', help: 'Things.', labelNames: ['kind'], registers: [register] })
    const a = counter.series('a')
    a.inc()
    a.inc(2)
    assert.equal(counter.series('a'), a, 'a series is resolved once')
    counter.series('b').inc()
    const text = await register.metrics()
    assert.deepEqual(lines(text, 'test_things_total'), ['test_things_total{kind="a"} 3', 'test_things_total{kind="b"} 1'])
    assert.match(text, /# TYPE test_things_total counter/)
    assert.throws(() => counter.series('a', 'b'), TypeError)
  })

  it('a fixed histogram exports cumulative buckets, +Inf, sum and count', async () => {
    const register = createMetricsRegistry()
    const histogram = new FixedHistogram({ name: 'test_seconds', help: 'Durations.', labelNames: ['p'], buckets: [0.01, 0.001, 0.1], registers: [register] })
    const s = histogram.series('x')
    for (const v of [0.0005, 0.001, 0.05, 3]) s.observe(v)
    assert.deepEqual(lines(await register.metrics(), 'test_seconds'), [
      'test_seconds_bucket{p="x",le="0.001"} 2',
      'test_seconds_bucket{p="x",le="0.01"} 2',
      'test_seconds_bucket{p="x",le="0.1"} 3',
      'test_seconds_bucket{p="x",le="+Inf"} 4',
      'test_seconds_sum{p="x"} 3.0515',
      'test_seconds_count{p="x"} 4'
    ])
    assert.throws(() => new FixedHistogram({ name: 'bad', help: 'b', labelNames: [], buckets: [1, 1], registers: [] }), TypeError)
  })

  it('registries are separate: two gateways in one process do not clash', async () => {
    const one = createMetricsRegistry()
    const two = createMetricsRegistry()
    createIngestMetrics(one).accepted('mqtt', 5)
    createIngestMetrics(two).accepted('mqtt', 1)
    assert.deepEqual(lines(await one.metrics(), 'gatemesh_collector_readings_accepted_total{protocol="mqtt"}'), ['gatemesh_collector_readings_accepted_total{protocol="mqtt"} 5'])
    assert.deepEqual(lines(await two.metrics(), 'gatemesh_collector_readings_accepted_total{protocol="mqtt"}'), ['gatemesh_collector_readings_accepted_total{protocol="mqtt"} 1'])
    assert.match(await one.metrics(), /^process_cpu_seconds_total /m, 'Node\'s default metrics')
  })

  it('refusal codes are bounded: anything but a GM_ERR_ code counts as other', async () => {
    const register = createMetricsRegistry()
    const ingest = createIngestMetrics(register)
    ingest.refused('http', 'GM_ERR_SENSOR_CREDENTIAL')
    ingest.refused('http', 'GM_ERR_SENSOR_CREDENTIAL')
    ingest.refused('http', 'ECONNRESET')
    ingest.refused('http', 'something "quoted"')
    assert.deepEqual(lines(await register.metrics(), 'gatemesh_collector_readings_refused_total{'), [
      'gatemesh_collector_readings_refused_total{protocol="http",code="GM_ERR_SENSOR_CREDENTIAL"} 2',
      'gatemesh_collector_readings_refused_total{protocol="http",code="other"} 2'
    ])
  })
})
