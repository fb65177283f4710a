// The Data Access service over real HTTP on 127.0.0.1, with an in-memory DHT: accounts, sensor
// records, access control on latest readings, replay refusal, listings.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  EnvelopeOpener, createAccountBundle, createSensorCredential, createSensorRecord, fromBase64, generateIdentity,
  signRecord, signRequest, fromUtf8, utf8, verifySensorRecord
} from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import { createAccessIndex, openAccessIndex } from '../../src/gateway/access/index.ts'
import { call, newUser, putReading, sealFor, startService, suite, toBase64, WEAK } from './helpers.ts'
import type { Fixture, MemoryDht } from './helpers.ts'

async function sensorRecord (owner: Identity, id: string, seq: number, readers: Identity[] = []): Promise<string> {
  const { verifier } = await createSensorCredential(suite)
  return toBase64(await createSensorRecord(suite, owner, { sensorId: id, verifier, seq, readers }))
}

describe('access service', () => {
  let fx: Fixture
  let alice: Identity
  let bob: Identity
  let carol: Identity

  before(async () => {
    fx = await startService()
    const users = await Promise.all([newUser(), newUser(), newUser()])
    for (const user of users) {
      const res = await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(user.bundle) } })
      assert.equal(res.status, 201)
      assert.equal(res.body.pseudonym, user.identity.pseudonym)
    }
    ;[alice, bob, carol] = users.map(u => u.identity) as [Identity, Identity, Identity]
  })
  after(async () => { await fx.service.stop() })

  it('stores and serves accounts; refuses duplicates, malformed and forged bundles', async () => {
    const got = await call(fx.url, 'GET', `/v1/accounts/${alice.pseudonym}`)
    assert.equal(got.status, 200)
    assert.deepEqual(fromBase64(got.body.bundle as string), fx.dht.values.get(`/gm-account/${alice.pseudonym}`))

    const again = await createAccountBundle(suite, alice, 'another password', WEAK)
    const dup = await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(again) } })
    assert.deepEqual([dup.status, dup.body.code], [409, 'GM_ERR_ACCOUNT_EXISTS'])

    const missing = await call(fx.url, 'GET', `/v1/accounts/${'a'.repeat(52)}`)
    assert.deepEqual([missing.status, missing.body.code], [404, 'GM_ERR_ACCOUNT_NOT_FOUND'])
    const badName = await call(fx.url, 'GET', '/v1/accounts/not-a-pseudonym')
    assert.deepEqual([badName.status, badName.body.code], [400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'])

    for (const body of [{ bundle: 'not base64!' }, { bundle: 'AAAA', extra: 1 }, {}, { bundle: 'AAA=' }]) {
      const res = await call(fx.url, 'POST', '/v1/accounts', { body })
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.match(res.body.code as string, /^GM_ERR_(ACCESS_REQUEST_MALFORMED|MALFORMED)$/)
    }
    const garbage = await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(utf8('hello, not CBOR at all')) } })
    assert.equal(garbage.status, 400)

    // A bundle for a fresh identity, re-signed by someone else's key.
    const victim = await generateIdentity(suite)
    const genuine = await createAccountBundle(suite, victim, 'pw', WEAK)
    const { decodeCanonical } = await import('../../src/core/index.ts')
    const record = decodeCanonical(genuine) as { key: string, seq: number, body: Record<string, unknown> }
    const forged = await signRecord(suite, carol.signingKey, { type: 'account', key: record.key, seq: record.seq, body: record.body })
    const refused = await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(forged) } })
    assert.deepEqual([refused.status, refused.body.code], [401, 'GM_ERR_BAD_SIGNATURE'])
    assert.equal(fx.dht.values.has(`/gm-account/${victim.pseudonym}`), false)

    const text = await fetch(`${fx.url}/v1/accounts`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })
    assert.deepEqual([text.status, (await text.json() as { code: string }).code], [415, 'GM_ERR_ACCESS_UNSUPPORTED_MEDIA'])
    const huge = await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: 'A'.repeat(200_000) } })
    assert.deepEqual([huge.status, huge.body.code], [413, 'GM_ERR_ACCESS_TOO_LARGE'])
  })

  it('refuses weak password derivations unless configured for tests', async () => {
    const strict = await startService({})
    try {
      const { bundle } = await newUser()
      const res = await call(strict.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(bundle) } })
      assert.deepEqual([res.status, res.body.code], [400, 'GM_ERR_WEAK_KDF'])
    } finally {
      await strict.service.stop()
    }
  })

  it('stores sensor records for their owner only, newest first, first owner keeps the id', async () => {
    const put = await call(fx.url, 'PUT', '/v1/sensors/greenhouse-1', { body: { record: await sensorRecord(alice, 'greenhouse-1', 1) }, signer: alice })
    assert.deepEqual([put.status, put.body], [201, { id: 'greenhouse-1', seq: 1 }])

    const stale = await call(fx.url, 'PUT', '/v1/sensors/greenhouse-1', { body: { record: await sensorRecord(alice, 'greenhouse-1', 1) }, signer: alice })
    assert.deepEqual([stale.status, stale.body.code], [409, 'GM_ERR_STALE_RECORD'])
    const taken = await call(fx.url, 'PUT', '/v1/sensors/greenhouse-1', { body: { record: await sensorRecord(bob, 'greenhouse-1', 5) }, signer: bob })
    assert.deepEqual([taken.status, taken.body.code], [409, 'GM_ERR_SENSOR_OWNED'])
    const notOwner = await call(fx.url, 'PUT', '/v1/sensors/greenhouse-1', { body: { record: await sensorRecord(alice, 'greenhouse-1', 2) }, signer: bob })
    assert.deepEqual([notOwner.status, notOwner.body.code], [403, 'GM_ERR_NOT_OWNER'])
    const mismatch = await call(fx.url, 'PUT', '/v1/sensors/other', { body: { record: await sensorRecord(alice, 'greenhouse-1', 2) }, signer: alice })
    assert.deepEqual([mismatch.status, mismatch.body.code], [400, 'GM_ERR_SENSOR_ID_MISMATCH'])
    const unsigned = await call(fx.url, 'PUT', '/v1/sensors/greenhouse-1', { body: { record: await sensorRecord(alice, 'greenhouse-1', 2) } })
    assert.deepEqual([unsigned.status, unsigned.body.code], [401, 'GM_ERR_REQUEST_UNSIGNED'])
    const stranger = await generateIdentity(suite)
    const unknown = await call(fx.url, 'GET', '/v1/sensors', { signer: stranger })
    assert.deepEqual([unknown.status, unknown.body.code], [401, 'GM_ERR_UNKNOWN_SIGNER'])

    const own = await call(fx.url, 'GET', '/v1/sensors/greenhouse-1', { signer: alice })
    assert.equal(own.status, 200)
    assert.equal((await verifySensorRecord(suite, fromBase64(own.body.record as string))).owner.pseudonym, alice.pseudonym)
    const forbidden = await call(fx.url, 'GET', '/v1/sensors/greenhouse-1', { signer: bob })
    assert.deepEqual([forbidden.status, forbidden.body.code], [403, 'GM_ERR_FORBIDDEN'])
    const none = await call(fx.url, 'GET', '/v1/sensors/nothing-here', { signer: bob })
    assert.deepEqual([none.status, none.body.code], [404, 'GM_ERR_SENSOR_NOT_FOUND'])
  })

  it('serves the CA certificate of its network, unsigned [ACS-18]', async () => {
    const res = await call(fx.url, 'GET', '/v1/network')
    assert.equal(res.status, 200)
    assert.deepEqual(Object.keys(res.body), ['caCertificate'])
    assert.deepEqual(fromBase64(res.body.caCertificate as string), fx.ca.certificate)
  })

  it('refuses a latest record whose envelope another key sealed, or of another sensor [ACS-9] [OVL-31]', async () => {
    // users of their own, so the listings of the other tests stay as they are
    const [owner, reader] = await Promise.all([newUser(), newUser()])
    for (const user of [owner, reader]) assert.equal((await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(user.bundle) } })).status, 201)
    for (const id of ['vault-5', 'vault-6']) {
      const put = await call(fx.url, 'PUT', `/v1/sensors/${id}`, { body: { record: await sensorRecord(owner.identity, id, 1, [reader.identity]) }, signer: owner.identity })
      assert.equal(put.status, 201)
    }
    const latest = async (envelope: Uint8Array): Promise<{ status: number, body: Record<string, unknown> }> => {
      // the DHT here does not validate: the service must
      fx.dht.values.set('/gm-latest/vault-5', await signRecord(suite, fx.gateway, { type: 'latest', key: 'vault-5', seq: 3, body: { envelope, gatewayCert: fx.certificate } }))
      return await call(fx.url, 'GET', '/v1/sensors/vault-5/latest', { signer: reader.identity })
    }
    // the control: sealed by the certified collector that signs the record
    assert.equal((await latest(await sealFor(fx.dht, fx.gateway, { sensor: 'vault-5', seq: 3 }, 'genuine'))).status, 200)
    // sealed by a key without any certificate, vouched for by the collector's record
    const stranger = await suite.importSigningKey(suite.randomBytes(32))
    const forged = await latest(await sealFor(fx.dht, stranger, { sensor: 'vault-5', seq: 3 }, 'fabricated'))
    assert.deepEqual([forged.status, forged.body.code], [404, 'GM_ERR_NO_READING'])
    assert.match(forged.body.message as string, /does not verify/)
    // a genuine envelope of another sensor
    const misfiled = await latest(await sealFor(fx.dht, fx.gateway, { sensor: 'vault-6', seq: 3 }, 'elsewhere'))
    assert.deepEqual([misfiled.status, misfiled.body.code], [404, 'GM_ERR_NO_READING'])
  })

  it('serves the latest envelope to readers only, and never a replayed request', async () => {
    await call(fx.url, 'PUT', '/v1/sensors/meter-2', { body: { record: await sensorRecord(alice, 'meter-2', 1, [bob]) }, signer: alice })
    const empty = await call(fx.url, 'GET', '/v1/sensors/meter-2/latest', { signer: alice })
    assert.deepEqual([empty.status, empty.body.code], [404, 'GM_ERR_NO_READING'])
    await putReading(fx, 'meter-2', 7, '{"kWh":12.5}')

    const read = await call(fx.url, 'GET', '/v1/sensors/meter-2/latest', { signer: bob })
    assert.equal(read.status, 200)
    assert.equal(read.body.seq, 7)
    assert.deepEqual(fromBase64(read.body.gatewayCert as string), fx.certificate)
    const opened = await new EnvelopeOpener({ suite, reader: { pseudonym: bob.pseudonym, agreementKey: bob.agreementKey } }).open(fromBase64(read.body.envelope as string))
    assert.equal(fromUtf8(opened.plaintext), '{"kWh":12.5}')
    assert.equal(opened.header.ts, read.body.ts)

    const denied = await call(fx.url, 'GET', '/v1/sensors/meter-2/latest', { signer: carol })
    assert.deepEqual([denied.status, denied.body.code], [403, 'GM_ERR_FORBIDDEN'])

    // The very same signed request, sent twice.
    const headers = await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method: 'GET', url: '/v1/sensors/meter-2/latest' })
    const first = await fetch(`${fx.url}/v1/sensors/meter-2/latest`, { headers: { ...headers } })
    assert.equal(first.status, 200)
    const replay = await fetch(`${fx.url}/v1/sensors/meter-2/latest`, { headers: { ...headers } })
    assert.deepEqual([replay.status, (await replay.json() as { code: string }).code], [401, 'GM_ERR_REQUEST_REPLAYED'])
    const old = await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method: 'GET', url: '/v1/sensors/meter-2/latest' }, { created: Math.floor(Date.now() / 1000) - 600 })
    const expired = await fetch(`${fx.url}/v1/sensors/meter-2/latest`, { headers: { ...old } })
    assert.deepEqual([expired.status, (await expired.json() as { code: string }).code], [401, 'GM_ERR_REQUEST_EXPIRED'])
    // A signature for another path does not open this one.
    const elsewhere = await signRequest(suite, { keyId: carol.pseudonym, key: carol.signingKey }, { method: 'GET', url: '/v1/sensors' })
    const moved = await fetch(`${fx.url}/v1/sensors/meter-2/latest`, { headers: { ...elsewhere } })
    assert.equal(moved.status, 401)
  })

  it('lists owned and shared sensors, and drops a sensor from a revoked reader\'s list', async () => {
    await call(fx.url, 'PUT', '/v1/sensors/room-3', { body: { record: await sensorRecord(carol, 'room-3', 1, [alice, bob]) }, signer: carol })
    const carolList = await call(fx.url, 'GET', '/v1/sensors', { signer: carol })
    assert.deepEqual(carolList.body.owned, [{ id: 'room-3', seq: 1, readers: [alice.pseudonym, bob.pseudonym].sort() }])
    const bobList = await call(fx.url, 'GET', '/v1/sensors', { signer: bob })
    assert.deepEqual((bobList.body.shared as Array<{ id: string }>).map(s => s.id).sort(), ['meter-2', 'room-3'])
    assert.deepEqual(bobList.body.owned, [])

    await call(fx.url, 'PUT', '/v1/sensors/room-3', { body: { record: await sensorRecord(carol, 'room-3', 2, [alice]) }, signer: carol })
    const after = await call(fx.url, 'GET', '/v1/sensors', { signer: bob })
    assert.deepEqual((after.body.shared as Array<{ id: string }>).map(s => s.id), ['meter-2'])
    const aliceList = await call(fx.url, 'GET', '/v1/sensors', { signer: alice })
    assert.deepEqual((aliceList.body.owned as Array<{ id: string }>).map(s => s.id).sort(), ['greenhouse-1', 'meter-2'])
    assert.deepEqual(aliceList.body.shared, [{ id: 'room-3', seq: 2, owner: carol.pseudonym }])

    // A reading sealed after the revocation holds no wrap for bob, whoever hands it to him.
    await putReading(fx, 'room-3', 1, 'after revocation')
    const owner = await call(fx.url, 'GET', '/v1/sensors/room-3/latest', { signer: carol })
    const bobOpener = new EnvelopeOpener({ suite, reader: { pseudonym: bob.pseudonym, agreementKey: bob.agreementKey } })
    await assert.rejects(bobOpener.open(fromBase64(owner.body.envelope as string)), (err: Error & { code?: string }) => err.code === 'GM_ERR_NOT_A_RECIPIENT')
    const revoked = await call(fx.url, 'GET', '/v1/sensors/room-3/latest', { signer: bob })
    assert.deepEqual([revoked.status, revoked.body.code], [403, 'GM_ERR_FORBIDDEN'])

    // The index is advisory: an entry the sensor record does not back is not listed.
    const forged = await createAccessIndex(suite, fx.gateway, { pseudonym: bob.pseudonym, sensors: ['greenhouse-1', 'meter-2', 'room-3'], seq: Date.now() + 1000, gatewayCert: utf8('x') })
    await fx.dht.put(`/gm-access/${bob.pseudonym}`, forged)
    const filtered = await call(fx.url, 'GET', '/v1/sensors', { signer: bob })
    assert.deepEqual((filtered.body.shared as Array<{ id: string }>).map(s => s.id), ['meter-2'])
    const index = await openAccessIndex(suite, fx.dht.values.get(`/gm-access/${carol.pseudonym}`) as Uint8Array, carol.pseudonym)
    assert.deepEqual(index.sensors, ['room-3'])
  })

  it('answers garbage with a code, never a crash', async () => {
    const path = '/v1/sensors/greenhouse-1'
    const good = await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method: 'GET', url: path })
    const other = await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method: 'GET', url: '/v1/sensors' })
    const variants: Array<[Record<string, string>, number, string]> = [
      [{ ...good, 'signature-input': 'gm=("@method");created=1' }, 400, 'GM_ERR_REQUEST_MALFORMED'],
      [{ ...good, signature: 'gm=:AAAA:' }, 400, 'GM_ERR_REQUEST_MALFORMED'],
      [{ ...good, signature: other.signature }, 401, 'GM_ERR_REQUEST_SIGNATURE'],
      [{ ...good, 'content-digest': 'sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:' }, 400, 'GM_ERR_DIGEST_MISMATCH']
    ]
    for (const [headers, status, code] of variants) {
      const res = await fetch(fx.url + path, { headers })
      assert.deepEqual([res.status, (await res.json() as { code: string }).code], [status, code], JSON.stringify(headers))
    }
    // An account bundle where a sensor record belongs; a record of wrong bytes; a body with a bad digest.
    const bundle = toBase64(fx.dht.values.get(`/gm-account/${alice.pseudonym}`) as Uint8Array)
    const wrongType = await call(fx.url, 'PUT', '/v1/sensors/x1', { body: { record: bundle }, signer: alice })
    assert.deepEqual([wrongType.status, wrongType.body.code], [400, 'GM_ERR_WRONG_RECORD_TYPE'])
    const junk = await call(fx.url, 'PUT', '/v1/sensors/x1', { body: { record: toBase64(new Uint8Array(300).fill(0xff)) }, signer: alice })
    assert.deepEqual([junk.status, junk.body.code], [400, 'GM_ERR_MALFORMED'])
    const signedOther = await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method: 'PUT', url: '/v1/sensors/x1', body: utf8('{"record":"AAAA"}') })
    const swapped = await fetch(`${fx.url}/v1/sensors/x1`, { method: 'PUT', headers: { ...signedOther, 'content-type': 'application/json' }, body: '{"record":"BBBB"}' })
    assert.deepEqual([swapped.status, (await swapped.json() as { code: string }).code], [400, 'GM_ERR_DIGEST_MISMATCH'])
    const broken = await fetch(`${fx.url}/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"bundle": ' })
    assert.deepEqual([broken.status, (await broken.json() as { code: string }).code], [400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'])
    const proto = await fetch(`${fx.url}/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"__proto__": {"x": 1}, "bundle": "AAAA"}' })
    assert.equal(proto.status, 400)
  })

  it('serves its OpenAPI document and answers unknown routes with a code', async () => {
    const doc = await (await fetch(`${fx.url}/openapi.json`)).json() as { paths: Record<string, unknown> }
    assert.deepEqual(Object.keys(doc.paths).sort(), ['/v1/accounts', '/v1/accounts/{pseudonym}', '/v1/network', '/v1/sensors', '/v1/sensors/{id}', '/v1/sensors/{id}/history', '/v1/sensors/{id}/latest'])
    const preflight = await fetch(`${fx.url}/v1/sensors/x/latest`, { method: 'OPTIONS', headers: { origin: 'http://app.example', 'access-control-request-method': 'GET' } })
    assert.equal(preflight.status, 204)
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*')
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /signature-input/)
    const missing = await fetch(`${fx.url}/v2/nothing`)
    assert.deepEqual([missing.status, (await missing.json() as { code: string }).code], [404, 'GM_ERR_ACCESS_NOT_FOUND'])
  })
})

describe('access service over an overlay-shaped DHT', () => {
  it('reads "not found" as no value, survives an unknown index namespace, answers 503 when the overlay fails', async () => {
    const { GatemeshError } = await import('../../src/core/index.ts')
    const values = new Map<string, Uint8Array>()
    let broken = false
    const dht = {
      async get (key: string) {
        if (broken) throw new Error('socket hang up')
        if (key.startsWith('/gm-access/')) throw new GatemeshError('GM_ERR_RECORD_KEY')
        const value = values.get(key)
        if (value === undefined) throw new GatemeshError('GM_ERR_RECORD_NOT_FOUND')
        return value
      },
      async put (key: string, value: Uint8Array) {
        if (key.startsWith('/gm-access/')) throw new GatemeshError('GM_ERR_RECORD_KEY')
        values.set(key, value)
        // Held locally, no peer reached: stored as far as the API is concerned.
        throw new GatemeshError('GM_ERR_DHT_PUT_FAILED')
      }
    }
    const stored: string[] = []
    const fx = await startService({ allowWeakKdfForTests: true, onSensorStored: id => { stored.push(id) } }, dht as unknown as MemoryDht)
    try {
      const { identity, bundle } = await newUser()
      assert.equal((await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(bundle) } })).status, 201)
      const put = await call(fx.url, 'PUT', '/v1/sensors/s-1', { body: { record: await sensorRecord(identity, 's-1', 1) }, signer: identity })
      assert.equal(put.status, 201)
      assert.deepEqual(stored, ['s-1'])
      const list = await call(fx.url, 'GET', '/v1/sensors', { signer: identity })
      assert.deepEqual([list.status, list.body], [200, { owned: [], shared: [] }])
      broken = true
      const down = await call(fx.url, 'GET', '/v1/sensors/s-1', { signer: identity })
      assert.deepEqual([down.status, down.body.code], [503, 'GM_ERR_ACCESS_UNAVAILABLE'])
    } finally {
      await fx.service.stop()
    }
  })
})
