import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isGatemeshError } from '../core/errors.ts'
import { createCertificateAuthority, enroll, fetchRevocationList, issueGatewayCertificate, renew } from './index.ts'

/** A fake CA on 127.0.0.1 that answers every request with `status` and `body`. */
async function fake (status: number, body: string, type = 'application/json'): Promise<{ url: string, server: Server }> {
  const server = createServer((_request, response) => { response.writeHead(status, { 'content-type': type }).end(body) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

const key = await generateKeyPair('Ed25519')
const peerId = peerIdFromPrivateKey(key).toString()

test('an unreachable CA gives GM_ERR_CA_UNREACHABLE', async () => {
  const { server, url } = await fake(200, '{}')
  server.close()
  await once(server, 'close')
  await assert.rejects(enroll({ caUrl: url, token: 't', privateKey: key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_UNREACHABLE'))
  await assert.rejects(fetchRevocationList('not a url'), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_UNREACHABLE'))
})

test('a known error code from the CA is rethrown with its code and status; an unknown one is GM_ERR_CA_BAD_RESPONSE', async (t) => {
  const known = await fake(409, JSON.stringify({ code: 'GM_ERR_TOKEN_USED', message: 'used' }))
  const unknown = await fake(418, JSON.stringify({ code: 'GM_ERR_TEAPOT', message: '?' }))
  t.after(() => { known.server.close(); unknown.server.close() })
  await assert.rejects(enroll({ caUrl: known.url, token: 't', privateKey: key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_TOKEN_USED') && err.status === 409)
  await assert.rejects(enroll({ caUrl: unknown.url, token: 't', privateKey: key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_BAD_RESPONSE'))
})

test('garbage, or a certificate that does not verify, is GM_ERR_CA_BAD_RESPONSE', async (t) => {
  const ca = await createCertificateAuthority()
  const other = await createCertificateAuthority()
  const issued = await issueGatewayCertificate(other, { publicKey: key.publicKey.raw, peerId, roles: ['access'] })
  const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64')
  const servers = await Promise.all([
    fake(200, 'not json'),
    fake(201, JSON.stringify({ certificate: 'AAAA' })),
    fake(201, JSON.stringify({ certificate: b64(issued.der), caCertificate: b64(ca.certificate) })),
    fake(200, 'plain', 'text/plain')
  ])
  t.after(() => { for (const { server } of servers) server.close() })
  for (const { url } of servers.slice(0, 3)) {
    await assert.rejects(enroll({ caUrl: url, token: 't', privateKey: key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_BAD_RESPONSE'))
    await assert.rejects(renew({ caUrl: url, certificate: issued.der, privateKey: key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_BAD_RESPONSE'))
  }
  await assert.rejects(fetchRevocationList(servers[3]!.url), (err: unknown) => isGatemeshError(err, 'GM_ERR_CA_BAD_RESPONSE'))
})
