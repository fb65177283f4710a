// End-to-end authenticity of readings [ENV-10] [ACS-19]: the client pins its network's CA at
// sign-up and log-in, and refuses a reading unless the key that sealed it is a collector that CA
// certified at the reading's time, and the reading is of the sensor asked for. A patched access
// gateway (a real HTTP server in front of a genuine one) serves fabricated and replayed envelopes.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createClient } from '../../src/client/index.ts'
import type { Client, Session } from '../../src/client/index.ts'
import { GatemeshError, isGatemeshError, openRecord, toBase64 } from '../../src/core/index.ts'
import type { SigningKey } from '../../src/core/index.ts'
import { MemoryDht, certifiedKey, otherCa, putReading, sealFor, startService, suite } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'
import { startRogueGateway, type RogueGateway } from './rogue-gateway.ts'

const TEST_KDF = { kdfIterations: 1000, allowWeakKdfForTests: true }

async function rejects (promise: Promise<unknown>, code: string, cause?: string): Promise<GatemeshError> {
  let caught: GatemeshError | undefined
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof GatemeshError, String(err))
    assert.equal(err.code, code, err.message)
    if (cause !== undefined) assert.ok(isGatemeshError(err.cause, cause as `GM_ERR_${string}`), `cause: ${String(err.cause)}`)
    caught = err
    return true
  })
  return caught as GatemeshError
}

function opensslFingerprint (der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':')
}

describe('authenticity of readings', () => {
  let a: Fixture
  let foreign: Fixture
  let rogue: RogueGateway
  const password = 'reader password'
  let bobBundle: Uint8Array
  let bobAtRogue: Session

  before(async () => {
    const dht = new MemoryDht()
    a = await startService(undefined, dht)
    // a genuine gateway of another network (its own CA and overlay)
    foreign = await startService(undefined, new MemoryDht(), { ca: await otherCa() })
    rogue = await startRogueGateway(a.url)
    const alice = await createClient({ gateway: a.url, ...TEST_KDF }).signup('owner password')
    const bob = await createClient({ gateway: a.url, ...TEST_KDF }).signup(password)
    bobBundle = bob.bundle
    const owner = await createClient({ gateway: a.url, caCertificate: alice.caCertificate, ...TEST_KDF }).resume(alice.bundle, 'owner password')
    for (const id of ['hive-1', 'hive-2']) {
      await owner.addSensor(id)
      await owner.share(id, bob.pseudonym)
    }
    await putReading(a, 'hive-1', 1, 'genuine reading of hive-1')
    await putReading(a, 'hive-2', 1, 'genuine reading of hive-2')
    bobAtRogue = await createClient({ gateway: rogue.url, caCertificate: a.ca.certificate, ...TEST_KDF }).resume(bobBundle, password)
  })
  after(async () => {
    await rogue?.close()
    await a?.service.stop()
    await foreign?.service.stop()
  })

  it('pins the network\'s CA at sign-up (trust on first use) and compares it later', async () => {
    const client = createClient({ gateway: a.url, ...TEST_KDF })
    assert.equal(client.caCertificate, undefined)
    const signedUp = await client.signup('pw')
    assert.deepEqual(signedUp.caCertificate, a.ca.certificate)
    assert.deepEqual(client.caCertificate, a.ca.certificate)
    const again = await client.network()
    assert.equal(again.firstUse, false)
    assert.equal(again.fingerprint, opensslFingerprint(a.ca.certificate))
    // a fresh client pins on log-in
    const fresh = createClient({ gateway: a.url, ...TEST_KDF })
    await fresh.login(signedUp.pseudonym, 'pw')
    assert.deepEqual(fresh.caCertificate, a.ca.certificate)
  })

  it('refuses a gateway of another network at sign-up and log-in, and stores nothing there', async () => {
    const pinned = (gateway: string): Client => createClient({ gateway, caCertificate: a.ca.certificate, ...TEST_KDF })
    const before = foreign.dht.values.size
    const err = await rejects(pinned(foreign.url).signup('pw'), 'GM_ERR_CLIENT_CA_MISMATCH')
    assert.match(err.message, new RegExp(opensslFingerprint(foreign.ca.certificate)))
    assert.equal(foreign.dht.values.size, before, 'nothing was stored at the foreign gateway')
    const known = await createClient({ gateway: a.url, ...TEST_KDF }).signup('pw')
    await rejects(pinned(foreign.url).login(known.pseudonym, 'pw'), 'GM_ERR_CLIENT_CA_MISMATCH')
    // the pinned CA itself must be a CA certificate; a gateway must serve one
    await rejects(createClient({ gateway: a.url, caCertificate: a.certificate, ...TEST_KDF }).signup('pw'), 'GM_ERR_CA_CERT_INVALID')
    rogue.answers.network = () => ({ caCertificate: toBase64(a.certificate) })
    try {
      await rejects(createClient({ gateway: rogue.url, ...TEST_KDF }).signup('pw'), 'GM_ERR_CLIENT_BAD_RESPONSE', 'GM_ERR_CA_CERT_INVALID')
    } finally {
      rogue.answers.network = undefined
    }
  })

  it('reads a genuine reading through the patched gateway (the control)', async () => {
    const reading = await bobAtRogue.readLatest('hive-1')
    assert.equal(reading.text, 'genuine reading of hive-1')
    assert.deepEqual(reading.gatewayCert, a.certificate)
    assert.match(reading.gatewayPeerId, /^12D3KooW/)
  })

  describe('refuses fabricated readings', () => {
    /** The rogue answers the next read of hive-1 with an envelope `sealer` sealed for its readers. */
    async function fabricate (sealer: SigningKey, gatewayCert: Uint8Array, init: { ts?: number, sensor?: string } = {}): Promise<void> {
      const ts = init.ts ?? Date.now()
      const envelope = await sealFor(a.dht, sealer, { sensor: init.sensor ?? 'hive-1', seq: 99, ts }, '{"alarm":"fabricated"}')
      rogue.answers.latest = id => id === 'hive-1' ? { envelope: toBase64(envelope), seq: 99, ts, gatewayCert: toBase64(gatewayCert) } : undefined
    }
    async function refused (code: string, cause?: string): Promise<void> {
      const served = rogue.served
      await rejects(bobAtRogue.readLatest('hive-1'), code, cause)
      assert.equal(rogue.served, served + 1, 'the rogue answered this read')
    }
    after(() => { rogue.answers.latest = undefined })

    it('(a) sealed by a key without a certificate, shown with the genuine collector\'s certificate', async () => {
      const uncertified = await suite.importSigningKey(suite.randomBytes(32))
      await fabricate(uncertified, a.certificate)
      await refused('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'GM_ERR_CERT_KEY_MISMATCH')
      await fabricate(uncertified, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))
      await refused('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'GM_ERR_CERT_MALFORMED')
    })

    it('(a) sealed by a gateway the network certified for access only', async () => {
      const accessOnly = await certifiedKey(a.ca, ['access'])
      await fabricate(accessOnly.signer, accessOnly.certificate)
      const err = await rejects(bobAtRogue.readLatest('hive-1'), 'GM_ERR_CLIENT_READING_UNAUTHENTIC')
      assert.match(err.message, /not certified as a collector/)
    })

    it('(b) sealed by a collector of another network\'s CA', async () => {
      const elsewhere = await certifiedKey(foreign.ca, ['collector', 'access'])
      await fabricate(elsewhere.signer, elsewhere.certificate)
      await refused('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'GM_ERR_CERT_UNTRUSTED')
    })

    it('sealed by a collector whose certificate was not valid at the reading\'s time', async () => {
      const later = await certifiedKey(a.ca, ['collector'], { now: new Date(Date.now() + 3600_000) })
      await fabricate(later.signer, later.certificate)
      await refused('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'GM_ERR_CERT_NOT_YET_VALID')
      const collector = await certifiedKey(a.ca, ['collector'], { validityMs: 3600_000 })
      await fabricate(collector.signer, collector.certificate, { ts: Date.now() + 2 * 3600_000 })
      await refused('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'GM_ERR_CERT_EXPIRED')
      // the same collector inside its validity: accepted
      await fabricate(collector.signer, collector.certificate)
      assert.equal((await bobAtRogue.readLatest('hive-1')).text, '{"alarm":"fabricated"}')
    })

    it('a genuine envelope of another sensor, replayed for this one', async () => {
      const held = a.dht.values.get('/gm-latest/hive-2') as Uint8Array
      const record = await openRecord(suite, held)
      rogue.answers.latest = id => id === 'hive-1'
        ? { envelope: toBase64(record.body.envelope as Uint8Array), seq: 1, ts: Date.now(), gatewayCert: toBase64(a.certificate) }
        : undefined
      const err = await rejects(bobAtRogue.readLatest('hive-1'), 'GM_ERR_CLIENT_READING_MISMATCH')
      assert.match(err.message, /'hive-2' for 'hive-1'/)
    })
  })

  it('without a pinned CA, a resumed session pins the gateway\'s at its first read', async () => {
    const client = createClient({ gateway: a.url, ...TEST_KDF })
    const session = await client.resume(bobBundle, password)
    assert.equal(client.caCertificate, undefined)
    assert.equal((await session.readLatest('hive-2')).text, 'genuine reading of hive-2')
    assert.deepEqual(client.caCertificate, a.ca.certificate)
  })
})
