// The history route's access check and the replica's page [PER-50]: for a caller it answered a
// moment ago the route asks the replica while it looks the sensor record up, and still answers
// nothing unless the caller is on the current list; for any other caller the replica is asked
// only after the check.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSensorCredential, createSensorRecord, toBase64 } from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import type { HistorySource } from '../../src/gateway/access/index.ts'
import { MemoryDht, ROOMY_SIGNUPS, call, newUser, startService, suite } from './helpers.ts'
import type { Fixture } from './helpers.ts'

const SENSOR = 'overlap-1'
const NOW = 1_790_000_000_000
const REPLICA = '12D3KooWPeerOverlapAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

/** A DHT whose sensor-record reads can be held until the replica has been asked (or a bound passes). */
class GatedDht extends MemoryDht {
  gate: Promise<void> | undefined
  override async get (key: string): Promise<Uint8Array | undefined> {
    if (key === `/gm-sensor/${SENSOR}` && this.gate !== undefined) await this.gate
    return await super.get(key)
  }
}

describe('history route: the replica asked during the access check [PER-50]', () => {
  let fx: Fixture
  let alice: Identity
  let bob: Identity
  const dht = new GatedDht()
  let asked: () => void = () => {}
  let calls = 0
  const source: HistorySource = async () => {
    calls++
    asked()
    return { replica: REPLICA, replicas: [REPLICA], envs: [], cps: [], certs: [], more: false }
  }
  const path = `/v1/sensors/${SENSOR}/history?from=${NOW - 60_000}&to=${NOW}`

  /** Holds the sensor record's lookup until the replica is asked, at most 1 s; whether it was asked first. */
  const holdLookup = (): { askedFirst: Promise<boolean> } => {
    let resolve: (first: boolean) => void = () => {}
    const askedFirst = new Promise<boolean>(r => { resolve = r })
    const timer = setTimeout(() => resolve(false), 1000)
    asked = () => { clearTimeout(timer); resolve(true) }
    dht.gate = askedFirst.then(() => {})
    return { askedFirst }
  }

  before(async () => {
    // every request looks the record up here (read grants are tested in history-grants.test.ts)
    fx = await startService({ allowWeakKdfForTests: true, signupLimit: ROOMY_SIGNUPS, readGrantMaxAgeMs: 0 }, dht, { history: source, now: () => NOW })
    const users = await Promise.all([newUser(), newUser()])
    for (const user of users) assert.equal((await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(user.bundle) } })).status, 201)
    ;[alice, bob] = users.map(u => u.identity) as [Identity, Identity]
    const { verifier } = await createSensorCredential(suite)
    const record = await createSensorRecord(suite, alice, { sensorId: SENSOR, verifier, seq: 1, readers: [bob] })
    assert.equal((await call(fx.url, 'PUT', `/v1/sensors/${SENSOR}`, { body: { record: toBase64(record) }, signer: alice })).status, 201)
  })
  after(async () => { await fx.service.stop() })

  it('asks the replica only after the check on a caller\'s first request, during it on the next', async () => {
    const first = holdLookup()
    const res1 = await call(fx.url, 'GET', path, { signer: alice })
    assert.equal(res1.status, 200)
    assert.equal(await first.askedFirst, false, 'the first request waits for the check')
    const second = holdLookup()
    const res2 = await call(fx.url, 'GET', path, { signer: alice })
    assert.equal(res2.status, 200)
    assert.equal(await second.askedFirst, true, 'the next request asks the replica during the check')
    dht.gate = undefined
  })

  it('refuses a reader taken off the list though the replica was asked, and asks only after the check from then on', async () => {
    dht.gate = undefined
    assert.equal((await call(fx.url, 'GET', path, { signer: bob })).status, 200)
    const { verifier } = await createSensorCredential(suite)
    const record = await createSensorRecord(suite, alice, { sensorId: SENSOR, verifier, seq: 2, readers: [] })
    assert.equal((await call(fx.url, 'PUT', `/v1/sensors/${SENSOR}`, { body: { record: toBase64(record) }, signer: alice })).status, 200)
    const before = calls
    const refused = await call(fx.url, 'GET', path, { signer: bob })
    assert.equal(refused.status, 403)
    assert.equal(refused.body.code, 'GM_ERR_FORBIDDEN')
    assert.equal(refused.body.readings, undefined)
    assert.equal(calls, before + 1, 'asked during the check')
    const again = await call(fx.url, 'GET', path, { signer: bob })
    assert.equal(again.status, 403)
    assert.equal(calls, before + 1, 'forgotten: no replica asked before the check')
  })
})
