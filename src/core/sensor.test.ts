import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkSensorCredential, createSensorCredential, createSensorRecord, formatRetention, mayRead, parseRetention, sensorRecipients, verifySensorRecord, DEFAULT_RETENTION_SECONDS, MAX_RETENTION_SECONDS } from './sensor.ts'
import { generateIdentity } from './identity.ts'
import { decodeCanonical } from './encoding.ts'
import { signRecord } from './records.ts'
import { SUITES } from '../../test/support/suites.ts'
import { everyByteFlipIsRefused, rejectsWithCode } from '../../test/support/assert-error.ts'

for (const suite of SUITES) {
  describe(`sensor records (${suite.name})`, () => {
    it('round-trips; the owner and readers may read, others not; recipients start with the owner', async () => {
      const [owner, bob, carol, eve] = await Promise.all([0, 1, 2, 3].map(async () => await generateIdentity(suite)))
      const { credential, verifier } = await createSensorCredential(suite)
      const bytes = await createSensorRecord(suite, owner!, { sensorId: 'greenhouse-7', readers: [carol!, bob!, owner!], verifier, seq: 2 })
      const info = await verifySensorRecord(suite, bytes)
      assert.equal(info.sensorId, 'greenhouse-7')
      assert.equal(info.owner.pseudonym, owner!.pseudonym)
      assert.deepEqual(info.readers.map(r => r.pseudonym), [bob!.pseudonym, carol!.pseudonym].sort(), 'sorted, owner excluded')
      assert.equal(mayRead(info, bob!.pseudonym), true)
      assert.equal(mayRead(info, owner!.pseudonym), true)
      assert.equal(mayRead(info, eve!.pseudonym), false)
      assert.deepEqual(sensorRecipients(info)[0], { id: owner!.pseudonym, publicKey: owner!.encPub })
      assert.equal(await checkSensorCredential(suite, info.verifier, credential), true)
      assert.equal(await checkSensorCredential(suite, info.verifier, (await createSensorCredential(suite)).credential), false)
      assert.equal(await checkSensorCredential(suite, info.verifier, 'gms_short'), false)
      assert.equal(await checkSensorCredential(suite, info.verifier, 42), false)
      assert.equal(await checkSensorCredential(suite, info.verifier.subarray(0, 31), credential), false)
      await everyByteFlipIsRefused(bytes, variant => verifySensorRecord(suite, variant))
    })

    it('refuses records not signed by the owner, bad access lists and bad ids', async () => {
      const [owner, bob, mallory] = await Promise.all([0, 1, 2].map(async () => await generateIdentity(suite)))
      const { verifier } = await createSensorCredential(suite)
      const good = decodeCanonical(await createSensorRecord(suite, owner!, { sensorId: 's1', readers: [bob!], verifier, seq: 1 })) as { body: Record<string, unknown> }
      const resigned = await signRecord(suite, mallory!.signingKey, { type: 'sensor', key: 's1', seq: 2, body: good.body })
      await rejectsWithCode(() => verifySensorRecord(suite, resigned), 'GM_ERR_BAD_SIGNATURE')
      const reader = (good.body.readers as Array<Record<string, unknown>>)[0]!
      const wrongId = await signRecord(suite, owner!.signingKey, { type: 'sensor', key: 's1', seq: 2, body: { ...good.body, readers: [{ ...reader, id: mallory!.pseudonym }] } })
      await rejectsWithCode(() => verifySensorRecord(suite, wrongId), 'GM_ERR_PSEUDONYM_MISMATCH')
      const twice = await signRecord(suite, owner!.signingKey, { type: 'sensor', key: 's1', seq: 2, body: { ...good.body, readers: [reader, reader] } })
      await rejectsWithCode(() => verifySensorRecord(suite, twice), 'GM_ERR_MALFORMED')
      const badKey = await signRecord(suite, owner!.signingKey, { type: 'sensor', key: 'has space', seq: 2, body: good.body })
      await rejectsWithCode(() => verifySensorRecord(suite, badKey), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => createSensorRecord(suite, owner!, { sensorId: 'a/b', verifier, seq: 1 }), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => createSensorRecord(suite, owner!, { sensorId: 's', readers: [bob!, bob!], verifier, seq: 1 }), 'GM_ERR_MALFORMED')
    })

    it('[SEN-2] keeps a retention: absent is 30 days (records made before it stay valid), 0 is forever, bounds refused', async () => {
      const owner = await generateIdentity(suite)
      const { verifier } = await createSensorCredential(suite)
      // a record without the field: the bytes of before, still valid, 30 days
      const plain = await createSensorRecord(suite, owner, { sensorId: 's1', verifier, seq: 1 })
      const plainBody = (decodeCanonical(plain) as { body: Record<string, unknown> }).body
      assert.deepEqual(Object.keys(plainBody).sort(), ['owner', 'readers', 'verifier'])
      assert.equal((await verifySensorRecord(suite, plain)).retentionSeconds, DEFAULT_RETENTION_SECONDS)
      assert.equal(DEFAULT_RETENTION_SECONDS, 2_592_000)
      // the same body signed by hand as an earlier version did: valid
      const before = await signRecord(suite, owner.signingKey, { type: 'sensor', key: 's1', seq: 1, body: { owner: { sigPub: owner.sigPub, encPub: owner.encPub }, readers: [], verifier } })
      assert.equal((await verifySensorRecord(suite, before)).retentionSeconds, DEFAULT_RETENTION_SECONDS)
      for (const retention of [0, 60, 43_200, DEFAULT_RETENTION_SECONDS, MAX_RETENTION_SECONDS]) {
        const bytes = await createSensorRecord(suite, owner, { sensorId: 's1', verifier, seq: 2, retention })
        assert.equal((decodeCanonical(bytes) as { body: { retention: number } }).body.retention, retention)
        assert.equal((await verifySensorRecord(suite, bytes)).retentionSeconds, retention)
      }
      for (const retention of [-1, 1, 59, MAX_RETENTION_SECONDS + 1, 1.5, Number.NaN]) {
        await rejectsWithCode(() => createSensorRecord(suite, owner, { sensorId: 's1', verifier, seq: 2, retention }), 'GM_ERR_MALFORMED', `creating retention ${retention}`)
      }
      // signed by the owner with a bad retention: refused by every reader
      for (const retention of [59, MAX_RETENTION_SECONDS + 1, '30d', -5]) {
        const bytes = await signRecord(suite, owner.signingKey, { type: 'sensor', key: 's1', seq: 2, body: { ...plainBody, retention } })
        await rejectsWithCode(() => verifySensorRecord(suite, bytes), 'GM_ERR_MALFORMED', `verifying retention ${String(retention)}`)
      }
    })
  })
}

describe('retention as people write it ([SEN-2])', () => {
  it('parses forever and durations to seconds, within bounds, and formats them back', () => {
    assert.equal(parseRetention('forever'), 0)
    assert.equal(parseRetention('30d'), 2_592_000)
    assert.equal(parseRetention('12h'), 43_200)
    assert.equal(parseRetention('1m'), 60)
    assert.equal(parseRetention('36525d'), MAX_RETENTION_SECONDS)
    for (const bad of ['', '30', '59s', '36526d', 'never', '1y', '-1d', '1.5d', 'Forever']) {
      assert.throws(() => parseRetention(bad), (err: unknown) => err instanceof Error && (err as { code?: string }).code === 'GM_ERR_MALFORMED', bad)
    }
    assert.equal(formatRetention(0), 'forever')
    assert.equal(formatRetention(2_592_000), '30d')
    assert.equal(formatRetention(43_200), '12h')
    assert.equal(formatRetention(90), '90s')
  })
})
