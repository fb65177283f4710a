import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProtocolRecorder, percentile, summarise } from './stats.ts'
import { ReadingSource, seededRandom } from './readings.ts'
import { assignSensors, readSensorsFile, sensorIds } from './sensors-file.ts'
import { formatTable } from './format.ts'
import { isGatemeshError } from '../core/index.ts'

describe('simulator statistics', () => {
  it('nearest-rank percentiles, mean and sample sd are exact', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1)
    const s = summarise(values.toReversed())
    assert.equal(s.n, 100)
    assert.equal(s.p50, 50)
    assert.equal(s.p99, 99)
    assert.equal(s.max, 100)
    assert.equal(s.mean, 50.5)
    assert.ok(Math.abs((s.sd as number) - 29.011491975882016) < 1e-9)
    assert.equal(percentile([], 0.5), null)
    assert.deepEqual(summarise([]), { n: 0, mean: null, sd: null, p50: null, p99: null, max: null })
    assert.equal(summarise([7]).sd, 0)
  })

  it('a recorder counts every reading once: acknowledged, refused, failed or pending', () => {
    const r = new ProtocolRecorder('http')
    for (let i = 0; i < 6; i++) r.onSent()
    r.onAcknowledged(2)
    r.onAcknowledged(4)
    r.onRefused('GM_ERR_SENSOR_RATE_LIMITED')
    r.onError('ECONNRESET')
    r.onError('ECONNRESET')
    const s = r.summary()
    assert.equal(s.acknowledged, 2)
    assert.deepEqual(s.refused, { GM_ERR_SENSOR_RATE_LIMITED: 1 })
    assert.deepEqual(s.errors, { ECONNRESET: 2 })
    assert.equal(s.pending, 1)
    assert.equal(s.mean, 3)
    // the live window holds the times since it was last taken
    assert.equal(r.takeWindow().n, 2)
    assert.equal(r.takeWindow().n, 0)
    r.onAcknowledged(10)
    assert.equal(r.takeWindow().p50, 10)
    assert.equal(r.summary().n, 3)
  })

  it('the table shows each protocol with sensors, and refusals by code', () => {
    const r = new ProtocolRecorder('http')
    r.sensors = 2
    r.onSent(); r.onAcknowledged(5)
    r.onSent(); r.onRefused('GM_ERR_BUSY')
    const table = formatTable({
      startedAt: '', durationMs: 10_000, speed: 100, periodSeconds: { min: 20, max: 150 }, qos: 1, keepAlive: false, seed: 1, sensors: [],
      protocols: { mqtt: new ProtocolRecorder('mqtt').summary(), http: r.summary() }
    })
    assert.match(table, /^HTTP\s+2\s+2\s+1\s+1\s+0\s+0\s+5\.00\s/m)
    assert.doesNotMatch(table, /^MQTT/m)
    assert.match(table, /^refused \(HTTP\): GM_ERR_BUSY 1$/m)
    assert.match(table, /\(16\.7 min simulated\)/)
  })
})

describe('simulated readings', () => {
  it('are repeatable from a seed, numbered, and plausible', () => {
    const a = new ReadingSource(seededRandom(42))
    const b = new ReadingSource(seededRandom(42))
    const ra = Array.from({ length: 500 }, () => a.next())
    assert.deepEqual(ra, Array.from({ length: 500 }, () => b.next()))
    assert.notDeepEqual(new ReadingSource(seededRandom(43)).next(), ra[0])
    assert.deepEqual(ra.map(r => r.n), Array.from({ length: 500 }, (_, i) => i + 1))
    for (const r of ra) {
      assert.ok(r.temperature >= -20 && r.temperature <= 45)
      assert.ok(r.humidity >= 5 && r.humidity <= 100)
      assert.ok(r.pressure >= 950 && r.pressure <= 1050)
      assert.ok(r.battery >= 3 && r.battery <= 4.2)
    }
  })
})

describe('the sensors file', () => {
  it('is read, checked and split by protocol', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-sim-file-'))
    try {
      const path = join(dir, 'sensors.json')
      const ids = sensorIds('p', 'mqtt', 2)
      assert.deepEqual(ids, ['p-mqtt-001', 'p-mqtt-002'])
      await writeFile(path, JSON.stringify({ sensors: [{ id: ids[0], credential: 'c1', protocol: 'mqtt' }, { id: ids[1], credential: 'c2' }, { id: 'h', credential: 'c3', protocol: 'http' }] }))
      const entries = await readSensorsFile(path)
      assert.deepEqual(assignSensors(path, entries, { mqtt: 2, http: 1 }), {
        mqtt: [{ id: 'p-mqtt-001', credential: 'c1' }, { id: 'p-mqtt-002', credential: 'c2' }],
        http: [{ id: 'h', credential: 'c3' }]
      })
      assert.throws(() => assignSensors(path, entries, {}), (err: unknown) => isGatemeshError(err, 'GM_ERR_CLI_USAGE'))
      assert.throws(() => assignSensors(path, entries, { http: 3 }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CLI_USAGE'))
      for (const bad of ['not json', '{"sensors":[]}', '{"sensors":[{"id":"a b","credential":"x"}]}', '{"sensors":[{"id":"a","credential":"x","protocol":"coap"}]}']) {
        await writeFile(path, bad)
        await assert.rejects(readSensorsFile(path), (err: unknown) => isGatemeshError(err, 'GM_ERR_CLI_USAGE'), bad)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
