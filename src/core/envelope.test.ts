import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeOpener, EnvelopeSealer, verifyEnvelope, type Recipient } from './envelope.ts'
import { generateIdentity, type Identity } from './identity.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { fromUtf8, toHex, utf8 } from './bytes.ts'
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
