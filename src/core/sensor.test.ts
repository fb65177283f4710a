import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { checkSensorCredential, createSensorCredential, createSensorRecord, mayRead, sensorRecipients, verifySensorRecord } from './sensor.ts'
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
  })
}
