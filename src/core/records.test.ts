import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeCanonical, encodeOrdered, decodeCanonical } from './encoding.ts'
import { openRecord, signRecord } from './records.ts'
import { SUITES } from '../../test/support/suites.ts'
import { everyByteFlipIsRefused, rejectsWithCode } from '../../test/support/assert-error.ts'

for (const suite of SUITES) {
  describe(`signed records (${suite.name})`, () => {
    it('is the canonical encoding of its map, signed over what earlier versions signed', async () => {
      const key = await suite.importSigningKey(suite.randomBytes(32))
      const cases = [
        { type: 'latest', key: 'bench-r3-1', seq: 5, body: { envelope: suite.randomBytes(900), gatewayCert: suite.randomBytes(300) } },
        { type: 'sensor', key: 'gewächshaus-7', seq: 2 ** 40 + 3, exp: Date.now() + 60_000, body: { readers: ['a', 'b'], n: 1, nested: { z: true, a: [1, 2] } } },
        // larger than the writer keeps its buffer for (64 KiB): the record after it is written in
        // a fresh one, its seq (4 bytes) through the fresh buffer's view
        { type: 'account', key: 'k'.repeat(300), seq: Number.MAX_SAFE_INTEGER, body: { bundle: suite.randomBytes(70_000) } },
        { type: 'crl', key: 'ca', seq: 100_000, exp: 1, body: {} }
      ]
      for (const fields of cases) {
        const bytes = await signRecord(suite, key, fields)
        const { sig } = decodeCanonical(bytes) as { sig: Uint8Array }
        const unsigned: Record<string, unknown> = { v: 1, ...fields, signer: key.publicKey }
        assert.equal(Buffer.from(bytes).toString('hex'), Buffer.from(encodeCanonical({ ...unsigned, sig })).toString('hex'), fields.type)
        // the construction of the versions before the direct writer: domain tag || encodeCanonical(every field but sig)
        const signed = new Uint8Array([...new TextEncoder().encode('gatemesh/record/v1\0'), ...encodeCanonical(unsigned)])
        assert.equal(await suite.verify(key.publicKey, signed, sig), true, fields.type)
        assert.equal((await openRecord(suite, bytes, { now: 0 })).key, fields.key)
      }
    })

    it('round-trips and detects a change to any byte', async () => {
      const key = await suite.importSigningKey(suite.randomBytes(32))
      const bytes = await signRecord(suite, key, { type: 'sensor', key: 'greenhouse-7', seq: 3, exp: Date.now() + 60_000, body: { readers: ['a', 'b'], n: 1 } })
      const record = await openRecord(suite, bytes, { type: 'sensor' })
      assert.deepEqual(record.body, { readers: ['a', 'b'], n: 1 })
      assert.equal(record.seq, 3)
      assert.deepEqual(record.signer, key.publicKey)
      const codes = await everyByteFlipIsRefused(bytes, variant => openRecord(suite, variant))
      assert.ok(codes.has('GM_ERR_BAD_SIGNATURE'), `codes seen: ${[...codes].join(', ')}`)
    })

    it('refuses expired, wrongly typed, re-signed and malformed records with their own codes', async () => {
      const key = await suite.importSigningKey(suite.randomBytes(32))
      const other = await suite.importSigningKey(suite.randomBytes(32))
      const expired = await signRecord(suite, key, { type: 'latest', key: 's', seq: 1, exp: 1000, body: {} })
      await rejectsWithCode(() => openRecord(suite, expired), 'GM_ERR_EXPIRED')
      const ok = await signRecord(suite, key, { type: 'latest', key: 's', seq: 1, body: {} })
      await rejectsWithCode(() => openRecord(suite, ok, { type: 'account' }), 'GM_ERR_WRONG_RECORD_TYPE')
      // A valid signature by another key over the same fields, with the signer field swapped: refused.
      const forged = decodeCanonical(await signRecord(suite, other, { type: 'latest', key: 's', seq: 9, body: {} })) as Record<string, unknown>
      forged.signer = key.publicKey
      await rejectsWithCode(() => openRecord(suite, encodeCanonical(forged)), 'GM_ERR_BAD_SIGNATURE')
      const fields = decodeCanonical(ok) as Record<string, unknown>
      await rejectsWithCode(() => openRecord(suite, encodeCanonical({ ...fields, v: 2 })), 'GM_ERR_UNSUPPORTED_VERSION')
      await rejectsWithCode(() => openRecord(suite, encodeCanonical({ ...fields, extra: 1 })), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, encodeCanonical({ ...fields, seq: -1 })), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, encodeCanonical({ ...fields, seq: '1' })), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, encodeCanonical({ ...fields, body: [1] })), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, encodeCanonical({ ...fields, sig: new Uint8Array(10) })), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, encodeCanonical([1, 2, 3])), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, ok.subarray(0, ok.length - 5)), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => openRecord(suite, suite.randomBytes(200)), ['GM_ERR_MALFORMED', 'GM_ERR_NON_CANONICAL'])
      await rejectsWithCode(() => openRecord(suite, ok, { maxBytes: 10 }), 'GM_ERR_TOO_LARGE')
      // The same map with its keys out of canonical order.
      await rejectsWithCode(() => openRecord(suite, encodeOrdered({ v: 1, type: 'latest', key: 's', seq: 1, body: {}, signer: fields.signer, sig: fields.sig })), 'GM_ERR_NON_CANONICAL')
      await rejectsWithCode(() => signRecord(suite, key, { type: 'Not A Type', key: 's', seq: 1, body: {} }), 'GM_ERR_MALFORMED')
    })
  })
}

describe('canonical decoding', () => {
  it('refuses indefinite lengths, duplicate keys, undefined and non-canonical integers', () => {
    const cases: Array<[string, string]> = [
      ['bf6161 01 ff'.replace(/ /g, ''), 'indefinite map'],
      ['a2616101616102', 'duplicate key'],
      ['f7', 'undefined'],
      ['1801', 'non-shortest integer'],
      ['fb3ff0000000000000', 'float64 for 1.0']
    ]
    for (const [hex, what] of cases) {
      const bytes = Uint8Array.from(hex.match(/../g) ?? [], h => Number.parseInt(h, 16))
      assert.throws(() => decodeCanonical(bytes), (err: { code?: string }) => err.code === 'GM_ERR_MALFORMED' || err.code === 'GM_ERR_NON_CANONICAL', what)
    }
  })
})
