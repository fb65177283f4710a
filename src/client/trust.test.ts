// [ENV-10] CollectorVerifier: a certificate verified once (the same object for a page's readings,
// or an equal copy) is still checked at every reading's own time and for the collector role,
// and a certificate object changed after it was verified is verified again.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CollectorVerifier } from './trust.ts'
import { createCertificateAuthority, issueGatewayCertificate, rawPublicKeyToPeerId } from '../pki/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { isGatemeshError } from '../core/index.ts'

const suite = createNodeCryptoSuite()

async function refused (run: () => Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(run, err => isGatemeshError(err, 'GM_ERR_CLIENT_READING_UNAUTHENTIC'), message)
}

describe('CollectorVerifier [ENV-10]', () => {
  it('checks each reading\'s time and the role, whether the certificate was verified before or not', async () => {
    const ca = await createCertificateAuthority({ name: 'trust test CA' })
    const gw = await suite.importSigningKey(suite.randomBytes(32))
    const now = Date.now()
    const { der, notBefore, notAfter } = await issueGatewayCertificate(ca, { publicKey: gw.publicKey, peerId: rawPublicKeyToPeerId(gw.publicKey), roles: ['collector'], validityMs: 3_600_000 })
    const verifier = new CollectorVerifier(ca.certificate)
    assert.equal((await verifier.verify(gw.publicKey, der, now)).peerId, rawPublicKeyToPeerId(gw.publicKey))
    // the same object, then an equal copy, at times outside its validity
    await refused(() => verifier.verify(gw.publicKey, der, notAfter.getTime() + 1000), 'after notAfter, same object')
    await refused(() => verifier.verify(gw.publicKey, Uint8Array.from(der), notBefore.getTime() - 1000), 'before notBefore, a copy')
    await verifier.verify(gw.publicKey, der, now + 1000)
    // another key with the same certificate object
    const other = await suite.importSigningKey(suite.randomBytes(32))
    await refused(() => verifier.verify(other.publicKey, der, now), 'another key')
    // the object changed in place after it was verified: verified again, and refused
    der[der.length - 5] = (der[der.length - 5] as number) ^ 1
    await refused(() => verifier.verify(gw.publicKey, der, now), 'a changed certificate')
    // access only: refused every time, the second from the cache
    const access = await issueGatewayCertificate(ca, { publicKey: gw.publicKey, peerId: rawPublicKeyToPeerId(gw.publicKey), roles: ['access'] })
    await refused(() => verifier.verify(gw.publicKey, access.der, now), 'not a collector')
    await refused(() => verifier.verify(gw.publicKey, access.der, now), 'not a collector, cached')
  })
})
