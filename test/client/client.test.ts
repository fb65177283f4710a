// The client library (WebCrypto suite, global fetch) against a real access service on
// 127.0.0.1: sign up, log in at another gateway, bind, share, read, revoke, and error mapping.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createClient } from '../../src/client/index.ts'
import type { Session } from '../../src/client/index.ts'
import { GatemeshError, verifySensorRecord } from '../../src/core/index.ts'
import { MemoryDht, putReading, startService, suite } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'

const TEST_KDF = { kdfIterations: 1000, allowWeakKdfForTests: true }

async function rejects (promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GatemeshError, String(err))
    assert.equal(err.code, code, err.message)
    return true
  })
}

describe('client', () => {
  // Two gateways over one overlay (a shared DHT), as in a deployment.
  let a: Fixture
  let b: Fixture
  let alice: Session
  let bob: Session

  before(async () => {
    const dht = new MemoryDht()
    a = await startService(undefined, dht)
    b = await startService(undefined, dht)
  })
  after(async () => {
    await a.service.stop()
    await b.service.stop()
  })

  it('signs up at one gateway and logs in at another; a wrong password fails on the client', async () => {
    const atA = createClient({ gateway: a.url, ...TEST_KDF })
    const atB = createClient({ gateway: `${b.url}/`, ...TEST_KDF })
    const signedUp = await atA.signup('alice password')
    alice = await atB.login(signedUp.pseudonym, 'alice password')
    assert.equal(alice.pseudonym, signedUp.pseudonym)
    await rejects(atB.login(signedUp.pseudonym, 'wrong'), 'GM_ERR_BAD_PASSWORD')
    await rejects(atB.login('a'.repeat(52), 'x'), 'GM_ERR_ACCOUNT_NOT_FOUND')
    const bobUp = await atB.signup('bob password')
    bob = await atA.resume(bobUp.bundle, 'bob password', bobUp.pseudonym)
    // The password never leaves: the stored bundle does not contain it.
    assert.equal(Buffer.from(bobUp.bundle).includes('bob password'), false)
  })

  it('binds, shares, reads and revokes; errors carry the gateway\'s codes', async () => {
    const { credential, seq } = await alice.addSensor('hive-9')
    assert.match(credential, /^gms_[A-Za-z0-9_-]{43}$/)
    assert.equal(seq, 1)
    await rejects(alice.addSensor('hive-9'), 'GM_ERR_CLIENT_SENSOR_EXISTS')
    await rejects(bob.addSensor('hive-9'), 'GM_ERR_SENSOR_OWNED')
    await rejects(bob.readLatest('hive-9'), 'GM_ERR_FORBIDDEN')
    await rejects(alice.readLatest('hive-9'), 'GM_ERR_NO_READING')

    const shared = await alice.share('hive-9', bob.pseudonym)
    assert.deepEqual(shared, { seq: 2, readers: [bob.pseudonym] })
    await rejects(bob.share('hive-9', alice.pseudonym), 'GM_ERR_NOT_OWNER')
    await rejects(alice.share('hive-9', alice.pseudonym), 'GM_ERR_CLIENT_SELF')
    await rejects(alice.share('hive-9', 'b'.repeat(52)), 'GM_ERR_ACCOUNT_NOT_FOUND')

    await putReading(a, 'hive-9', 1, '{"temp":21.5}')
    const reading = await bob.readLatest('hive-9')
    assert.deepEqual([reading.text, reading.json, reading.seq], ['{"temp":21.5}', { temp: 21.5 }, 1])
    assert.equal(reading.gateway, Buffer.from(a.gateway.publicKey).toString('hex'))

    assert.deepEqual((await bob.listSensors()).shared.map(s => s.id), ['hive-9'])
    assert.deepEqual((await alice.listSensors()).owned, [{ id: 'hive-9', seq: 2, readers: [bob.pseudonym] }])

    await alice.revoke('hive-9', bob.pseudonym)
    await rejects(alice.revoke('hive-9', bob.pseudonym), 'GM_ERR_CLIENT_NOT_SHARED')
    await rejects(bob.readLatest('hive-9'), 'GM_ERR_FORBIDDEN')
    assert.deepEqual((await bob.listSensors()).shared, [])
    // The credential's verifier survived both rewrites: the sensor keeps working.
    const info = await verifySensorRecord(suite, a.dht.values.get('/gm-sensor/hive-9') as Uint8Array)
    assert.equal(info.seq, 3)
  })

  it('maps transport failures and odd answers to client codes', async () => {
    await rejects(Promise.resolve().then(() => createClient({ gateway: 'ftp://example.org' })), 'GM_ERR_CLIENT_GATEWAY_URL')
    const closed = createClient({ gateway: 'http://127.0.0.1:1', ...TEST_KDF })
    await rejects(closed.signup('pw'), 'GM_ERR_CLIENT_UNREACHABLE')
    const html = createClient({ gateway: a.url, fetch: async () => new Response('<html>', { status: 502 }), ...TEST_KDF })
    await rejects(html.login('a'.repeat(52), 'pw'), 'GM_ERR_CLIENT_BAD_RESPONSE')
    const liar = createClient({ gateway: a.url, fetch: async () => Response.json({ bundle: 'AAAA' }), ...TEST_KDF })
    await rejects(liar.login(alice.pseudonym, 'pw'), 'GM_ERR_CLIENT_BAD_RESPONSE')
    await rejects(alice.readLatest('no spaces allowed'), 'GM_ERR_MALFORMED')
    await rejects(alice.readLatest('..'), 'GM_ERR_MALFORMED')
    const flood = createClient({ gateway: a.url, fetch: async () => new Response(new Uint8Array(2 * 1024 * 1024).fill(32)), ...TEST_KDF })
    await rejects(flood.login(alice.pseudonym, 'pw'), 'GM_ERR_CLIENT_BAD_RESPONSE')
  })
})
