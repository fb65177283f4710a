import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decodeStreamPayload, encodeStreamPayload, MAX_STREAM_CERT_BYTES, MAX_STREAM_PAYLOAD_BYTES } from './stream-payload.ts'
import { EnvelopeSealer, MAX_ENVELOPE_BYTES, envelopeRecipients, type Recipient } from './envelope.ts'
import { generateIdentity } from './identity.ts'
import { encodeCanonical } from './encoding.ts'
import { utf8 } from './bytes.ts'
import { SUITES } from '../../test/support/suites.ts'
import { rejectsWithCode } from '../../test/support/assert-error.ts'

const suite = SUITES[1] ?? SUITES[0]!
const env = Uint8Array.from({ length: 300 }, (_, i) => i & 255)
const cert = Uint8Array.from({ length: 500 }, (_, i) => (i * 7) & 255)

describe('stream payload', () => {
  it('round-trips, canonical: v, env, cert', () => {
    const encoded = encodeStreamPayload({ env, cert })
    assert.deepEqual(encoded, encodeCanonical({ v: 1, env, cert }))
    // canonical key order: v, env, cert (shorter keys first)
    assert.deepEqual([...encoded.subarray(0, 3)], [0xa3, 0x61, 0x76])
    const decoded = decodeStreamPayload(encoded)
    assert.deepEqual(decoded, { env, cert })
    // at the bounds
    const big = { env: new Uint8Array(MAX_ENVELOPE_BYTES), cert: new Uint8Array(MAX_STREAM_CERT_BYTES) }
    const bigEncoded = encodeStreamPayload(big)
    assert.ok(bigEncoded.length <= MAX_STREAM_PAYLOAD_BYTES)
    assert.deepEqual(decodeStreamPayload(bigEncoded), big)
  })

  it('refuses non-canonical encodings', async () => {
    // keys out of order, and a length not in its shortest form
    const unsorted = Uint8Array.from([0xa3, 0x64, ...utf8('cert'), 0x41, 0x63, 0x63, ...utf8('env'), 0x41, 0x65, 0x61, 0x76, 0x01])
    assert.deepEqual(decodeStreamPayload(Uint8Array.from([0xa3, 0x61, 0x76, 0x01, 0x63, ...utf8('env'), 0x41, 0x65, 0x64, ...utf8('cert'), 0x41, 0x63])), { env: utf8('e'), cert: utf8('c') })
    await rejectsWithCode(async () => decodeStreamPayload(unsorted), ['GM_ERR_NON_CANONICAL', 'GM_ERR_MALFORMED'])
    const canonical = encodeStreamPayload({ env: utf8('e'), cert: utf8('c') })
    // { v: 1 } with 1 written as 0x18 0x01 instead of 0x01
    const long = Uint8Array.from([...canonical.subarray(0, 3), 0x18, 0x01, ...canonical.subarray(4)])
    await rejectsWithCode(async () => decodeStreamPayload(long), ['GM_ERR_NON_CANONICAL', 'GM_ERR_MALFORMED'])
    await rejectsWithCode(async () => decodeStreamPayload(Uint8Array.from([...canonical, 0])), ['GM_ERR_MALFORMED', 'GM_ERR_NON_CANONICAL'])
  })

  it('refuses oversized payloads and fields', async () => {
    await rejectsWithCode(async () => decodeStreamPayload(new Uint8Array(MAX_STREAM_PAYLOAD_BYTES + 1)), 'GM_ERR_TOO_LARGE')
    const bigCert = encodeCanonical({ v: 1, env, cert: new Uint8Array(MAX_STREAM_CERT_BYTES + 1) })
    await rejectsWithCode(async () => decodeStreamPayload(bigCert), 'GM_ERR_MALFORMED')
    const bigEnv = encodeCanonical({ v: 1, env: new Uint8Array(MAX_ENVELOPE_BYTES + 1), cert: new Uint8Array(1) })
    await rejectsWithCode(async () => decodeStreamPayload(bigEnv), 'GM_ERR_MALFORMED')
    await rejectsWithCode(async () => encodeStreamPayload({ env, cert: new Uint8Array(MAX_STREAM_CERT_BYTES + 1) }), 'GM_ERR_MALFORMED')
    await rejectsWithCode(async () => encodeStreamPayload({ env: new Uint8Array(MAX_ENVELOPE_BYTES + 1), cert }), 'GM_ERR_MALFORMED')
  })

  it('refuses wrong types, missing, empty and unknown fields, another version', async () => {
    const bad: Array<[unknown, string]> = [
      [[1, env, cert], 'GM_ERR_MALFORMED'],
      [{ v: 1, env }, 'GM_ERR_MALFORMED'],
      [{ v: 1, cert }, 'GM_ERR_MALFORMED'],
      [{ v: 1, env: 'text', cert }, 'GM_ERR_MALFORMED'],
      [{ v: 1, env, cert: [1, 2] }, 'GM_ERR_MALFORMED'],
      [{ v: 1, env: new Uint8Array(0), cert }, 'GM_ERR_MALFORMED'],
      [{ v: 1, env, cert, extra: 1 }, 'GM_ERR_MALFORMED'],
      [{ v: '1', env, cert }, 'GM_ERR_MALFORMED'],
      [{ env, cert }, 'GM_ERR_MALFORMED'],
      [{ v: 2, env, cert }, 'GM_ERR_UNSUPPORTED_VERSION']
    ]
    for (const [value, code] of bad) await rejectsWithCode(async () => decodeStreamPayload(encodeCanonical(value)), code as 'GM_ERR_MALFORMED', JSON.stringify(value, (_k, v: unknown) => v instanceof Uint8Array ? `bytes(${v.length})` : v))
    await rejectsWithCode(async () => decodeStreamPayload('not bytes' as unknown as Uint8Array), 'GM_ERR_MALFORMED')
    await rejectsWithCode(async () => decodeStreamPayload(utf8('{"v":1}')), ['GM_ERR_MALFORMED', 'GM_ERR_NON_CANONICAL'])
    await rejectsWithCode(async () => encodeStreamPayload({ env: 'x' as unknown as Uint8Array, cert }), 'GM_ERR_MALFORMED')
  })
})

describe('envelopeRecipients', () => {
  it('gives the sensor and the wraps\' pseudonyms without verifying; refuses what is not an envelope', async () => {
    const gateway = await suite.importSigningKey(suite.randomBytes(32))
    const readers = await Promise.all([generateIdentity(suite), generateIdentity(suite)])
    const recipients: Recipient[] = readers.map(r => ({ id: r.pseudonym, publicKey: r.encPub }))
    const sealed = await new EnvelopeSealer({ suite, signer: gateway }).seal({ sensor: 'greenhouse-1', ts: 1, seq: 1 }, utf8('21.5'), recipients)
    assert.deepEqual(envelopeRecipients(sealed), { sensor: 'greenhouse-1', to: readers.map(r => r.pseudonym) })
    // batch envelopes too
    const batch = await new EnvelopeSealer({ suite, signer: gateway }).sealBatch([1, 2].map(seq => ({ header: { sensor: 's', ts: 1, seq }, plaintext: utf8('x'), recipients: recipients.slice(1) })))
    for (const outcome of batch) assert.deepEqual(envelopeRecipients((outcome as { envelope: Uint8Array }).envelope), { sensor: 's', to: [readers[1]!.pseudonym] })
    // not verified: a wrong signature still gives the recipients (the reader verifies)
    const resigned = Uint8Array.from(sealed)
    resigned[resigned.length - 1] = (resigned[resigned.length - 1] as number) ^ 1
    assert.equal(envelopeRecipients(resigned).sensor, 'greenhouse-1')
    await rejectsWithCode(async () => envelopeRecipients(utf8('nope')), ['GM_ERR_MALFORMED', 'GM_ERR_NON_CANONICAL'])
    await rejectsWithCode(async () => envelopeRecipients(new Uint8Array(MAX_ENVELOPE_BYTES + 1)), 'GM_ERR_TOO_LARGE')
    await rejectsWithCode(async () => envelopeRecipients(encodeCanonical({ b: encodeCanonical({ v: 1 }), s: new Uint8Array(64) })), 'GM_ERR_MALFORMED')
  })
})
