// The contract between the latest publisher and the overlay: the record it builds passes the
// overlay's gm-latest validator [OVL-17] with a real certificate from a test CA, and is refused
// when the certificate lacks the collector role or belongs to another key.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeSealer, generateIdentity, isGatemeshError, utf8 } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createCertificateAuthority, issueGatewayCertificate, rawPublicKeyToPeerId } from '../../src/pki/index.ts'
import { createCertificateTrust, createRecordVerifier } from '../../src/gateway/trust.ts'
import { createValidators } from '../../src/overlay/records/index.ts'
import { createLatestRecord, latestKey } from '../../src/gateway/latest/index.ts'

const suite = createNodeCryptoSuite()

describe('latest record', () => {
  it('passes the overlay gm-latest validator, and only for a collector certificate of the signing key', async () => {
    const ca = await createCertificateAuthority({})
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const peerId = rawPublicKeyToPeerId(signer.publicKey)
    const collector = await issueGatewayCertificate(ca, { publicKey: signer.publicKey, peerId, roles: ['collector', 'access'] })
    const accessOnly = await issueGatewayCertificate(ca, { publicKey: signer.publicKey, peerId, roles: ['access'] })
    const other = await suite.importSigningKey(suite.randomBytes(32))
    const validators = createValidators({
      trust: createCertificateTrust(ca.certificate),
      records: createRecordVerifier(),
      held: { get: async () => undefined } as never,
      revocations: () => undefined
    })
    const validate = validators['gm-latest'] as (key: Uint8Array, value: Uint8Array) => Promise<void>
    const owner = await generateIdentity(suite)
    const header = { sensor: 'greenhouse-7', ts: 1764000000000, seq: 1764000000000000 }
    const envelope = await new EnvelopeSealer({ suite, signer }).seal(header, utf8('21.5'), [{ id: owner.pseudonym, publicKey: owner.encPub }])
    const reading = { sensorId: header.sensor, ts: header.ts, seq: header.seq, envelope }
    const key = new TextEncoder().encode(latestKey(reading.sensorId))
    await validate(key, await createLatestRecord(suite, signer, collector.der, reading))
    await assert.rejects(validate(key, await createLatestRecord(suite, signer, accessOnly.der, reading)), err => isGatemeshError(err, 'GM_ERR_RECORD_NOT_COLLECTOR'))
    await assert.rejects(validate(key, await createLatestRecord(suite, other, collector.der, reading)), err => isGatemeshError(err, 'GM_ERR_RECORD_NOT_COLLECTOR'))
    // [OVL-31] a collector's record carrying an envelope that another key sealed
    const foreign = await new EnvelopeSealer({ suite, signer: other }).seal(header, utf8('99'), [{ id: owner.pseudonym, publicKey: owner.encPub }])
    await assert.rejects(validate(key, await createLatestRecord(suite, signer, collector.der, { ...reading, envelope: foreign })), err => isGatemeshError(err, 'GM_ERR_RECORD_SIGNER'))
    await assert.rejects(validate(new TextEncoder().encode(latestKey('another')), await createLatestRecord(suite, signer, collector.der, reading)), err => isGatemeshError(err))
  })
})
