// Retention ([PER-41]) on the InfluxDB engine against a real influxd (started for this file on free
// 127.0.0.1 ports, its own dirs), with an injected clock: a sweep deletes each sensor's readings
// past its retention and keeps the rest and every sensor kept forever.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createInfluxEngine } from '../../src/gateway/persistence/engine/influxdb.ts'
import { createRetention } from '../../src/gateway/persistence/retention.ts'
import { startInfluxd, type Influxd } from '../support/influxd.ts'
import type { StorageEngine } from '../../src/gateway/persistence/engine/types.ts'

const DAY_S = 86_400
const gw = new Uint8Array(32).fill(5)

describe('retention on InfluxDB [PER-41]', { timeout: 120_000 }, () => {
  let server: Influxd
  let engine: StorageEngine
  before(async () => {
    server = await startInfluxd()
    engine = createInfluxEngine({ url: server.url, database: 'gm_retention' })
    await engine.open()
  })
  after(async () => {
    await engine?.close()
    await server?.stop()
  })

  it('readings past retention are gone, the others kept', async () => {
    const now = Date.UTC(2025, 5, 1)
    const seqDaysAgo = (days: number): number => (now - days * DAY_S * 1000) * 1000
    const ages = [1, 6.9, 7.1, 40]
    for (const sensor of ['week', 'forever']) {
      await engine.append(ages.map(d => ({ sensor, gw, seq: seqDaysAgo(d), envelope: new Uint8Array([1, 2, 3]) })))
    }
    const retention = createRetention({ engine, retention: async s => s === 'week' ? 7 * DAY_S : 0, now: () => now })
    assert.deepEqual(await retention.sweep(), { sensors: 2, deleted: 2 })
    const held = async (sensor: string): Promise<number[]> => (await engine.ids(sensor, 0, Number.MAX_SAFE_INTEGER)).map(k => k.seq)
    assert.deepEqual(await held('week'), [seqDaysAgo(6.9), seqDaysAgo(1)])
    assert.deepEqual(await held('forever'), ages.map(seqDaysAgo).sort((a, b) => a - b))
  })
})
