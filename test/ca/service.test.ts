/**
 * The enrollment service over real HTTP on 127.0.0.1: every bad request gets a clear 4xx code and
 * leaves the CA's state unchanged; the client functions of src/pki work against it.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isGatemeshError, registeredErrors } from '../../src/core/errors.ts'
import { createLogger } from '../../src/platform/logger.ts'
import {
  ED25519, createCertificateRequest, createRequestTimeExtension, enroll, fetchRevocationList, libp2pKeyToCryptoKeyPair, renew,
  verifyGatewayCertificate, verifyRevocationList, x509
} from '../../src/pki/index.ts'
import { CertificateAuthority, createCaServer, initCa } from '../../src/ca/index.ts'
import type { CaServer } from '../../src/ca/index.ts'

let dir: string
let clock: { now: Date }
let authority: CertificateAuthority
let app: CaServer
let url: string

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatemesh-ca-http-'))
  await initCa({ dir })
  clock = { now: new Date() }
  authority = await CertificateAuthority.open({ dir, now: () => clock.now })
  app = await createCaServer({ authority, logger: createLogger('ca-test', { level: 'silent' }) })
  url = await app.listen({ host: '127.0.0.1', port: 0 })
})

after(async () => {
  await app.close()
  authority.close()
  await rm(dir, { recursive: true, force: true })
})

function b64 (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}

async function post (path: string, body: string | object, contentType = 'application/json'): Promise<{ status: number, body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  return { status: response.status, body: await response.json() as Record<string, unknown> }
}

function state (): string {
  return JSON.stringify({ certificates: authority.listCertificates(), tokens: authority.listTokens() })
}

/** Sends a bad request and checks status, code and that the CA's state did not move. */
async function refused (path: string, body: string | object, status: number, code: string, contentType?: string): Promise<void> {
  const before = state()
  const response = await post(path, body, contentType)
  assert.equal(response.status, status, JSON.stringify(response.body))
  assert.equal(response.body.code, code)
  assert.equal(typeof response.body.message, 'string')
  assert.ok(registeredErrors().has(code))
  assert.equal(state(), before)
}

async function gateway (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

test('enroll, renew and fetch the CRL with the pki client', async () => {
  const gw = await gateway()
  const { token } = authority.createToken(['collector', 'access'], 3_600_000)
  const { certificate, caCertificate } = await enroll({ caUrl: url, token, privateKey: gw.key })
  assert.deepEqual(caCertificate, authority.caCertificate)
  const verified = await verifyGatewayCertificate(certificate, { caCertificate, peerId: gw.peerId })
  assert.deepEqual(verified.roles, ['collector', 'access'])
  const renewed = await renew({ caUrl: `${url}/`, certificate, privateKey: gw.key })
  const again = await verifyGatewayCertificate(renewed.certificate, { caCertificate, peerId: gw.peerId })
  assert.notEqual(again.serial, verified.serial)
  const crl = await verifyRevocationList(await fetchRevocationList(url), caCertificate)
  assert.ok(crl.number >= 1)
  await assert.rejects(enroll({ caUrl: url, token, privateKey: gw.key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_TOKEN_USED') && err.status === 409)
})

test('GET /v1/ca and GET /v1/crl answer in JSON; the CRL also as application/pkix-crl', async () => {
  const ca = await (await fetch(`${url}/v1/ca`)).json() as { certificate: string, pem: string }
  assert.equal(ca.certificate, b64(authority.caCertificate))
  assert.match(ca.pem, /^-----BEGIN CERTIFICATE-----/)
  const json = await (await fetch(`${url}/v1/crl`)).json() as { crl: string, number: number }
  const raw = await fetch(`${url}/v1/crl`, { headers: { accept: 'application/pkix-crl' } })
  assert.equal(raw.headers.get('content-type'), 'application/pkix-crl')
  const der = new Uint8Array(await raw.arrayBuffer())
  assert.equal(b64(der), json.crl)
  assert.equal((await verifyRevocationList(der, authority.caCertificate)).number, json.number)
})

test('malformed requests get GM_ERR_CA_REQUEST_MALFORMED and change nothing', async () => {
  const { token } = authority.createToken(['access'], 3_600_000)
  const csr = b64(await createCertificateRequest((await gateway()).key))
  await refused('/v1/enroll', '{not json', 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', {}, 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', { token }, 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', { token, csr, admin: true }, 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', { token: 42, csr }, 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', { token, csr: 'not base64 !' }, 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', [token, csr], 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/renew', { certificate: 'AAAA' }, 400, 'GM_ERR_CA_REQUEST_MALFORMED')
  await refused('/v1/enroll', 'token=x', 415, 'GM_ERR_CA_UNSUPPORTED_MEDIA', 'application/x-www-form-urlencoded')
  await refused('/v1/enroll', 'x', 415, 'GM_ERR_CA_UNSUPPORTED_MEDIA', 'text/plain')
  await refused('/v1/enroll', { token, csr: b64(crypto.getRandomValues(new Uint8Array(300))) }, 400, 'GM_ERR_CSR_MALFORMED')
  // the token survived all of that
  assert.equal((await post('/v1/enroll', { token, csr })).status, 201)
})

test('an oversized body gets 413 GM_ERR_CA_REQUEST_TOO_LARGE', async () => {
  await refused('/v1/enroll', { token: 'x', csr: 'A'.repeat(64 * 1024) }, 413, 'GM_ERR_CA_REQUEST_TOO_LARGE')
})

test('reused, forged and expired tokens each get their own code and change nothing', async () => {
  const { token } = authority.createToken(['access'], 3_600_000)
  assert.equal((await post('/v1/enroll', { token, csr: b64(await createCertificateRequest((await gateway()).key)) })).status, 201)
  await refused('/v1/enroll', { token, csr: b64(await createCertificateRequest((await gateway()).key)) }, 409, 'GM_ERR_TOKEN_USED')
  await refused('/v1/enroll', { token: `gmt_${'A'.repeat(43)}`, csr: b64(await createCertificateRequest((await gateway()).key)) }, 401, 'GM_ERR_TOKEN_INVALID')
  const short = authority.createToken(['access'], 1000)
  clock.now = new Date(clock.now.getTime() + 2000)
  try {
    await refused('/v1/enroll', { token: short.token, csr: b64(await createCertificateRequest((await gateway()).key, clock.now)) }, 401, 'GM_ERR_TOKEN_EXPIRED')
  } finally {
    clock.now = new Date()
  }
})

test('a request signed by another key than the one it names gets GM_ERR_CSR_SIGNATURE', async () => {
  const victim = await gateway()
  const attacker = await gateway()
  const named = await libp2pKeyToCryptoKeyPair(victim.key)
  const signer = await libp2pKeyToCryptoKeyPair(attacker.key)
  const forged = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [victim.peerId] }], keys: { publicKey: named.publicKey, privateKey: signer.privateKey }, signingAlgorithm: ED25519,
    extensions: [createRequestTimeExtension(new Date())]
  })
  const { token } = authority.createToken(['access'], 3_600_000)
  await refused('/v1/enroll', { token, csr: b64(new Uint8Array(forged.rawData)) }, 400, 'GM_ERR_CSR_SIGNATURE')
})

test('renewal with a certificate of another peer gets GM_ERR_RENEW_KEY_MISMATCH', async () => {
  const owner = await gateway()
  const thief = await gateway()
  const issued = await enroll({ caUrl: url, token: authority.createToken(['access'], 3_600_000).token, privateKey: owner.key })
  await refused('/v1/renew', { certificate: b64(issued.certificate), csr: b64(await createCertificateRequest(thief.key)) }, 400, 'GM_ERR_RENEW_KEY_MISMATCH')
  await refused('/v1/renew', { certificate: b64(crypto.getRandomValues(new Uint8Array(200))), csr: b64(await createCertificateRequest(owner.key)) }, 400, 'GM_ERR_CERT_MALFORMED')
})

test('two enrollments racing over HTTP with one token: exactly one gets a certificate', async () => {
  const { token } = authority.createToken(['access'], 3_600_000)
  const csrs = await Promise.all([1, 2, 3, 4].map(async () => b64(await createCertificateRequest((await gateway()).key))))
  const before = authority.listCertificates().length
  const responses = await Promise.all(csrs.map(async csr => await post('/v1/enroll', { token, csr })))
  assert.deepEqual(responses.map(response => response.status).sort(), [201, 409, 409, 409])
  assert.equal(authority.listCertificates().length, before + 1)
})

test('unknown routes get 404 GM_ERR_CA_NOT_FOUND; /openapi.json documents every route', async () => {
  const missing = await fetch(`${url}/v1/admin`)
  assert.equal(missing.status, 404)
  assert.equal((await missing.json() as { code: string }).code, 'GM_ERR_CA_NOT_FOUND')
  const openapi = await (await fetch(`${url}/openapi.json`)).json() as { openapi: string, paths: Record<string, Record<string, { requestBody?: unknown }>> }
  assert.match(openapi.openapi, /^3\./)
  assert.deepEqual(Object.keys(openapi.paths).sort(), ['/v1/ca', '/v1/crl', '/v1/enroll', '/v1/renew'])
  assert.ok(openapi.paths['/v1/enroll']?.post?.requestBody !== undefined)
})
