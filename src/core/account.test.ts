import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createAccountBundle, openAccountBundle, verifyAccountBundle, DEFAULT_KDF_ITERATIONS, MIN_KDF_ITERATIONS } from './account.ts'
import { generateIdentity } from './identity.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { signRecord } from './records.ts'
import { SUITES } from '../../test/support/suites.ts'
import { everyByteFlipIsRefused, rejectsWithCode } from '../../test/support/assert-error.ts'

const weak = { iterations: 1000, allowWeakKdf: true } as const

for (const suite of SUITES) {
  describe(`account bundle (${suite.name})`, () => {
    it('opens with the password and rebuilds the same identity', async () => {
      const identity = await generateIdentity(suite)
      const bundle = await createAccountBundle(suite, identity, 'pässwörd', weak)
      const opened = await openAccountBundle(suite, bundle, 'pa\u0308sswo\u0308rd', weak) // NFC-normalised password
      assert.equal(opened.pseudonym, identity.pseudonym)
      assert.deepEqual(opened.secrets.signingSeed, identity.secrets.signingSeed)
      const info = await verifyAccountBundle(suite, bundle, weak)
      assert.equal(info.kdf.iter, 1000)
    })

    it('uses the calibrated default, accepts the OWASP minimum and refuses weaker parameters', async () => {
      const identity = await generateIdentity(suite)
      assert.ok(DEFAULT_KDF_ITERATIONS >= MIN_KDF_ITERATIONS)
      const bundle = await createAccountBundle(suite, identity, 'pw')
      assert.equal((await verifyAccountBundle(suite, bundle)).kdf.iter, DEFAULT_KDF_ITERATIONS)
      const minimal = await createAccountBundle(suite, identity, 'pw', { iterations: MIN_KDF_ITERATIONS })
      assert.equal((await openAccountBundle(suite, minimal, 'pw')).pseudonym, identity.pseudonym)
      await rejectsWithCode(() => createAccountBundle(suite, identity, 'pw', { iterations: 60_000_000 }), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => createAccountBundle(suite, identity, 'pw', { iterations: 1000 }), 'GM_ERR_WEAK_KDF')
      await rejectsWithCode(async () => await verifyAccountBundle(suite, await createAccountBundle(suite, identity, 'pw', weak)), 'GM_ERR_WEAK_KDF')
    })

    it('fails a wrong password with GM_ERR_BAD_PASSWORD and any changed byte with a gatemesh code', async () => {
      const identity = await generateIdentity(suite)
      const bundle = await createAccountBundle(suite, identity, 'right', weak)
      await rejectsWithCode(() => openAccountBundle(suite, bundle, 'wrong', weak), 'GM_ERR_BAD_PASSWORD')
      await rejectsWithCode(() => openAccountBundle(suite, bundle, '', weak), 'GM_ERR_MALFORMED')
      await everyByteFlipIsRefused(bundle, variant => verifyAccountBundle(suite, variant, weak))
    })

    it('refuses a bundle signed by a key its pseudonym does not name', async () => {
      const alice = await generateIdentity(suite)
      const mallory = await generateIdentity(suite)
      const bundle = decodeCanonical(await createAccountBundle(suite, alice, 'pw', weak)) as { body: Record<string, unknown> }
      // Mallory re-signs Alice's body under Alice's pseudonym with her own key.
      const forged = await signRecord(suite, mallory.signingKey, { type: 'account', key: alice.pseudonym, seq: 2, body: bundle.body })
      await rejectsWithCode(() => verifyAccountBundle(suite, forged, weak), 'GM_ERR_BAD_SIGNATURE')
      // Mallory's own keys under Alice's pseudonym.
      const own = decodeCanonical(await createAccountBundle(suite, mallory, 'pw', weak)) as { body: Record<string, unknown> }
      const squatted = await signRecord(suite, mallory.signingKey, { type: 'account', key: alice.pseudonym, seq: 1, body: own.body })
      await rejectsWithCode(() => verifyAccountBundle(suite, squatted, weak), 'GM_ERR_PSEUDONYM_MISMATCH')
      const badKdf = await signRecord(suite, alice.signingKey, { type: 'account', key: alice.pseudonym, seq: 1, body: { ...bundle.body, kdf: { alg: 'MD5', iter: 1, salt: new Uint8Array(16) } } })
      await rejectsWithCode(() => verifyAccountBundle(suite, badKdf, weak), 'GM_ERR_UNSUPPORTED_VERSION')
      await rejectsWithCode(() => verifyAccountBundle(suite, encodeCanonical({ hello: 'world' })), 'GM_ERR_UNSUPPORTED_VERSION')
    })
  })
}
