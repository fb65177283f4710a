/**
 * Two certified overlay nodes and an uncertified one in one process, with a fake CA: the gate,
 * the guarded DHT and revocation, without the PKI.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { derivePseudonym, equalBytes, generateIdentity, GatemeshError, openRecord, signRecord } from '../core/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { createOverlayNode, encodeCrlValue } from './index.ts'
import type { CertificateTrust, OverlayNode, RecordVerifier, Role } from './index.ts'

const suite = createNodeCryptoSuite()
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)

/** Fake CA: a certificate is "fake-ca|<peerId>|<serial>"; a CRL is "crl|<n>|<serial>,<serial>". */
const trust: CertificateTrust = {
  async verifyCertificate (der, init) {
    const [issuer, peerId, serial] = text(der).split('|')
    if (issuer !== 'fake-ca') throw new GatemeshError('GM_ERR_CERT_UNTRUSTED')
    if (peerId !== init.peerId) throw new GatemeshError('GM_ERR_CERT_KEY_MISMATCH')
    if (init.revocations?.serials.has(serial as string) === true) throw new GatemeshError('GM_ERR_CERT_REVOKED')
    return { der, peerId, roles: ['collector', 'persistence'], serial: serial as string, notBefore: new Date(0), notAfter: new Date(Date.now() + 3600_000) }
  },
  async verifyRevocationList (der) {
    const [tag, n, serials] = text(der).split('|')
    if (tag !== 'crl') throw new GatemeshError('GM_ERR_CRL_UNTRUSTED')
    return { der, number: Number(n), thisUpdate: new Date(), nextUpdate: new Date(), serials: new Set((serials ?? '').split(',').filter(Boolean)) }
  }
}
const records: RecordVerifier = {
  openRecord: async (bytes, init) => await openRecord(suite, bytes, init) as never,
  derivePseudonym: async (a, b) => await derivePseudonym(suite, a, b)
}
const permissive: CertificateTrust = {
  verifyCertificate: async (der, init) => ({ der, peerId: init.peerId, roles: [], serial: 'x', notBefore: new Date(0), notAfter: new Date(Date.now() + 3600_000) }),
  verifyRevocationList: async () => { throw new GatemeshError('GM_ERR_CRL_UNTRUSTED') }
}

async function until (check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('overlay node with a fake CA', { timeout: 90_000 }, () => {
  const dirs: string[] = []
  const nodes: OverlayNode[] = []
  const make = async (serial: string, init: { issuer?: string, trust?: CertificateTrust, bootstrap?: string[], services?: Role[] } = {}): Promise<OverlayNode> => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-node-'))
    dirs.push(dir)
    const privateKey = await generateKeyPair('Ed25519')
    const cert = new TextEncoder().encode(`${init.issuer ?? 'fake-ca'}|${peerIdFromPrivateKey(privateKey).toString()}|${serial}`)
    const node = await createOverlayNode({ privateKey, trust: init.trust ?? trust, records }, {
      dataDir: dir, certificate: cert, bootstrap: init.bootstrap, services: init.services, exchangeTimeout: 2000, crlInterval: 500
    })
    await node.start()
    nodes.push(node)
    return node
  }
  let a: OverlayNode
  let b: OverlayNode

  before(async () => {
    // both certificates grant collector and persistence; a runs persistence, b the collector
    a = await make('a1', { services: ['persistence'] })
    b = await make('b1', { bootstrap: a.addresses(), services: ['collector', 'access'] })
    await until(() => a.dhtPeers().includes(b.peerId) && b.dhtPeers().includes(a.peerId), 'a and b to admit each other')
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop().catch(() => {}) }))
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('certified peers share records', async () => {
    const alice = await generateIdentity(suite)
    const value = await signRecord(suite, alice.signingKey, { type: 'account', key: alice.pseudonym, seq: 1, body: { sigPub: alice.sigPub, encPub: alice.encPub } })
    const put = await a.put(`/gm-account/${alice.pseudonym}`, value)
    assert.equal(put.accepted, 1)
    assert.ok(equalBytes((await b.get(`/gm-account/${alice.pseudonym}`, { local: true })).value, value))
    assert.ok(equalBytes((await b.get(`/gm-account/${alice.pseudonym}`)).value, value))
  })

  it('finds a peer by role only for a service it runs and its certificate grants [OVL-31]', async () => {
    assert.deepEqual((await b.findPeersByRole('persistence', '/gm-sensor/s', 5)).map(c => c.peerId), [a.peerId], 'b is granted persistence but does not run it')
    assert.deepEqual((await a.findPeersByRole('collector', '/gm-sensor/s', 5)).map(c => c.peerId), [b.peerId], 'a is granted the collector but does not run it')
    assert.deepEqual(await a.findPeersByRole('access', '/gm-sensor/s', 5), [], 'b runs access, but its certificate does not grant it')
    assert.deepEqual(b.services(), ['collector'])
    assert.deepEqual(a.verifiedPeers().find(p => p.peerId === b.peerId)?.services, ['collector'])
  })

  it('a peer whose certificate is from another issuer is refused and never enters a routing table', async () => {
    const rejected: string[] = []
    a.addEventListener('peer:rejected', evt => { rejected.push(evt.detail.peerId) })
    const c = await make('c1', { issuer: 'evil-ca', trust: permissive, bootstrap: a.addresses() })
    await until(() => rejected.includes(c.peerId), 'a to refuse c')
    assert.ok(!a.dhtPeers().includes(c.peerId))
    assert.ok(!a.verifiedPeers().some(p => p.peerId === c.peerId))
    await assert.rejects(c.get('/gm-crl/ca'), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_RECORD_NOT_FOUND')
  })

  it('a newer CRL, put by one peer, expels the revoked peer from the others', async () => {
    const d = await make('d1', { bootstrap: a.addresses() })
    await until(() => a.dhtPeers().includes(d.peerId) && b.dhtPeers().includes(d.peerId), 'd to join')
    const crl = await trust.verifyRevocationList(new TextEncoder().encode('crl|1|d1'))
    await a.put('/gm-crl/ca', encodeCrlValue(crl))
    await until(() => b.currentRevocationList()?.number === 1, 'b to adopt the CRL')
    await until(() => !a.dhtPeers().includes(d.peerId) && !b.dhtPeers().includes(d.peerId), 'd to be expelled')
    assert.ok(!b.verifiedPeers().some(p => p.peerId === d.peerId))
    // a stale CRL is refused
    await assert.rejects(a.put('/gm-crl/ca', encodeCrlValue(await trust.verifyRevocationList(new TextEncoder().encode('crl|0|')))),
      (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_CRL_STALE')
  })
})
