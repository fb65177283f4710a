// Hostile input against the Data Access service over real HTTP on 127.0.0.1 (issue 14): sign-up
// floods, oversized bundles, one account flooding the nonce cache, full access indexes.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  createSensorCredential, createSensorRecord, generateIdentity, signRecord, signRequest, utf8
} from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import { createAccessIndex, openAccessIndex } from '../../src/gateway/access/index.ts'
import { ROOMY_SIGNUPS, call, newUser, startService, suite, toBase64 } from './helpers.ts'
import type { Fixture } from './helpers.ts'

async function signup (fx: Fixture, bundle: Uint8Array): Promise<{ status: number, code?: string, retryAfter: string | null }> {
  const response = await fetch(`${fx.url}/v1/accounts`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ bundle: toBase64(bundle) })
  })
  const body = await response.json() as { code?: string }
  return { status: response.status, code: body.code, retryAfter: response.headers.get('retry-after') }
}

/** A signed GET; answers the status, code and Retry-After. */
async function signedGet (fx: Fixture, user: Identity, path: string): Promise<{ status: number, code?: string, retryAfter: string | null }> {
  const headers = await signRequest(suite, { keyId: user.pseudonym, key: user.signingKey }, { method: 'GET', url: path })
  const response = await fetch(fx.url + path, { headers: { ...headers } })
  const body = await response.json() as { code?: string }
  return { status: response.status, code: body.code, retryAfter: response.headers.get('retry-after') }
}

describe('sign-up flood [ACS-21]', () => {
  it('takes 10 sign-ups at once from one address by default, then answers 429 with Retry-After', async () => {
    const fx = await startService({ allowWeakKdfForTests: true })
    try {
      const users = await Promise.all(Array.from({ length: 14 }, async () => await newUser()))
      const answers = []
      for (const user of users) answers.push(await signup(fx, user.bundle))
      assert.deepEqual(answers.slice(0, 10).map(a => a.status), Array(10).fill(201))
      for (const answer of answers.slice(10)) {
        assert.deepEqual([answer.status, answer.code], [429, 'GM_ERR_SIGNUP_RATE_LIMITED'])
        // 60 an hour: the next token within a minute.
        const seconds = Number(answer.retryAfter)
        assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 60, `Retry-After: ${answer.retryAfter}`)
      }
      const stored = [...fx.dht.values.keys()].filter(k => k.startsWith('/gm-account/'))
      assert.equal(stored.length, 10)
      // Refused before the body is read: even garbage counts against the address, and is refused alike.
      const garbage = await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: 'AAAA' } })
      assert.deepEqual([garbage.status, garbage.body.code], [429, 'GM_ERR_SIGNUP_RATE_LIMITED'])
    } finally {
      await fx.service.stop()
    }
  })

  it('follows its configured bucket', async () => {
    const fx = await startService({ allowWeakKdfForTests: true, signupLimit: { burst: 2, perHour: 3600 } })
    try {
      const users = await Promise.all([newUser(), newUser(), newUser()])
      assert.deepEqual((await Promise.all(users.map(async u => await signup(fx, u.bundle)))).map(a => a.status).sort(), [201, 201, 429])
    } finally {
      await fx.service.stop()
    }
  })
})

describe('account size [ACS-22]', () => {
  it('refuses a valid, signed bundle over 1 024 bytes with GM_ERR_TOO_LARGE and stores nothing', async () => {
    const fx = await startService()
    try {
      const identity = await generateIdentity(suite)
      // Valid by [ACC-4] as the core checks it (ct up to 1 024 bytes, record up to 4 KiB), but no
      // genuine bundle is this large: its ciphertext holds two 32-byte secrets.
      const bloated = await signRecord(suite, identity.signingKey, {
        type: 'account',
        key: identity.pseudonym,
        seq: 1,
        body: {
          sigPub: identity.sigPub,
          encPub: identity.encPub,
          kdf: { alg: 'PBKDF2-SHA256', iter: 1000, salt: suite.randomBytes(16) },
          nonce: suite.randomBytes(12),
          ct: suite.randomBytes(1000)
        }
      })
      assert.ok(bloated.length > 1024 && bloated.length < 4096, String(bloated.length))
      const answer = await signup(fx, bloated)
      assert.deepEqual([answer.status, answer.code], [413, 'GM_ERR_TOO_LARGE'])
      assert.equal(fx.dht.values.has(`/gm-account/${identity.pseudonym}`), false)
      // A genuine bundle is well under the bound.
      const { bundle } = await newUser()
      assert.ok(bundle.length < 600, String(bundle.length))
      assert.equal((await signup(fx, bundle)).status, 201)
    } finally {
      await fx.service.stop()
    }
  })
})

describe('nonce cache per account [REQ-6]', () => {
  let fx: Fixture
  const users: Identity[] = []
  before(async () => {
    fx = await startService({ allowWeakKdfForTests: true, signupLimit: ROOMY_SIGNUPS, maxNonces: 12, maxNoncesPerAccount: 5 })
    for (const { identity, bundle } of await Promise.all([newUser(), newUser(), newUser()])) {
      assert.equal((await signup(fx, bundle)).status, 201)
      users.push(identity)
    }
  })
  after(async () => { await fx.service.stop() })

  it('lets account A fill only its own share: A gets GM_ERR_REQUEST_RATE_LIMITED, B still gets through', async () => {
    const [a, b] = users as [Identity, Identity]
    // A floods: three times its share, more than the whole cache holds.
    const flood = []
    for (let i = 0; i < 15; i++) flood.push(await signedGet(fx, a, '/v1/sensors'))
    for (let i = 0; i < 5; i++) {
      const answer = await signedGet(fx, b, '/v1/sensors')
      assert.deepEqual([answer.status, answer.code], [200, undefined], `B's request ${i}`)
    }
    assert.deepEqual(flood.slice(0, 5).map(r => r.status), Array(5).fill(200))
    for (const refused of flood.slice(5)) {
      assert.deepEqual([refused.status, refused.code], [429, 'GM_ERR_REQUEST_RATE_LIMITED'])
      // A's oldest nonce is forgotten at most two windows (created up to 60 s ahead, + 60 s) on.
      const seconds = Number(refused.retryAfter)
      assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 121, `Retry-After: ${refused.retryAfter}`)
    }
  })

  it('still refuses a replay, and answers GM_ERR_BUSY only once the whole cache is full', async () => {
    const [a, , c] = users as [Identity, Identity, Identity]
    const headers = await signRequest(suite, { keyId: c.pseudonym, key: c.signingKey }, { method: 'GET', url: '/v1/sensors' })
    assert.equal((await fetch(`${fx.url}/v1/sensors`, { headers: { ...headers } })).status, 200)
    const replay = await fetch(`${fx.url}/v1/sensors`, { headers: { ...headers } })
    assert.deepEqual([replay.status, (await replay.json() as { code: string }).code], [401, 'GM_ERR_REQUEST_REPLAYED'])
    // 5 (A) + 5 (B) + 1 (C) remembered of 12: C has one more, then the cache is full.
    assert.equal((await signedGet(fx, c, '/v1/sensors')).status, 200)
    const busy = await signedGet(fx, c, '/v1/sensors')
    assert.deepEqual([busy.status, busy.code], [503, 'GM_ERR_BUSY'])
    // A full cache is busy for every account, A included.
    assert.equal((await signedGet(fx, a, '/v1/sensors')).code, 'GM_ERR_BUSY')
  })
})

describe('full access index [ACS-12]', () => {
  let fx: Fixture
  let alice: Identity
  let bob: Identity
  const full = Array.from({ length: 1000 }, (_, i) => `filler-${String(i).padStart(4, '0')}`)

  async function sensorRecord (owner: Identity, id: string, seq: number, readers: Identity[] = []): Promise<string> {
    const { verifier } = await createSensorCredential(suite)
    return toBase64(await createSensorRecord(suite, owner, { sensorId: id, verifier, seq, readers }))
  }

  before(async () => {
    fx = await startService()
    const [a, b] = await Promise.all([newUser(), newUser()])
    for (const user of [a, b]) assert.equal((await signup(fx, user.bundle)).status, 201)
    alice = a.identity
    bob = b.identity
    // Bob's index already lists as many sensors as an index holds.
    const index = await createAccessIndex(suite, fx.gateway, { pseudonym: bob.pseudonym, sensors: full, seq: Date.now(), gatewayCert: utf8('test certificate') })
    await fx.dht.put(`/gm-access/${bob.pseudonym}`, index)
  })
  after(async () => { await fx.service.stop() })

  it('refuses to share a sensor with a user whose index is full, and stores nothing', async () => {
    const put = await call(fx.url, 'PUT', '/v1/sensors/porch-1', { body: { record: await sensorRecord(alice, 'porch-1', 1, [bob]) }, signer: alice })
    assert.deepEqual([put.status, put.body.code], [409, 'GM_ERR_ACCESS_INDEX_FULL'])
    assert.match(put.body.message as string, new RegExp(bob.pseudonym))
    assert.equal(fx.dht.values.has('/gm-sensor/porch-1'), false)
    assert.equal(fx.dht.values.has(`/gm-access/${alice.pseudonym}`), false)
    const index = await openAccessIndex(suite, fx.dht.values.get(`/gm-access/${bob.pseudonym}`) as Uint8Array, bob.pseudonym)
    assert.deepEqual(index.sensors, full)

    // Without Bob the same sensor is stored; a sensor his index already lists may name him.
    const alone = await call(fx.url, 'PUT', '/v1/sensors/porch-1', { body: { record: await sensorRecord(alice, 'porch-1', 1) }, signer: alice })
    assert.equal(alone.status, 201)
    const listed = await call(fx.url, 'PUT', `/v1/sensors/${full[7] as string}`, { body: { record: await sensorRecord(alice, full[7] as string, 1, [bob]) }, signer: alice })
    assert.equal(listed.status, 201)
    // Adding Bob to an existing sensor is refused the same way, and the held record stays.
    const grant = await call(fx.url, 'PUT', '/v1/sensors/porch-1', { body: { record: await sensorRecord(alice, 'porch-1', 2, [bob]) }, signer: alice })
    assert.deepEqual([grant.status, grant.body.code], [409, 'GM_ERR_ACCESS_INDEX_FULL'])
    const held = await call(fx.url, 'GET', '/v1/sensors', { signer: alice })
    assert.deepEqual((held.body.owned as Array<{ id: string, seq: number }>).map(s => [s.id, s.seq]).sort(), [[full[7], 1], ['porch-1', 1]])
  })
})
