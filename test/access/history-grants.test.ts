// The history route's read grants [PER-50]: a sensor record this gateway looked up (or stored)
// in the last 5 s lets its owner and readers read without another look-up; a refusal always
// rests on a fresh look-up; a record stored through the gateway holds there at once. Two access
// services on one DHT stand for two gateways of one overlay.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSensorCredential, createSensorRecord, toBase64 } from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import { READ_GRANT_MAX_AGE_MS, type HistorySource } from '../../src/gateway/access/index.ts'
import { MemoryDht, call, newUser, startService, suite } from './helpers.ts'
import type { Fixture } from './helpers.ts'

const SENSOR = 'grants-1'
const NOW = 1_790_000_000_000
const REPLICA = '12D3KooWPeerGrantsAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

/** A DHT that counts the look-ups of each key. */
class CountingDht extends MemoryDht {
  readonly gets = new Map<string, number>()
  override async get (key: string): Promise<Uint8Array | undefined> {
    this.gets.set(key, (this.gets.get(key) ?? 0) + 1)
    return await super.get(key)
  }
}

describe('history route: read grants on a record up to 5 s old [PER-50]', () => {
  const dht = new CountingDht()
  let now = NOW
  let a: Fixture
  let b: Fixture
  let alice: Identity
  let bob: Identity
  let carol: Identity
  let seq = 0
  const source: HistorySource = async () => ({ replica: REPLICA, replicas: [REPLICA], envs: [], cps: [], certs: [], more: false })
  const path = (sensor = SENSOR): string => `/v1/sensors/${sensor}/history?from=${NOW - 60_000}&to=${NOW + 600_000}`
  const lookups = (sensor = SENSOR): number => dht.gets.get(`/gm-sensor/${sensor}`) ?? 0
  const status = async (fx: Fixture, signer: Identity, sensor = SENSOR): Promise<[number, unknown]> => {
    const res = await call(fx.url, 'GET', path(sensor), { signer })
    return [res.status, res.body.code]
  }
  const store = async (fx: Fixture, readers: Identity[], sensor = SENSOR): Promise<void> => {
    const { verifier } = await createSensorCredential(suite)
    const record = await createSensorRecord(suite, alice, { sensorId: sensor, verifier, seq: ++seq, readers })
    const res = await call(fx.url, 'PUT', `/v1/sensors/${sensor}`, { body: { record: toBase64(record) }, signer: alice })
    assert.ok(res.status === 200 || res.status === 201, JSON.stringify(res.body))
  }

  before(async () => {
    a = await startService(undefined, dht, { history: source, now: () => now })
    b = await startService(undefined, dht, { history: source, now: () => now })
    const users = await Promise.all([newUser(), newUser(), newUser()])
    for (const user of users) assert.equal((await call(a.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(user.bundle) } })).status, 201)
    ;[alice, bob, carol] = users.map(u => u.identity) as [Identity, Identity, Identity]
    await store(a, [bob])
  })
  after(async () => {
    await Promise.all([a.service.stop(), b.service.stop()])
  })

  it('looks the record up once for reads within 5 s, and again after', async () => {
    const before = lookups()
    assert.deepEqual(await status(b, bob), [200, undefined])
    assert.equal(lookups(), before + 1, 'the first read looks the record up')
    now += READ_GRANT_MAX_AGE_MS - 1
    assert.deepEqual(await status(b, bob), [200, undefined])
    assert.deepEqual(await status(b, alice), [200, undefined])
    assert.equal(lookups(), before + 1, 'reads within 5 s of the look-up rest on it')
    now += 1
    assert.deepEqual(await status(b, bob), [200, undefined])
    assert.equal(lookups(), before + 2, 'a read 5 s after the look-up looks it up again')
  })

  it('a revocation holds at once where it was stored, within 5 s elsewhere', async () => {
    now += 60_000
    assert.deepEqual(await status(b, bob), [200, undefined])
    assert.deepEqual(await status(a, bob), [200, undefined])
    await store(a, []) // alice takes bob off the list, through a
    assert.deepEqual(await status(a, bob), [403, 'GM_ERR_FORBIDDEN'], 'at the gateway that stored the change: at once')
    assert.deepEqual(await status(b, bob), [200, undefined], 'elsewhere: the grant b looked up less than 5 s ago')
    now += READ_GRANT_MAX_AGE_MS
    assert.deepEqual(await status(b, bob), [403, 'GM_ERR_FORBIDDEN'], 'elsewhere: 5 s after its look-up')
    now += 60_000
    assert.deepEqual(await status(b, bob), [403, 'GM_ERR_FORBIDDEN'])
  })

  it('a refusal always rests on a fresh look-up: a new reader reads at once everywhere', async () => {
    now += 60_000
    assert.deepEqual(await status(b, alice), [200, undefined])
    const before = lookups()
    assert.deepEqual(await status(b, carol), [403, 'GM_ERR_FORBIDDEN'])
    assert.equal(lookups(), before + 1, 'refused after a look-up, not on the held record')
    await store(a, [carol]) // shared through a
    assert.deepEqual(await status(b, carol), [200, undefined], 'b held the old list, looked again')
  })

  it('an unknown sensor is not remembered: readable at once once stored elsewhere', async () => {
    assert.deepEqual(await status(b, alice, 'grants-2'), [404, 'GM_ERR_SENSOR_NOT_FOUND'])
    await store(a, [], 'grants-2')
    assert.deepEqual(await status(b, alice, 'grants-2'), [200, undefined])
  })

  it('a look-up that finds an older record does not undo a newer one stored here', async () => {
    now += 60_000
    await store(b, [bob]) // seq n, bob a reader
    const newer = dht.values.get(`/gm-sensor/${SENSOR}`)
    await store(b, []) // seq n + 1, through b: bob off the list
    const newest = dht.values.get(`/gm-sensor/${SENSOR}`)
    assert.ok(newer !== undefined && newest !== undefined)
    dht.values.set(`/gm-sensor/${SENSOR}`, newer) // an overlay answering the older record
    now += READ_GRANT_MAX_AGE_MS
    assert.deepEqual(await status(b, bob), [403, 'GM_ERR_FORBIDDEN'], 'the newer record held decides')
    dht.values.set(`/gm-sensor/${SENSOR}`, newest)
  })
})
