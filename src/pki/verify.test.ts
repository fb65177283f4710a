import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isGatemeshError } from '../core/errors.ts'
import type { ErrorCode } from '../core/errors.ts'
import { ED25519, x509 } from './x509.ts'
import { findExtensions } from './profile.ts'
import {
  ROLES, ROLES_EXTENSION_OID, createCertificateAuthority, createRevocationList, issueGatewayCertificate,
  verifyGatewayCertificate, verifyRevocationList, libp2pKeyToCryptoKeyPair
} from './index.ts'
import type { CaKeys } from './index.ts'

async function rejects (promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isGatemeshError(err), `expected a GatemeshError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

async function newCa (name?: string): Promise<CaKeys> {
  const ca = await createCertificateAuthority({ name })
  return { privateKey: ca.privateKey, certificate: ca.certificate }
}

async function newGateway (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

/** A certificate signed by `ca` with free-form extensions, for the profile violations. */
async function craft (ca: CaKeys, gateway: { key: { publicKey: { raw: Uint8Array } }, peerId: string }, extensions: x509.Extension[], cn = gateway.peerId): Promise<Uint8Array> {
  const caCert = new x509.X509Certificate(new Uint8Array(ca.certificate))
  const publicKey = await crypto.subtle.importKey('raw', new Uint8Array(gateway.key.publicKey.raw), ED25519, true, ['verify'])
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '4a0102',
    subject: [{ CN: [cn] }],
    issuer: caCert.subjectName,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ED25519,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true), ...extensions]
  })
  return new Uint8Array(cert.rawData)
}

const ca = await newCa()
const gateway = await newGateway()
const issued = await issueGatewayCertificate(ca, { publicKey: gateway.key.publicKey.raw, peerId: gateway.peerId, roles: ['stream', 'collector'] })

test('a certificate issued by the CA verifies and reports its peer id, roles and serial', async () => {
  const verified = await verifyGatewayCertificate(issued.der, { caCertificate: ca.certificate, peerId: gateway.peerId })
  assert.equal(verified.peerId, gateway.peerId)
  assert.deepEqual(verified.roles, ['collector', 'stream'])
  assert.equal(verified.serial, issued.serial)
  assert.match(verified.serial, /^[0-9a-f]{32}$/)
  assert.equal(verified.notAfter.getTime() - verified.notBefore.getTime(), 30 * 24 * 3600 * 1000 + 60_000)
  assert.deepEqual(verified.der, issued.der)
})

test('the certificate follows the profile: end entity, digitalSignature, Ed25519, CN = peer id', () => {
  const cert = new x509.X509Certificate(new Uint8Array(issued.der))
  assert.equal(cert.subject, `CN=${gateway.peerId}`)
  assert.equal(cert.signatureAlgorithm.name, 'Ed25519')
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false)
  assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.critical, true)
  assert.equal(cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature)
  assert.equal(findExtensions(cert.extensions, ROLES_EXTENSION_OID)[0]?.critical, false)
  const root = new x509.X509Certificate(new Uint8Array(ca.certificate))
  assert.equal(root.getExtension(x509.BasicConstraintsExtension)?.ca, true)
  assert.equal(root.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign)
})

test('a self-signed certificate is refused with GM_ERR_CERT_SELF_SIGNED', async () => {
  const keys = await libp2pKeyToCryptoKeyPair(gateway.key)
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [gateway.peerId] }], keys, signingAlgorithm: ED25519,
    extensions: [new x509.Extension(ROLES_EXTENSION_OID, false, new Uint8Array([0x30, 0x08, 0x0c, 0x06, ...new TextEncoder().encode('access')]))]
  })
  await rejects(verifyGatewayCertificate(new Uint8Array(cert.rawData), { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_SELF_SIGNED')
})

test('a certificate from another CA with the same name is refused with GM_ERR_CERT_UNTRUSTED', async () => {
  const other = await newCa()
  const foreign = await issueGatewayCertificate(other, { publicKey: gateway.key.publicKey.raw, peerId: gateway.peerId, roles: ROLES })
  await rejects(verifyGatewayCertificate(foreign.der, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_UNTRUSTED')
  // and it does verify against its own CA: the refusal is about the issuer only
  await verifyGatewayCertificate(foreign.der, { caCertificate: other.certificate, peerId: gateway.peerId })
})

test('a certificate whose signature was altered is refused with GM_ERR_CERT_UNTRUSTED', async () => {
  const tampered = Uint8Array.from(issued.der)
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01
  await rejects(verifyGatewayCertificate(tampered, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_UNTRUSTED')
})

test('a certificate presented by another peer is refused with GM_ERR_CERT_KEY_MISMATCH', async () => {
  const other = await newGateway()
  await rejects(verifyGatewayCertificate(issued.der, { caCertificate: ca.certificate, peerId: other.peerId }), 'GM_ERR_CERT_KEY_MISMATCH')
})

test('a certificate for the right key but naming another peer is refused with GM_ERR_CERT_SUBJECT_MISMATCH', async () => {
  const other = await newGateway()
  const der = await craft(ca, gateway, [new x509.Extension(ROLES_EXTENSION_OID, false, new Uint8Array([0x30, 0x08, 0x0c, 0x06, ...new TextEncoder().encode('access')]))], other.peerId)
  await rejects(verifyGatewayCertificate(der, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_SUBJECT_MISMATCH')
})

test('validity is enforced: GM_ERR_CERT_EXPIRED after notAfter, GM_ERR_CERT_NOT_YET_VALID before notBefore', async () => {
  const init = { caCertificate: ca.certificate, peerId: gateway.peerId }
  await rejects(verifyGatewayCertificate(issued.der, { ...init, now: new Date(issued.notAfter.getTime() + 1000) }), 'GM_ERR_CERT_EXPIRED')
  const future = await issueGatewayCertificate(ca, { publicKey: gateway.key.publicKey.raw, peerId: gateway.peerId, roles: ['access'], now: new Date(Date.now() + 86_400_000) })
  await rejects(verifyGatewayCertificate(future.der, init), 'GM_ERR_CERT_NOT_YET_VALID')
  await verifyGatewayCertificate(future.der, { ...init, now: future.notBefore })
  await verifyGatewayCertificate(issued.der, { ...init, now: issued.notAfter })
})

test('a revoked certificate is refused with GM_ERR_CERT_REVOKED; others in the same CRL context pass', async () => {
  const crlDer = await createRevocationList(ca, { number: 7, entries: [{ serial: issued.serial, revokedAt: new Date() }], nextUpdate: new Date(Date.now() + 3600_000) })
  const revocations = await verifyRevocationList(crlDer, ca.certificate)
  await rejects(verifyGatewayCertificate(issued.der, { caCertificate: ca.certificate, peerId: gateway.peerId, revocations }), 'GM_ERR_CERT_REVOKED')
  const fresh = await issueGatewayCertificate(ca, { publicKey: gateway.key.publicKey.raw, peerId: gateway.peerId, roles: ['access'] })
  await verifyGatewayCertificate(fresh.der, { caCertificate: ca.certificate, peerId: gateway.peerId, revocations })
})

test('a certificate without the roles extension is refused with GM_ERR_CERT_ROLES_MISSING', async () => {
  const der = await craft(ca, gateway, [])
  await rejects(verifyGatewayCertificate(der, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_ROLES_MISSING')
})

test('garbled roles are refused with GM_ERR_CERT_ROLES_INVALID', async () => {
  const utf8 = (text: string): number[] => [0x0c, text.length, ...new TextEncoder().encode(text)]
  const values: number[][] = [
    [0xde, 0xad, 0xbe, 0xef], // not DER
    [0x30, 0x00], // empty
    [0x30, 0x07, ...utf8('admin')], // unknown role
    [0x30, 0x10, ...utf8('access'), ...utf8('access')], // duplicate
    [0x30, 0x13, ...utf8('stream'), ...utf8('collector')], // not canonical
    [0x30, 0x08, ...utf8('access'), 0x00] // trailing byte
  ]
  for (const value of values) {
    const der = await craft(ca, gateway, [new x509.Extension(ROLES_EXTENSION_OID, false, new Uint8Array(value))])
    await rejects(verifyGatewayCertificate(der, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_ROLES_INVALID')
  }
})

test('an unknown critical extension or a CA certificate is refused with GM_ERR_CERT_PROFILE', async () => {
  const roles = new x509.Extension(ROLES_EXTENSION_OID, false, new Uint8Array([0x30, 0x08, 0x0c, 0x06, ...new TextEncoder().encode('access')]))
  const der = await craft(ca, gateway, [roles, new x509.Extension('1.2.3.4', true, new Uint8Array([0x05, 0x00]))])
  await rejects(verifyGatewayCertificate(der, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_PROFILE')
  await rejects(verifyGatewayCertificate(ca.certificate, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_PROFILE')
})

test('garbage is refused with GM_ERR_CERT_MALFORMED, never another error', async () => {
  const inputs = [new Uint8Array(0), crypto.getRandomValues(new Uint8Array(600)), new Uint8Array([0x30, 0x82, 0xff, 0xff]), issued.der.subarray(0, 100), new Uint8Array(70_000)]
  for (const input of inputs) {
    await rejects(verifyGatewayCertificate(input, { caCertificate: ca.certificate, peerId: gateway.peerId }), 'GM_ERR_CERT_MALFORMED')
  }
})

test('a bad peer id or a bad trust anchor gets its own code', async () => {
  await rejects(verifyGatewayCertificate(issued.der, { caCertificate: ca.certificate, peerId: 'not-a-peer-id' }), 'GM_ERR_PKI_PEER_ID_INVALID')
  await rejects(verifyGatewayCertificate(issued.der, { caCertificate: issued.der, peerId: gateway.peerId }), 'GM_ERR_CA_CERT_INVALID')
  await rejects(verifyGatewayCertificate(issued.der, { caCertificate: new Uint8Array([1, 2, 3]), peerId: gateway.peerId }), 'GM_ERR_CA_CERT_INVALID')
  await rejects(verifyGatewayCertificate(issued.der, { caCertificate: ca.certificate, peerId: gateway.peerId, now: new Date(Date.now() + 11 * 365 * 24 * 3600_000) }), 'GM_ERR_CA_CERT_EXPIRED')
})

test('a CRL round-trips its number, dates and serials', async () => {
  const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000)
  const nextUpdate = new Date(thisUpdate.getTime() + 86_400_000)
  const entries = [{ serial: '4f00000000000000000000000000000a', revokedAt: thisUpdate }, { serial: '7fffffffffffffffffffffffffffffff', revokedAt: thisUpdate }]
  const der = await createRevocationList(ca, { number: 300, entries, thisUpdate, nextUpdate })
  const crl = await verifyRevocationList(der, ca.certificate)
  assert.equal(crl.number, 300)
  assert.equal(crl.thisUpdate.getTime(), thisUpdate.getTime())
  assert.equal(crl.nextUpdate.getTime(), nextUpdate.getTime())
  assert.deepEqual([...crl.serials].sort(), entries.map(entry => entry.serial).sort())
  const empty = await verifyRevocationList(await createRevocationList(ca, { number: 0, entries: [], nextUpdate }), ca.certificate)
  assert.equal(empty.number, 0)
  assert.equal(empty.serials.size, 0)
})

test('a CRL from another CA, a garbled CRL and a CRL without number each get their own code', async () => {
  const nextUpdate = new Date(Date.now() + 3600_000)
  const other = await newCa()
  await rejects(verifyRevocationList(await createRevocationList(other, { number: 1, entries: [], nextUpdate }), ca.certificate), 'GM_ERR_CRL_UNTRUSTED')
  await rejects(verifyRevocationList(crypto.getRandomValues(new Uint8Array(300)), ca.certificate), 'GM_ERR_CRL_MALFORMED')
  await rejects(verifyRevocationList(issued.der, ca.certificate), 'GM_ERR_CRL_MALFORMED')
  const caCert = new x509.X509Certificate(new Uint8Array(ca.certificate))
  const bare = await x509.X509CrlGenerator.create({ issuer: caCert.subjectName, signingAlgorithm: ED25519, signingKey: ca.privateKey, nextUpdate })
  await rejects(verifyRevocationList(new Uint8Array(bare.rawData), ca.certificate), 'GM_ERR_CRL_PROFILE')
})
