import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeOpener, EnvelopeSealer, readEnvelopeHeader, verifyEnvelope, type Recipient, type SealRequest } from './envelope.ts'
import { generateIdentity, type Identity } from './identity.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { concat, fromUtf8, toHex, utf8 } from './bytes.ts'
import { isGatemeshError } from './errors.ts'
import { SUITES } from '../../test/support/suites.ts'
import { everyByteFlipIsRefused, rejectsWithCode } from '../../test/support/assert-error.ts'

const asRecipient = (who: Identity): Recipient => ({ id: who.pseudonym, publicKey: who.encPub })

for (const suite of SUITES) {
  describe(`reading envelope (${suite.name})`, () => {
    it('seals for 1, 3 and 10 recipients; each opens it, an outsider cannot', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const sealer = new EnvelopeSealer({ suite, signer: gateway })
      const readers = await Promise.all(Array.from({ length: 10 }, async () => await generateIdentity(suite)))
      const outsider = await generateIdentity(suite)
      for (const count of [1, 3, 10]) {
        const sealed = await sealer.seal({ sensor: 'greenhouse-7', ts: 1764000000000, seq: count }, utf8(`reading ${count}`), readers.slice(0, count).map(asRecipient))
        for (const reader of readers.slice(0, count)) {
          const opened = await new EnvelopeOpener({ suite, reader }).open(sealed)
          assert.equal(fromUtf8(opened.plaintext), `reading ${count}`)
          assert.deepEqual(opened.header, { sensor: 'greenhouse-7', ts: 1764000000000, seq: count })
          assert.deepEqual(opened.gateway, gateway.publicKey)
        }
        await rejectsWithCode(() => new EnvelopeOpener({ suite, reader: outsider }).open(sealed), 'GM_ERR_NOT_A_RECIPIENT')
        // An outsider who relabels a wrap as its own still cannot unwrap the data key.
        const envelope = await verifyEnvelope(suite, sealed)
        assert.equal(envelope.wraps.length, count)
      }
    })

    it('readEnvelopeHeader gives the header and gw by form alone; openVerified opens what verifyEnvelope returned', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const reader = await generateIdentity(suite)
      const sealed = await new EnvelopeSealer({ suite, signer: gateway }).seal({ sensor: 's-1', ts: 1764000000000, seq: 4 }, utf8('x'), [asRecipient(reader)])
      const header = { sensor: 's-1', ts: 1764000000000, seq: 4, gw: gateway.publicKey }
      assert.deepEqual(readEnvelopeHeader(sealed), header)
      // the signature is not its business: a broken one still reads, and verifyEnvelope refuses it
      const broken = Uint8Array.from(sealed); broken[broken.length - 1] = (broken[broken.length - 1] as number) ^ 1
      assert.deepEqual(readEnvelopeHeader(broken), header)
      await rejectsWithCode(() => verifyEnvelope(suite, broken), 'GM_ERR_BAD_SIGNATURE')
      assert.throws(() => readEnvelopeHeader(utf8('not cbor')), err => isGatemeshError(err))
      const opened = await new EnvelopeOpener({ suite, reader }).openVerified(await verifyEnvelope(suite, sealed))
      assert.equal(fromUtf8(opened.plaintext), 'x')
    })

    it('never reuses a wrapping nonce or a data key, and rotates contexts', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      let now = 0
      const sealer = new EnvelopeSealer({ suite, signer: gateway }, { maxWrapsPerContext: 50, maxContextAgeMs: 1000, now: () => now })
      const reader = await generateIdentity(suite)
      const opener = new EnvelopeOpener({ suite, reader })
      const wrapNonces = new Set<string>()
      const readingNonces = new Set<string>()
      const contexts = new Set<string>()
      const sealed = await Promise.all(Array.from({ length: 300 }, async (_, i) =>
        await sealer.seal({ sensor: 's', ts: i, seq: i }, utf8('same reading every time'), [asRecipient(reader)])))
      for (const bytes of sealed) {
        const envelope = await verifyEnvelope(suite, bytes)
        const wrap = envelope.wraps[0]!
        const id = `${toHex(wrap.enc)}:${wrap.ctr}`
        assert.ok(!wrapNonces.has(id), 'a (context, counter) pair repeated')
        wrapNonces.add(id)
        contexts.add(toHex(wrap.enc))
        assert.ok(wrap.ctr < 50)
        readingNonces.add(toHex(envelope.nonce) + toHex(envelope.ct))
        assert.equal(fromUtf8((await opener.open(bytes)).plaintext), 'same reading every time')
      }
      assert.equal(readingNonces.size, 300, 'equal plaintexts gave equal ciphertexts')
      assert.ok(contexts.size >= 6, `expected rotation, saw ${contexts.size} contexts`)
      // Age-based rotation: a context older than maxContextAgeMs is replaced even with wraps left.
      const encOf = async (bytes: Uint8Array): Promise<string> => toHex((await verifyEnvelope(suite, bytes)).wraps[0]!.enc)
      const young = await encOf(await sealer.seal({ sensor: 's', ts: 1, seq: 1000 }, utf8('x'), [asRecipient(reader)]))
      assert.equal(await encOf(await sealer.seal({ sensor: 's', ts: 2, seq: 1001 }, utf8('x'), [asRecipient(reader)])), young, 'same context while young')
      now += 1000
      assert.notEqual(await encOf(await sealer.seal({ sensor: 's', ts: 3, seq: 1002 }, utf8('x'), [asRecipient(reader)])), young, 'a new context once the old one aged out')
    })

    it('a recipient removed from the list cannot open what is sealed afterwards', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const sealer = new EnvelopeSealer({ suite, signer: gateway })
      const [owner, revoked] = [await generateIdentity(suite), await generateIdentity(suite)]
      const before = await sealer.seal({ sensor: 's', ts: 1, seq: 1 }, utf8('before'), [asRecipient(owner), asRecipient(revoked)])
      assert.equal(fromUtf8((await new EnvelopeOpener({ suite, reader: revoked }).open(before)).plaintext), 'before')
      sealer.retainOnly([asRecipient(owner)])
      const after = await sealer.seal({ sensor: 's', ts: 2, seq: 2 }, utf8('after'), [asRecipient(owner)])
      await rejectsWithCode(() => new EnvelopeOpener({ suite, reader: revoked }).open(after), 'GM_ERR_NOT_A_RECIPIENT')
      // Grafting the revoked user's old wrap into the new envelope breaks the signature, and even
      // unsigned it would unwrap the old reading's data key, not this one's.
      const oldWrap = (await verifyEnvelope(suite, before)).wraps.find(w => w.to === revoked.pseudonym)!
      const outer = decodeCanonical(after) as { b: Uint8Array, s: Uint8Array }
      const body = decodeCanonical(outer.b) as Record<string, unknown>
      const grafted = encodeCanonical({ b: encodeCanonical({ ...body, wraps: [...(body.wraps as unknown[]), oldWrap] }), s: outer.s })
      await rejectsWithCode(() => new EnvelopeOpener({ suite, reader: revoked }).open(grafted), 'GM_ERR_BAD_SIGNATURE')
    })

    it('signs a batch once over the Merkle tree head; every envelope opens alone, for every reader', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const sealer = new EnvelopeSealer({ suite, signer: gateway })
      const readers = await Promise.all([0, 1, 2].map(async () => await generateIdentity(suite)))
      const recipients = readers.map(asRecipient)
      for (const size of [1, 2, 3, 5, 8, 32]) {
        const outcomes = await sealer.sealBatch(Array.from({ length: size }, (_, i) => ({ header: { sensor: 'b', ts: 10, seq: i }, plaintext: utf8(`batch ${size} reading ${i}`), recipients })))
        const sigs = new Set<string>()
        for (const [i, outcome] of outcomes.entries()) {
          assert.ok('envelope' in outcome)
          const envelope = await verifyEnvelope(suite, outcome.envelope)
          assert.deepEqual(envelope.batch, size === 1 ? undefined : { index: i, size })
          sigs.add(toHex(envelope.sig))
          for (const reader of readers) assert.equal(fromUtf8((await new EnvelopeOpener({ suite, reader }).open(outcome.envelope)).plaintext), `batch ${size} reading ${i}`)
        }
        assert.equal(sigs.size, 1, 'one signature for the whole batch')
      }
    })

    it('gives a reading that cannot be sealed its error and signs the others; refuses a proof moved, bent or resized', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const sealer = new EnvelopeSealer({ suite, signer: gateway })
      const reader = await generateIdentity(suite)
      const opener = new EnvelopeOpener({ suite, reader })
      const ok = (seq: number): SealRequest => ({ header: { sensor: 's', ts: 1, seq }, plaintext: utf8(`r${seq}`), recipients: [asRecipient(reader)] })
      const outcomes = await sealer.sealBatch([ok(0), { ...ok(1), recipients: [] }, ok(2), { ...ok(3), header: { sensor: 'bad id', ts: 1, seq: 3 } }, ok(4)])
      assert.ok('error' in outcomes[1]! && isGatemeshError(outcomes[1].error, 'GM_ERR_NO_RECIPIENTS'))
      assert.ok('error' in outcomes[3]! && isGatemeshError(outcomes[3].error, 'GM_ERR_MALFORMED'))
      const sealed = [0, 2, 4].map(i => (outcomes[i] as { envelope: Uint8Array }).envelope)
      for (const [k, envelope] of sealed.entries()) {
        assert.deepEqual((await verifyEnvelope(suite, envelope)).batch, { index: k, size: 3 })
        assert.equal(fromUtf8((await opener.open(envelope)).plaintext), `r${[0, 2, 4][k]}`)
      }
      // one good reading in a batch is signed alone
      const [alone] = await sealer.sealBatch([{ ...ok(5), recipients: [] }, ok(6)]).then(o => o.filter(x => 'envelope' in x))
      assert.equal((await verifyEnvelope(suite, (alone as { envelope: Uint8Array }).envelope)).batch, undefined)
      await everyByteFlipIsRefused(sealed[1] as Uint8Array, variant => opener.open(variant))
      const [a, b] = sealed.map(e => decodeCanonical(e) as { b: Uint8Array, p: { h: Uint8Array, i: number, n: number }, s: Uint8Array })
      // another body's proof, another index, another tree size, a path with a hash too many or too few
      for (const forged of [{ ...a, p: b!.p }, { ...a, p: { ...a!.p, i: 1 } }, { ...a, p: { ...a!.p, n: 4 } }, { ...a, p: { ...a!.p, h: concat(a!.p.h, a!.p.h.subarray(0, 32)) } }, { ...a, p: { ...a!.p, h: a!.p.h.subarray(32) } }]) {
        await rejectsWithCode(() => opener.open(encodeCanonical(forged)), 'GM_ERR_BAD_SIGNATURE')
      }
      // malformed proofs
      for (const p of [{ ...a!.p, n: 1, i: 0 }, { ...a!.p, i: 3 }, { ...a!.p, h: new Uint8Array(0) }, { ...a!.p, h: new Uint8Array(33) }, { ...a!.p, x: 1 }, 'proof']) {
        await rejectsWithCode(() => opener.open(encodeCanonical({ ...a, p })), 'GM_ERR_MALFORMED')
      }
      // a body signed alone cannot pass as a batch member, nor a batch member as signed alone
      await rejectsWithCode(() => opener.open(encodeCanonical({ b: a!.b, s: a!.s })), 'GM_ERR_BAD_SIGNATURE')
    })

    it('verifiedBatches: a batch signature is verified once; a forged member still fails [ENV-9]', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const reader = await generateIdentity(suite)
      const outcomes = await new EnvelopeSealer({ suite, signer: gateway }).sealBatch(Array.from({ length: 8 }, (_, i) => ({ header: { sensor: 'c', ts: 10, seq: i }, plaintext: utf8(`r${i}`), recipients: [asRecipient(reader)] })))
      const sealed = outcomes.map(o => (o as { envelope: Uint8Array }).envelope)
      let verifies = 0
      const counting = { ...suite, verify: async (k: Uint8Array, m: Uint8Array, sig: Uint8Array) => { verifies++; return await suite.verify(k, m, sig) } }
      const verifiedBatches = new Set<string>()
      for (const e of sealed) await verifyEnvelope(counting, e, { verifiedBatches })
      assert.equal(verifies, 1, 'one Ed25519 verification for the batch')
      // a body altered under the same proof and signature leads to another tree head: verified, refused
      const a = decodeCanonical(sealed[0] as Uint8Array) as { b: Uint8Array, p: unknown, s: Uint8Array }
      const body = Uint8Array.from(a.b); body[body.length - 1] = (body[body.length - 1] as number) ^ 1
      await rejectsWithCode(() => verifyEnvelope(counting, encodeCanonical({ ...a, b: body }), { verifiedBatches }), ['GM_ERR_BAD_SIGNATURE', 'GM_ERR_MALFORMED'])
      // a forged signature with a held tree head is not in the set either
      const sig = Uint8Array.from(a.s); sig[0] = (sig[0] as number) ^ 1
      await rejectsWithCode(() => verifyEnvelope(counting, encodeCanonical({ ...a, s: sig }), { verifiedBatches }), 'GM_ERR_BAD_SIGNATURE')
      // with the set (and the interior nodes and last batch kept beside it) full of this batch:
      // any byte of a member altered, or a member's proof under another body, is still refused
      for (const e of [sealed[0], sealed[5], sealed[7]] as Uint8Array[]) {
        await everyByteFlipIsRefused(e, variant => verifyEnvelope(counting, variant, { verifiedBatches }))
      }
      const other = decodeCanonical(sealed[1] as Uint8Array) as { p: unknown }
      await rejectsWithCode(() => verifyEnvelope(counting, encodeCanonical({ ...a, p: other.p }), { verifiedBatches }), 'GM_ERR_BAD_SIGNATURE')
      for (const e of sealed) await verifyEnvelope(counting, e, { verifiedBatches })
    })

    it('detects a change to any byte and refuses malformed input with gatemesh codes', async () => {
      const gateway = await suite.importSigningKey(suite.randomBytes(32))
      const sealer = new EnvelopeSealer({ suite, signer: gateway })
      const reader = await generateIdentity(suite)
      const sealed = await sealer.seal({ sensor: 's-1', ts: 5, seq: 6 }, utf8('{"t":1}'), [asRecipient(reader)])
      const opener = new EnvelopeOpener({ suite, reader })
      await everyByteFlipIsRefused(sealed, variant => opener.open(variant))
      await rejectsWithCode(() => opener.open(sealed.subarray(0, 40)), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => opener.open(suite.randomBytes(300)), ['GM_ERR_MALFORMED', 'GM_ERR_NON_CANONICAL'])
      await rejectsWithCode(() => opener.open(encodeCanonical({ b: 'text', s: new Uint8Array(64) })), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => opener.open(new Uint8Array(10 * 1024 * 1024)), 'GM_ERR_TOO_LARGE')
      await rejectsWithCode(() => sealer.seal({ sensor: 'bad sensor id', ts: 1, seq: 1 }, utf8('x'), [asRecipient(reader)]), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => sealer.seal({ sensor: 's', ts: -1, seq: 1 }, utf8('x'), [asRecipient(reader)]), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => sealer.seal({ sensor: 's', ts: 1, seq: 1 }, utf8('x'), []), 'GM_ERR_NO_RECIPIENTS')
      await rejectsWithCode(() => sealer.seal({ sensor: 's', ts: 1, seq: 1 }, new Uint8Array(65 * 1024), [asRecipient(reader)]), 'GM_ERR_TOO_LARGE')
      await rejectsWithCode(() => sealer.seal({ sensor: 's', ts: 1, seq: 1 }, utf8('x'), [{ id: 'x', publicKey: new Uint8Array(5) }]), 'GM_ERR_BAD_KEY')
    })
  })
}
