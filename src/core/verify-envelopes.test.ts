/**
 * verifyEnvelopes ([ENV-6], [ENV-9]) against verifyEnvelope: for every envelope of a mixed list
 * (batches, a reading signed alone, bit flips at every byte of a batch member, proofs moved,
 * bodies altered under a held tree head, malformed input), the same envelope or the same code, in
 * order; with one Ed25519 verification per distinct batch signature.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeSealer, verifyEnvelope, verifyEnvelopes, type Recipient } from './envelope.ts'
import { generateIdentity } from './identity.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { utf8 } from './bytes.ts'
import { isGatemeshError } from './errors.ts'
import type { CryptoSuite } from './suite.ts'
import { SUITES } from '../../test/support/suites.ts'

/** What verifyEnvelope gives for one envelope, alone: the envelope, or the error's code. */
async function alone (suite: CryptoSuite, bytes: Uint8Array): Promise<unknown> {
  try {
    return { envelope: await verifyEnvelope(suite, bytes) }
  } catch (err) {
    return { code: isGatemeshError(err) ? err.code : `not a gatemesh error: ${String(err)}` }
  }
}

for (const suite of SUITES) {
  describe(`verifyEnvelopes (${suite.name})`, () => {
    it('gives, in order, what verifyEnvelope gives each envelope alone, one Ed25519 verification per batch signature', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const other = await suite.importSigningKey(suite.randomBytes(32))
      const reader = await generateIdentity(suite)
      const recipients: Recipient[] = [{ id: reader.pseudonym, publicKey: reader.encPub }]
      const seal = async (signer: typeof gateway, sensor: string, n: number, from: number): Promise<Uint8Array[]> =>
        (await new EnvelopeSealer({ suite, signer }).sealBatch(Array.from({ length: n }, (_, i) => ({ header: { sensor, ts: 10, seq: from + i }, plaintext: utf8(`r${from + i}`), recipients }))))
          .map(o => (o as { envelope: Uint8Array }).envelope)
      const a = await seal(gateway, 'a', 8, 0)
      const b = await seal(other, 'b', 5, 100)
      const [single] = await seal(gateway, 'c', 1, 200)
      const member = decodeCanonical(a[2] as Uint8Array) as { b: Uint8Array, p: { h: Uint8Array, i: number, n: number }, s: Uint8Array }
      const altered = Uint8Array.from(member.b); altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1
      const forgedSig = Uint8Array.from(member.s); forgedSig[5] = (forgedSig[5] as number) ^ 1
      const flips = Array.from({ length: (a[5] as Uint8Array).length }, (_, i) => { const v = Uint8Array.from(a[5] as Uint8Array); v[i] = (v[i] as number) ^ 1; return v })
      const list: Uint8Array[] = [
        ...a.slice(0, 4), ...b, single as Uint8Array, ...a.slice(4),
        encodeCanonical({ ...member, b: altered }), // a body altered under a held tree head
        encodeCanonical({ ...member, s: forgedSig }), // a forged signature over a held tree head
        encodeCanonical({ ...member, p: (decodeCanonical(b[0] as Uint8Array) as { p: unknown }).p }), // another batch's proof
        encodeCanonical({ ...member, p: { ...member.p, n: 1, i: 0 } }), // malformed proof
        encodeCanonical({ b: member.b, s: member.s }), // a batch member as if signed alone
        new Uint8Array([0xa0]), suite.randomBytes(200), new Uint8Array(0),
        ...flips,
        ...a // the batch again, after its forgeries
      ]
      let verifies = 0
      const counting: CryptoSuite = { ...suite, verify: async (k, m, s) => { verifies++; return await suite.verify(k, m, s) } }
      const outcomes = await verifyEnvelopes(counting, list)
      assert.equal(outcomes.length, list.length)
      for (const [i, bytes] of list.entries()) {
        const outcome = outcomes[i]
        const expected = await alone(suite, bytes)
        const got = outcome !== undefined && 'envelope' in outcome ? { envelope: outcome.envelope } : { code: isGatemeshError(outcome?.error) ? outcome.error.code : `not a gatemesh error: ${String(outcome?.error)}` }
        assert.deepEqual(got, expected, `envelope ${i}`)
      }
      assert.equal(outcomes.filter(o => 'envelope' in o).length, 8 + 5 + 1 + 8, 'every honest envelope verifies')
      // the caller's own copies (inputOwned: fields are views of them): the same outcomes
      const owned = await verifyEnvelopes(suite, list.map(bytes => Uint8Array.from(bytes)), { inputOwned: true })
      assert.deepEqual(owned.map(o => 'envelope' in o ? o.envelope : (o.error as { code?: string }).code), outcomes.map(o => 'envelope' in o ? o.envelope : (o.error as { code?: string }).code))
      // the honest envelopes alone: a's batch, b's batch and the one signed alone, each signature verified once
      let before = verifies
      const honest = await verifyEnvelopes(counting, [...a, ...b, single as Uint8Array])
      assert.ok(honest.every(o => 'envelope' in o))
      assert.equal(verifies, before + 3)
      before = verifies
      // a set given by the caller is shared as verifyEnvelope shares it: nothing verified again
      const verifiedBatches = new Set<string>()
      await verifyEnvelopes(counting, a, { verifiedBatches })
      assert.equal(verifies, before + 1)
      await verifyEnvelopes(counting, a, { verifiedBatches })
      for (const e of a) await verifyEnvelope(counting, e, { verifiedBatches })
      assert.equal(verifies, before + 1)
    })
  })
}
