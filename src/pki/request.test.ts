import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isGatemeshError } from '../core/errors.ts'
import type { ErrorCode } from '../core/errors.ts'
import { ED25519, x509 } from './x509.ts'
import { createCertificateRequest, libp2pKeyToCryptoKeyPair, verifyCertificateRequest } from './index.ts'
import { createRequestTimeExtension } from './profile.ts'

async function rejects (promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => isGatemeshError(err) && err.code === code)
}

const key = await generateKeyPair('Ed25519')
const peerId = peerIdFromPrivateKey(key).toString()

test('a request signed with the libp2p key names that key and its peer id', async () => {
  const now = new Date()
  const info = await verifyCertificateRequest(await createCertificateRequest(key, now), now)
  assert.equal(info.peerId, peerId)
  assert.deepEqual(info.publicKey, key.publicKey.raw)
  assert.equal(info.requestTime.getTime(), Math.floor(now.getTime() / 1000) * 1000)
})

test('a request signed by another key than the one it names fails with GM_ERR_CSR_SIGNATURE', async () => {
  const other = await generateKeyPair('Ed25519')
  const named = await libp2pKeyToCryptoKeyPair(key)
  const signer = await libp2pKeyToCryptoKeyPair(other)
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [peerId] }],
    keys: { publicKey: named.publicKey, privateKey: signer.privateKey },
    signingAlgorithm: ED25519,
    extensions: [createRequestTimeExtension(new Date())]
  })
  await rejects(verifyCertificateRequest(new Uint8Array(csr.rawData)), 'GM_ERR_CSR_SIGNATURE')
})

test('a request whose subject is another peer fails with GM_ERR_CSR_SUBJECT_MISMATCH', async () => {
  const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [other] }], keys: await libp2pKeyToCryptoKeyPair(key), signingAlgorithm: ED25519,
    extensions: [createRequestTimeExtension(new Date())]
  })
  await rejects(verifyCertificateRequest(new Uint8Array(csr.rawData)), 'GM_ERR_CSR_SUBJECT_MISMATCH')
})

test('an old, future or undated request fails with GM_ERR_CSR_STALE', async () => {
  await rejects(verifyCertificateRequest(await createCertificateRequest(key, new Date(Date.now() - 600_000))), 'GM_ERR_CSR_STALE')
  await rejects(verifyCertificateRequest(await createCertificateRequest(key, new Date(Date.now() + 600_000))), 'GM_ERR_CSR_STALE')
  const undated = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [peerId] }], keys: await libp2pKeyToCryptoKeyPair(key), signingAlgorithm: ED25519 })
  await rejects(verifyCertificateRequest(new Uint8Array(undated.rawData)), 'GM_ERR_CSR_STALE')
})

test('a request for a non-Ed25519 key fails with GM_ERR_CSR_KEY_UNSUPPORTED', async () => {
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as CryptoKeyPair
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [peerId] }], keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } as Algorithm })
  await rejects(verifyCertificateRequest(new Uint8Array(csr.rawData)), 'GM_ERR_CSR_KEY_UNSUPPORTED')
})

test('garbage fails with GM_ERR_CSR_MALFORMED', async () => {
  for (const input of [new Uint8Array(0), crypto.getRandomValues(new Uint8Array(200)), new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), new Uint8Array(70_000)]) {
    await rejects(verifyCertificateRequest(input), 'GM_ERR_CSR_MALFORMED')
  }
})
