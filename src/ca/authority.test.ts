import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, copyFile, mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isGatemeshError } from '../core/errors.ts'
import type { ErrorCode } from '../core/errors.ts'
import { createCertificateAuthority, createCertificateRequest, issueGatewayCertificate, verifyGatewayCertificate, verifyRevocationList } from '../pki/index.ts'
import { CertificateAuthority, initCa } from './index.ts'

async function rejects (promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isGatemeshError(err), `expected a GatemeshError, got ${String(err)}`)
    assert.equal(err.code, code)
    return true
  })
}

/** A CA in a fresh directory with a clock the test moves. */
async function setup (t: { after: (fn: () => Promise<void>) => void }): Promise<{ authority: CertificateAuthority, clock: { now: Date }, dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'gatemesh-ca-'))
  await initCa({ dir })
  const clock = { now: new Date() }
  const authority = await CertificateAuthority.open({ dir, now: () => clock.now })
  t.after(async () => { authority.close(); await rm(dir, { recursive: true, force: true }) })
  return { authority, clock, dir }
}

function snapshot (authority: CertificateAuthority): string {
  return JSON.stringify({ certificates: authority.listCertificates(), tokens: authority.listTokens() })
}

async function gateway (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

test('init writes the key with mode 0600 and refuses to overwrite an existing CA', async (t) => {
  const { dir } = await setup(t)
  assert.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600)
  await rejects(initCa({ dir }), 'GM_ERR_CA_ALREADY_INITIALIZED')
  await rejects(CertificateAuthority.open({ dir: join(dir, 'missing') }), 'GM_ERR_CA_NOT_INITIALIZED')
})

test('a token enrolls once, with its roles; the second use fails with GM_ERR_TOKEN_USED and changes nothing', async (t) => {
  const { authority } = await setup(t)
  const gw = await gateway()
  const { token } = authority.createToken(['persistence', 'access'], 3_600_000)
  const issued = await authority.enroll(token, await createCertificateRequest(gw.key))
  const verified = await verifyGatewayCertificate(issued.certificate, { caCertificate: authority.caCertificate, peerId: gw.peerId })
  assert.deepEqual(verified.roles, ['access', 'persistence'])
  const before = snapshot(authority)
  await rejects(authority.enroll(token, await createCertificateRequest((await gateway()).key)), 'GM_ERR_TOKEN_USED')
  assert.equal(snapshot(authority), before)
})

test('forged and expired tokens fail with their own codes and change nothing', async (t) => {
  const { authority, clock } = await setup(t)
  const gw = await gateway()
  const { token } = authority.createToken(['access'], 60_000)
  const before = snapshot(authority)
  await rejects(authority.enroll(`${token.slice(0, -2)}AA`, await createCertificateRequest(gw.key)), 'GM_ERR_TOKEN_INVALID')
  clock.now = new Date(clock.now.getTime() + 60_000)
  await rejects(authority.enroll(token, await createCertificateRequest(gw.key, clock.now)), 'GM_ERR_TOKEN_EXPIRED')
  assert.equal(snapshot(authority), before)
})

test('a bad request does not burn the token', async (t) => {
  const { authority } = await setup(t)
  const gw = await gateway()
  const { token } = authority.createToken(['access'], 60_000)
  await rejects(authority.enroll(token, new Uint8Array([1, 2, 3])), 'GM_ERR_CSR_MALFORMED')
  await rejects(authority.enroll(token, await createCertificateRequest(gw.key, new Date(Date.now() - 3_600_000))), 'GM_ERR_CSR_STALE')
  await authority.enroll(token, await createCertificateRequest(gw.key))
})

test('many enrollments racing with one token: exactly one succeeds', async (t) => {
  const { authority } = await setup(t)
  const { token } = authority.createToken(['access'], 60_000)
  const requests = await Promise.all(Array.from({ length: 8 }, async () => await createCertificateRequest((await gateway()).key)))
  const results = await Promise.allSettled(requests.map(async csr => await authority.enroll(token, csr)))
  assert.equal(results.filter(result => result.status === 'fulfilled').length, 1)
  for (const result of results) {
    if (result.status === 'rejected') assert.ok(isGatemeshError(result.reason, 'GM_ERR_TOKEN_USED'))
  }
  assert.equal(authority.listCertificates().length, 1)
})

test('renewal issues a new certificate for the same key and roles; a replayed request fails', async (t) => {
  const { authority } = await setup(t)
  const gw = await gateway()
  const first = await authority.enroll(authority.createToken(['stream'], 60_000).token, await createCertificateRequest(gw.key))
  const csr = await createCertificateRequest(gw.key)
  const renewed = await authority.renew(first.certificate, csr)
  assert.notEqual(renewed.serial, first.serial)
  assert.deepEqual(renewed.roles, ['stream'])
  await verifyGatewayCertificate(renewed.certificate, { caCertificate: authority.caCertificate, peerId: gw.peerId })
  await rejects(authority.renew(first.certificate, csr), 'GM_ERR_RENEW_REPLAYED')
})

test('renewal refuses another key, an expired, a foreign or a revoked certificate', async (t) => {
  const { authority, clock } = await setup(t)
  const gw = await gateway()
  const other = await gateway()
  const first = await authority.enroll(authority.createToken(['stream'], 60_000).token, await createCertificateRequest(gw.key))
  await rejects(authority.renew(first.certificate, await createCertificateRequest(other.key)), 'GM_ERR_RENEW_KEY_MISMATCH')
  const foreignCa = await createCertificateAuthority()
  const foreign = await issueGatewayCertificate(foreignCa, { publicKey: gw.key.publicKey.raw, peerId: gw.peerId, roles: ['access'] })
  await rejects(authority.renew(foreign.der, await createCertificateRequest(gw.key)), 'GM_ERR_CERT_UNTRUSTED')
  const before = snapshot(authority)
  clock.now = new Date(first.notAfter.getTime() + 1000)
  await rejects(authority.renew(first.certificate, await createCertificateRequest(gw.key, clock.now)), 'GM_ERR_CERT_EXPIRED')
  clock.now = new Date()
  await authority.revoke(gw.peerId)
  await rejects(authority.renew(first.certificate, await createCertificateRequest(gw.key)), 'GM_ERR_CERT_REVOKED')
  await rejects(authority.enroll(authority.createToken(['access'], 60_000).token, await createCertificateRequest(gw.key)), 'GM_ERR_ENROLL_PEER_REVOKED')
  assert.equal(JSON.parse(snapshot(authority)).certificates.length, JSON.parse(before).certificates.length)
})

test('revocation lists every certificate of the peer in a new CRL with a higher number', async (t) => {
  const { authority } = await setup(t)
  const gw = await gateway()
  const bystander = await gateway()
  const first = await authority.enroll(authority.createToken(['access'], 60_000).token, await createCertificateRequest(gw.key))
  const second = await authority.renew(first.certificate, await createCertificateRequest(gw.key))
  const kept = await authority.enroll(authority.createToken(['access'], 60_000).token, await createCertificateRequest(bystander.key))
  const before = await verifyRevocationList((await authority.currentCrl()).der, authority.caCertificate)
  assert.equal(before.serials.size, 0)
  const result = await authority.revoke(gw.peerId)
  assert.equal(result.alreadyRevoked, false)
  const after = await verifyRevocationList((await authority.currentCrl()).der, authority.caCertificate)
  assert.ok(after.number > before.number)
  assert.deepEqual([...after.serials].sort(), [first.serial, second.serial].sort())
  assert.ok(!after.serials.has(kept.serial))
  assert.equal((await authority.revoke(gw.peerId)).alreadyRevoked, true)
  await rejects(authority.revoke((await gateway()).peerId), 'GM_ERR_CA_PEER_UNKNOWN')
  await rejects(authority.revoke('garbage'), 'GM_ERR_PKI_PEER_ID_INVALID')
})

test('the CRL is re-signed when half its life is over, with a higher number', async (t) => {
  const { authority, clock } = await setup(t)
  const first = await authority.currentCrl()
  assert.equal((await authority.currentCrl()).number, first.number)
  clock.now = new Date(clock.now.getTime() + authority.settings.crlValidityMs / 2 + 1000)
  const next = await authority.currentCrl()
  assert.ok(next.number > first.number)
  assert.ok(next.nextUpdate > first.nextUpdate)
})

test('a key readable by others or a key that is not the certificate\'s is refused on open', async (t) => {
  const { dir } = await setup(t)
  await chmod(join(dir, 'ca.key'), 0o644)
  await rejects(CertificateAuthority.open({ dir }), 'GM_ERR_CA_KEY_PERMISSIONS')
  await chmod(join(dir, 'ca.key'), 0o600)
  const otherDir = await mkdtemp(join(tmpdir(), 'gatemesh-ca-other-'))
  t.after(async () => { await rm(otherDir, { recursive: true, force: true }) })
  await initCa({ dir: otherDir })
  await copyFile(join(otherDir, 'ca.crt'), join(dir, 'ca.crt'))
  await rejects(CertificateAuthority.open({ dir }), 'GM_ERR_CA_STATE_CORRUPT')
})

test('a token without roles is refused with GM_ERR_CA_NO_ROLES', async (t) => {
  const { authority } = await setup(t)
  assert.throws(() => authority.createToken([], 60_000), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_NO_ROLES'))
  assert.equal(authority.listTokens().length, 0)
})
