import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encode, rfc8949EncodeOptions } from 'cborg'
import { EnvelopeSealer, derivePseudonym, generateIdentity, isGatemeshError, openRecord, signRecord, utf8, GatemeshError } from '../../core/index.ts'
import type { SigningKey } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createValidators } from './validators.ts'
import { selectors } from './selectors.ts'
import type { CertificateTrust, VerifiedRevocationList } from '../types.ts'

const suite = createNodeCryptoSuite()
const enc = new TextEncoder()

/** A fake CA: a certificate is the bytes of "<peerId>|<roles>"; a CRL is "crl|<n>". */
const trust: CertificateTrust = {
  async verifyCertificate (der, init) {
    const [peerId, roles] = new TextDecoder().decode(der).split('|')
    if (peerId !== init.peerId) throw new GatemeshError('GM_ERR_CERT_KEY_MISMATCH')
    return { der, peerId, roles: (roles ?? '').split(',') as never, serial: '01', notBefore: new Date(0), notAfter: new Date(Date.now() + 1e6) }
  },
  async verifyRevocationList (der) {
    const [tag, n] = new TextDecoder().decode(der).split('|')
    if (tag !== 'crl') throw new GatemeshError('GM_ERR_CRL_UNTRUSTED')
    return { der, number: Number(n), thisUpdate: new Date(), nextUpdate: new Date(), serials: new Set() }
  }
}

const reader = await generateIdentity(suite)

/** An [ENV-1] envelope of `sensor` sealed by `signer`. */
async function sealed (signer: SigningKey, sensor: string): Promise<Uint8Array> {
  return await new EnvelopeSealer({ suite, signer }).seal({ sensor, ts: Date.now(), seq: 1 }, utf8('21.5'), [{ id: reader.pseudonym, publicKey: reader.encPub }])
}

function setup (now = Date.now) {
  const held = new Map<string, Uint8Array>()
  const seen: VerifiedRevocationList[] = []
  const validators = createValidators({
    trust,
    records: {
      openRecord: async (bytes, init) => await openRecord(suite, bytes, init) as never,
      derivePseudonym: async (a, b) => await derivePseudonym(suite, a, b)
    },
    held: { get: async key => held.get(new TextDecoder().decode(key)) },
    revocations: () => undefined
  }, { onRevocationList: list => { seen.push(list) }, now })
  const validate = async (key: string, value: Uint8Array): Promise<void> => {
    const ns = key.split('/')[1] as string
    await validators[ns]?.(enc.encode(key), value)
  }
  const code = async (key: string, value: Uint8Array): Promise<string> => {
    try {
      await validate(key, value)
    } catch (err) {
      assert.ok(isGatemeshError(err), `a GatemeshError, not ${String(err)}`)
      return err.code
    }
    return 'accepted'
  }
  return { held, seen, validate, code }
}

describe('record validators', () => {
  it('accounts: signed by body.sigPub under the pseudonym of both keys; a newer seq wins, an older never', async () => {
    const { held, code } = setup()
    const alice = await generateIdentity(suite)
    const mallory = await generateIdentity(suite)
    const key = `/gm-account/${alice.pseudonym}`
    const account = async (seq: number, signer = alice, body = { sigPub: alice.sigPub, encPub: alice.encPub }, k = alice.pseudonym): Promise<Uint8Array> =>
      await signRecord(suite, signer.signingKey, { type: 'account', key: k, seq, body })
    const v1 = await account(1)
    assert.equal(await code(key, v1), 'accepted')
    assert.equal(await code(key, await account(1, mallory)), 'GM_ERR_RECORD_SIGNER')
    assert.equal(await code(key, await account(1, mallory, { sigPub: mallory.sigPub, encPub: alice.encPub })), 'GM_ERR_PSEUDONYM_MISMATCH')
    assert.equal(await code(key, await account(1, alice, { sigPub: alice.sigPub, encPub: alice.encPub }, 'other')), 'GM_ERR_RECORD_KEY_MISMATCH')
    assert.equal(await code(`/gm-sensor/${alice.pseudonym}`, v1), 'GM_ERR_WRONG_RECORD_TYPE')
    const tampered = Uint8Array.from(v1); tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1
    assert.equal(await code(key, tampered), 'GM_ERR_BAD_SIGNATURE')
    assert.equal(await code(key, new Uint8Array([1, 2, 3])), 'GM_ERR_MALFORMED')
    held.set(key, await account(3))
    assert.equal(await code(key, v1), 'GM_ERR_STALE_RECORD')
    assert.equal(await code(key, held.get(key) as Uint8Array), 'accepted', 'the held record itself validates')
    assert.equal(await code(key, await account(4)), 'accepted')
  })

  it('an expired held record does not block a replacement; an expired record is refused', async () => {
    const { held, code } = setup()
    const alice = await generateIdentity(suite)
    const key = `/gm-account/${alice.pseudonym}`
    const body = { sigPub: alice.sigPub, encPub: alice.encPub }
    held.set(key, encode({ seq: 9, exp: Date.now() - 1 }, rfc8949EncodeOptions))
    assert.equal(await code(key, await signRecord(suite, alice.signingKey, { type: 'account', key: alice.pseudonym, seq: 1, body })), 'accepted')
    assert.equal(await code(key, await signRecord(suite, alice.signingKey, { type: 'account', key: alice.pseudonym, seq: 10, exp: Date.now() - 5, body })), 'GM_ERR_EXPIRED')
  })

  it('sensors: signed by the owner in the body, and the first owner keeps the sensor', async () => {
    const { held, code } = setup()
    const owner = await generateIdentity(suite)
    const thief = await generateIdentity(suite)
    const sensor = async (who: typeof owner, seq: number, signer = who): Promise<Uint8Array> =>
      await signRecord(suite, signer.signingKey, { type: 'sensor', key: 's1', seq, body: { owner: { sigPub: who.sigPub, encPub: who.encPub } } })
    assert.equal(await code('/gm-sensor/s1', await sensor(owner, 1)), 'accepted')
    assert.equal(await code('/gm-sensor/s1', await sensor(owner, 1, thief)), 'GM_ERR_RECORD_SIGNER')
    held.set('/gm-sensor/s1', await sensor(owner, 1))
    assert.equal(await code('/gm-sensor/s1', await sensor(thief, 2)), 'GM_ERR_RECORD_OWNER_CHANGED')
    assert.equal(await code('/gm-sensor/s1', await sensor(owner, 2)), 'accepted')
  })

  it('latest readings: signed by a gateway whose certificate grants the collector role', async () => {
    const { code } = setup()
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const signer = await suite.importSigningKey(key.raw.subarray(0, 32))
    const envelope = await sealed(signer, 's1')
    const reading = async (cert: string): Promise<Uint8Array> =>
      await signRecord(suite, signer, { type: 'latest', key: 's1', seq: 1, body: { envelope, gatewayCert: enc.encode(cert) } })
    assert.equal(await code('/gm-latest/s1', await reading(`${peerId}|collector,access`)), 'accepted')
    assert.equal(await code('/gm-latest/s1', await reading(`${peerId}|access`)), 'GM_ERR_RECORD_NOT_COLLECTOR')
    assert.equal(await code('/gm-latest/s1', await reading('12D3KooWother|collector')), 'GM_ERR_RECORD_NOT_COLLECTOR')
  })

  it('latest readings: the envelope was sealed by the record\'s signer, for the sensor the key names [OVL-35]', async () => {
    const { code } = setup()
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const collector = await suite.importSigningKey(key.raw.subarray(0, 32))
    const stranger = await suite.importSigningKey(suite.randomBytes(32))
    const record = async (body: Record<string, unknown>, k = 's1'): Promise<Uint8Array> =>
      await signRecord(suite, collector, { type: 'latest', key: k, seq: 1, body: { gatewayCert: enc.encode(`${peerId}|collector`), ...body } })
    assert.equal(await code('/gm-latest/s1', await record({ envelope: await sealed(collector, 's1') })), 'accepted')
    // a certified collector vouching for an envelope sealed by a key without a certificate
    assert.equal(await code('/gm-latest/s1', await record({ envelope: await sealed(stranger, 's1') })), 'GM_ERR_RECORD_SIGNER')
    // a genuine envelope of another sensor filed under this one
    assert.equal(await code('/gm-latest/s1', await record({ envelope: await sealed(collector, 's2') })), 'GM_ERR_RECORD_KEY_MISMATCH')
    assert.equal(await code('/gm-latest/s1', await record({})), 'GM_ERR_MALFORMED')
    assert.equal(await code('/gm-latest/s1', await record({ envelope: new Uint8Array([1, 2, 3]) })), 'GM_ERR_MALFORMED')
  })

  it('access indexes: keyed by a pseudonym, signed by any gateway whose certificate grants the access role; newer seq wins', async () => {
    const { held, code } = setup()
    const user = await generateIdentity(suite)
    const gateway = async (): Promise<{ peerId: string, signer: Awaited<ReturnType<typeof suite.importSigningKey>> }> => {
      const key = await generateKeyPair('Ed25519')
      return { peerId: peerIdFromPrivateKey(key).toString(), signer: await suite.importSigningKey(key.raw.subarray(0, 32)) }
    }
    const a = await gateway()
    const b = await gateway()
    const key = `/gm-access/${user.pseudonym}`
    const index = async (gw: typeof a, cert: string, seq: number, body: Record<string, unknown> = {}, k = user.pseudonym): Promise<Uint8Array> =>
      await signRecord(suite, gw.signer, { type: 'access-index', key: k, seq, body: { sensors: ['s1'], gatewayCert: enc.encode(cert), ...body } })
    const v1 = await index(a, `${a.peerId}|collector,access`, 1)
    assert.equal(await code(key, v1), 'accepted')
    assert.equal(await code(key, await index(a, `${a.peerId}|collector`, 1)), 'GM_ERR_RECORD_NOT_ACCESS')
    assert.equal(await code(key, await index(a, `${b.peerId}|access`, 1)), 'GM_ERR_RECORD_NOT_ACCESS')
    assert.equal(await code(key, await index(a, `${a.peerId}|access`, 1, { extra: 1 })), 'GM_ERR_MALFORMED')
    assert.equal(await code(key, await index(a, `${a.peerId}|access`, 1, { sensors: 's1' })), 'GM_ERR_MALFORMED')
    assert.equal(await code('/gm-access/s1', await index(a, `${a.peerId}|access`, 1, {}, 's1')), 'GM_ERR_RECORD_KEY')
    assert.equal(await code(key, await signRecord(suite, a.signer, { type: 'latest', key: user.pseudonym, seq: 1, body: {} })), 'GM_ERR_WRONG_RECORD_TYPE')
    held.set(key, await index(a, `${a.peerId}|access`, 5))
    assert.equal(await code(key, await index(b, `${b.peerId}|access`, 4)), 'GM_ERR_STALE_RECORD')
    assert.equal(await code(key, await index(b, `${b.peerId}|access`, 6)), 'accepted', 'another access gateway may sign the next one')
    assert.equal(selectors['gm-access']?.(enc.encode(key), [v1, held.get(key) as Uint8Array]), 1)
  })

  it('the CRL: {n, der} verified by the CA, n is the CRL number, a lower number never replaces a higher', async () => {
    const { held, seen, code } = setup()
    const crl = (n: number, der = `crl|${n}`): Uint8Array => encode({ n, der: enc.encode(der) }, rfc8949EncodeOptions)
    assert.equal(await code('/gm-crl/ca', crl(2)), 'accepted')
    assert.equal(seen.at(-1)?.number, 2)
    assert.equal(await code('/gm-crl/ca', crl(3, 'crl|4')), 'GM_ERR_CRL_INVALID')
    assert.equal(await code('/gm-crl/ca', crl(3, 'forged|3')), 'GM_ERR_CRL_INVALID')
    assert.equal(await code('/gm-crl/ca', encode({ n: 'x' })), 'GM_ERR_MALFORMED')
    assert.equal(await code('/gm-crl/other', crl(2)), 'GM_ERR_RECORD_KEY')
    held.set('/gm-crl/ca', crl(5))
    assert.equal(await code('/gm-crl/ca', crl(4)), 'GM_ERR_CRL_STALE')
    assert.equal(await code('/gm-crl/ca', crl(6)), 'accepted')
  })
})
