import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CHECKPOINT_BUCKET, MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_SEQS, checkpointBucket, openCheckpoint, signCheckpoint, type CheckpointBody } from './checkpoint.ts'
import { decodeCanonical, encodeCanonical, encodeOrdered } from './encoding.ts'
import { concat, utf8 } from './bytes.ts'
import { SUITES } from '../../test/support/suites.ts'
import { everyByteFlipIsRefused, rejectsWithCode } from '../../test/support/assert-error.ts'

// a bucket of late 2025: its seqs take 9 bytes each in CBOR, as real ones do
const BUCKET = checkpointBucket(1_764_000_000_000 * 1000)
const first = BUCKET * CHECKPOINT_BUCKET

for (const suite of SUITES) {
  describe(`checkpoints (${suite.name})`, () => {
    it('round-trips: the body as signed, the bytes as given, the hash of the body bytes', async () => {
      const gw = await suite.importSigningKey(suite.randomBytes(32))
      const body: CheckpointBody = { sensor: 'greenhouse-7', gw: gw.publicKey, bucket: BUCKET, part: 0, prev: null, seqs: [first, first + 1, first + CHECKPOINT_BUCKET - 1] }
      const bytes = await signCheckpoint(suite, gw, body)
      const opened = await openCheckpoint(suite, bytes)
      assert.deepEqual({ ...opened, bytes: undefined, hash: undefined }, { ...body, bytes: undefined, hash: undefined })
      assert.deepEqual(opened.bytes, bytes)
      const { b, s } = decodeCanonical(bytes) as { b: Uint8Array, s: Uint8Array }
      assert.deepEqual(opened.hash, await suite.sha256(b))
      // [PER-10] the body is the canonical map with v: 1, signed under the domain tag
      assert.deepEqual(b, encodeCanonical({ v: 1, ...body }))
      assert.equal(await suite.verify(gw.publicKey, concat(utf8('gatemesh/checkpoint/v1\0'), b), s), true)

      const next = await signCheckpoint(suite, gw, { ...body, part: 1, prev: { bucket: BUCKET, part: 0, h: opened.hash }, seqs: [first + 5] })
      assert.deepEqual((await openCheckpoint(suite, next)).prev, { bucket: BUCKET, part: 0, h: opened.hash })
    })

    it('checkpointBucket is one minute of seq', () => {
      assert.equal(checkpointBucket(0), 0)
      assert.equal(checkpointBucket(CHECKPOINT_BUCKET - 1), 0)
      assert.equal(checkpointBucket(CHECKPOINT_BUCKET), 1)
      assert.equal(checkpointBucket(first + 59_999_999), BUCKET)
    })

    it('refuses every body rule with GM_ERR_MALFORMED, when signing and when opening', async () => {
      const gw = await suite.importSigningKey(suite.randomBytes(32))
      const good: CheckpointBody = { sensor: 's-1', gw: gw.publicKey, bucket: BUCKET, part: 0, prev: null, seqs: [first, first + 7] }
      const bad: Array<[string, Record<string, unknown>]> = [
        ['no seqs', { seqs: [] }],
        ['too many seqs', { seqs: Array.from({ length: MAX_CHECKPOINT_SEQS + 1 }, (_, i) => first + i) }],
        ['seqs not increasing', { seqs: [first + 7, first] }],
        ['a seq twice', { seqs: [first, first] }],
        ['a seq of another bucket', { seqs: [first, first + CHECKPOINT_BUCKET] }],
        ['a seq before the bucket', { seqs: [first - 1, first] }],
        ['a negative seq', { bucket: 0, seqs: [-1] }],
        ['a seq past 2^53', { seqs: [2 ** 53] }],
        ['a fractional seq', { seqs: [first + 0.5] }],
        ['a text seq', { seqs: ['1'] }],
        ['a bad sensor id', { sensor: 'a b' }],
        ['an empty sensor id', { sensor: '' }],
        ['a short gw', { gw: new Uint8Array(31) }],
        ['a negative part', { part: -1 }],
        ['a text bucket', { bucket: '1' }],
        ['prev not a map', { prev: 1 }],
        ['prev without h', { prev: { bucket: 1, part: 0 } }],
        ['prev with a short h', { prev: { bucket: 1, part: 0, h: new Uint8Array(31) } }],
        ['prev with an extra field', { prev: { bucket: 1, part: 0, h: new Uint8Array(32), x: 1 } }],
        ['an unknown field', { extra: 1 }]
      ]
      for (const [what, change] of bad) {
        await rejectsWithCode(() => signCheckpoint(suite, gw, { ...good, ...change } as unknown as CheckpointBody), 'GM_ERR_MALFORMED', `signing ${what}`)
        // the same body signed by hand: openCheckpoint refuses it too
        const b = encodeCanonical({ v: 1, ...good, ...change })
        const forged = encodeCanonical({ b, s: await suite.sign(gw, concat(utf8('gatemesh/checkpoint/v1\0'), b)) })
        await rejectsWithCode(() => openCheckpoint(suite, forged), 'GM_ERR_MALFORMED', `opening ${what}`)
      }
      const other = await suite.importSigningKey(suite.randomBytes(32))
      await rejectsWithCode(() => signCheckpoint(suite, other, good), 'GM_ERR_MALFORMED', 'a gw that is not the signer')
      const b = encodeCanonical({ v: 2, ...good })
      await rejectsWithCode(async () => await openCheckpoint(suite, encodeCanonical({ b, s: await suite.sign(gw, concat(utf8('gatemesh/checkpoint/v1\0'), b)) })), 'GM_ERR_UNSUPPORTED_VERSION')
      const bytes = await signCheckpoint(suite, gw, good)
      const { b: goodB, s } = decodeCanonical(bytes) as { b: Uint8Array, s: Uint8Array }
      await rejectsWithCode(() => openCheckpoint(suite, encodeCanonical({ b: goodB, s, x: 1 })), 'GM_ERR_MALFORMED', 'an outer field')
      await rejectsWithCode(() => openCheckpoint(suite, encodeCanonical({ b: goodB, s: s.subarray(0, 63) })), 'GM_ERR_MALFORMED', 'a short signature')
      await rejectsWithCode(() => openCheckpoint(suite, encodeCanonical([goodB, s])), 'GM_ERR_MALFORMED', 'not a map')
      await rejectsWithCode(() => openCheckpoint(suite, utf8('not cbor at all')), ['GM_ERR_MALFORMED', 'GM_ERR_NON_CANONICAL'], 'not CBOR')
    })

    it('refuses a wrong key and any altered byte with GM_ERR_BAD_SIGNATURE (or a form code)', async () => {
      const gw = await suite.importSigningKey(suite.randomBytes(32))
      const other = await suite.importSigningKey(suite.randomBytes(32))
      const body: CheckpointBody = { sensor: 's-1', gw: gw.publicKey, bucket: BUCKET, part: 2, prev: { bucket: BUCKET - 3, part: 0, h: suite.randomBytes(32) }, seqs: [first + 1, first + 2] }
      const bytes = await signCheckpoint(suite, gw, body)
      // the same body signed by another key, gw left naming the first
      const { b } = decodeCanonical(bytes) as { b: Uint8Array }
      const wrongKey = encodeCanonical({ b, s: await suite.sign(other, concat(utf8('gatemesh/checkpoint/v1\0'), b)) })
      await rejectsWithCode(() => openCheckpoint(suite, wrongKey), 'GM_ERR_BAD_SIGNATURE')
      // signed without the domain tag: refused
      const untagged = encodeCanonical({ b, s: await suite.sign(gw, b) })
      await rejectsWithCode(() => openCheckpoint(suite, untagged), 'GM_ERR_BAD_SIGNATURE')
      const codes = await everyByteFlipIsRefused(bytes, variant => openCheckpoint(suite, variant))
      assert.ok(codes.has('GM_ERR_BAD_SIGNATURE'), `codes seen: ${[...codes].join(', ')}`)
    })

    it('signatureVerified (a replica reading back what it verified) skips the signature only', async () => {
      const gw = await suite.importSigningKey(suite.randomBytes(32))
      const other = await suite.importSigningKey(suite.randomBytes(32))
      const body: CheckpointBody = { sensor: 's-1', gw: gw.publicKey, bucket: BUCKET, part: 0, prev: null, seqs: [first, first + 1] }
      const good = await signCheckpoint(suite, gw, body)
      const { b } = decodeCanonical(good) as { b: Uint8Array }
      const wrongKey = encodeCanonical({ b, s: await suite.sign(other, concat(utf8('gatemesh/checkpoint/v1\0'), b)) })
      await rejectsWithCode(() => openCheckpoint(suite, wrongKey), 'GM_ERR_BAD_SIGNATURE')
      const read = await openCheckpoint(suite, wrongKey, { signatureVerified: true })
      assert.deepEqual(read.seqs, body.seqs)
      assert.deepEqual(read.hash, (await openCheckpoint(suite, good)).hash)
      // the form is still checked
      await rejectsWithCode(() => openCheckpoint(suite, encodeCanonical({ b, s: new Uint8Array(63) }), { signatureVerified: true }), 'GM_ERR_MALFORMED')
    })

    it('refuses a non-canonical encoding of a valid checkpoint, outside and inside', async () => {
      const gw = await suite.importSigningKey(suite.randomBytes(32))
      const body: CheckpointBody = { sensor: 's-1', gw: gw.publicKey, bucket: BUCKET, part: 0, prev: null, seqs: [first] }
      const { b, s } = decodeCanonical(await signCheckpoint(suite, gw, body)) as { b: Uint8Array, s: Uint8Array }
      // the outer map's keys out of order (s before b)
      await rejectsWithCode(() => openCheckpoint(suite, encodeOrdered({ s, b })), 'GM_ERR_NON_CANONICAL')
      // the body's keys out of canonical order, validly signed: still refused
      const reordered = encodeOrdered({ v: 1, sensor: body.sensor, gw: body.gw, bucket: body.bucket, part: 0, prev: null, seqs: body.seqs })
      assert.notDeepEqual(reordered, b)
      const signed = encodeCanonical({ b: reordered, s: await suite.sign(gw, concat(utf8('gatemesh/checkpoint/v1\0'), reordered)) })
      await rejectsWithCode(() => openCheckpoint(suite, signed), 'GM_ERR_NON_CANONICAL')
      // an integer in a longer form than needed (part 0 as 0x18 0x00)
      const key = Buffer.from([0x64, ...utf8('part'), 0x00])
      const at = Buffer.from(b).indexOf(key) + key.length - 1
      assert.ok(at > 0)
      const long = concat(b.subarray(0, at), new Uint8Array([0x18, 0x00]), b.subarray(at + 1))
      const longSigned = encodeCanonical({ b: long, s: await suite.sign(gw, concat(utf8('gatemesh/checkpoint/v1\0'), long)) })
      // (cborg's strict decoder already refuses it as malformed)
      await rejectsWithCode(() => openCheckpoint(suite, longSigned), ['GM_ERR_NON_CANONICAL', 'GM_ERR_MALFORMED'])
    })

    it('bounds the size: the largest checkpoint fits in 600 KiB; larger input is GM_ERR_TOO_LARGE', async () => {
      const gw = await suite.importSigningKey(suite.randomBytes(32))
      const seqs = Array.from({ length: MAX_CHECKPOINT_SEQS }, (_, i) => first + i * 900)
      const largest = await signCheckpoint(suite, gw, { sensor: 'x'.repeat(128), gw: gw.publicKey, bucket: BUCKET, part: 2 ** 40, prev: { bucket: BUCKET, part: 2 ** 40 - 1, h: new Uint8Array(32) }, seqs })
      assert.ok(largest.length <= MAX_CHECKPOINT_BYTES, `${largest.length} bytes`)
      assert.equal((await openCheckpoint(suite, largest)).seqs.length, MAX_CHECKPOINT_SEQS)
      await rejectsWithCode(() => openCheckpoint(suite, largest, { maxBytes: 1000 }), 'GM_ERR_TOO_LARGE')
      // a caller's larger maxBytes does not lift the bound
      await rejectsWithCode(() => openCheckpoint(suite, new Uint8Array(MAX_CHECKPOINT_BYTES + 1), { maxBytes: 10 * MAX_CHECKPOINT_BYTES }), 'GM_ERR_TOO_LARGE')
    })
  })
}
