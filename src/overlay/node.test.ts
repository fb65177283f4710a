/**
 * Certified overlay nodes and an uncertified one in one process, with a fake CA: the gate, the
 * guarded DHT, revocation, finding peers by role, and what services add (namespaces, protocols,
 * extra libp2p services), without the PKI.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { derivePseudonym, equalBytes, generateIdentity, GatemeshError, openRecord, signRecord } from '../core/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { createOverlayNode, encodeCrlValue } from './index.ts'
import { notFound } from './node.ts'
import type { CertificateTrust, OverlayInit, OverlayNode, RecordVerifier, Role } from './index.ts'
import type { Ping } from '@libp2p/ping'
import type { Stream } from '@libp2p/interface'

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

async function codeOf (promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (err) {
    assert.ok(err instanceof GatemeshError, `a GatemeshError, not ${String(err)}`)
    return err.code
  }
  return 'ok'
}

async function readAll (stream: Stream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk.subarray())
  return Uint8Array.from(chunks.flatMap(c => [...c]))
}

interface MakeInit { issuer?: string, trust?: CertificateTrust, bootstrap?: string[], services?: Role[], overlay?: Partial<OverlayInit>, before?: (node: OverlayNode) => Promise<void> }

function nodeFactory (dirs: string[], nodes: OverlayNode[]): (serial: string, init?: MakeInit) => Promise<OverlayNode> {
  return async (serial, init = {}) => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-node-'))
    dirs.push(dir)
    const privateKey = await generateKeyPair('Ed25519')
    const cert = new TextEncoder().encode(`${init.issuer ?? 'fake-ca'}|${peerIdFromPrivateKey(privateKey).toString()}|${serial}`)
    const node = await createOverlayNode({ privateKey, trust: init.trust ?? trust, records }, {
      dataDir: dir, certificate: cert, bootstrap: init.bootstrap, services: init.services, exchangeTimeout: 2000, crlInterval: 500, ...init.overlay
    })
    await init.before?.(node)
    await node.start()
    nodes.push(node)
    return node
  }
}

describe('a get that found no value [OVL-36]', () => {
  it('is "no record" once a peer answered, or with no peer to ask; a failure when every peer asked failed', () => {
    assert.equal(notFound(1, 3).code, 'GM_ERR_RECORD_NOT_FOUND')
    assert.equal(notFound(0, 0).code, 'GM_ERR_RECORD_NOT_FOUND', 'alone in the overlay')
    assert.equal(notFound(0, 3).code, 'GM_ERR_DHT_GET_FAILED', 'peers, none answered: not known')
  })
})

describe('overlay node with a fake CA', { timeout: 90_000 }, () => {
  const dirs: string[] = []
  const nodes: OverlayNode[] = []
  const make = nodeFactory(dirs, nodes)
  let a: OverlayNode
  let b: OverlayNode

  before(async () => {
    // both certificates grant collector and persistence; a runs persistence, b the collector
    a = await make('a1', { services: ['persistence'] })
    b = await make('b1', { bootstrap: a.addresses(), services: ['collector', 'access'] })
    await until(() => a.dhtPeers().includes(b.peerId) && b.dhtPeers().includes(a.peerId), 'a and b to admit each other')
    // kad-dht adds a peer to its routing table from a queue, after the topology reports it: wait
    // until a put from a reaches b (a probe record of its own) before the tests put and read
    const probe = await generateIdentity(suite)
    const probeValue = await signRecord(suite, probe.signingKey, { type: 'account', key: probe.pseudonym, seq: 1, body: { sigPub: probe.sigPub, encPub: probe.encPub } })
    await until(async () => (await a.put(`/gm-account/${probe.pseudonym}`, probeValue).catch(() => ({ accepted: 0 }))).accepted > 0, 'a put from a to reach b')
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop().catch(() => {}) }))
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('certified peers share records', async () => {
    const alice = await generateIdentity(suite)
    const value = await signRecord(suite, alice.signingKey, { type: 'account', key: alice.pseudonym, seq: 1, body: { sigPub: alice.sigPub, encPub: alice.encPub } })
    // [OVL-37] b hears of the record a peer put to it
    const heard: string[] = []
    b.addEventListener('record:held', evt => { heard.push(evt.detail) })
    assert.equal(b.amongClosestToEveryKey(), true, 'two peers: far fewer than k')
    const put = await a.put(`/gm-account/${alice.pseudonym}`, value)
    assert.equal(put.accepted, 1)
    assert.ok(heard.includes(`/gm-account/${alice.pseudonym}`), `b was told: ${JSON.stringify(heard)}`)
    // the same record put again (a republish, or a peer replaying it) is not news
    const told = heard.length
    assert.equal((await a.put(`/gm-account/${alice.pseudonym}`, value)).accepted, 1)
    assert.equal(heard.length, told, 'not told again')
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

describe('an overlay that services extend [OVL-32] [OVL-33] [OVL-34]', { timeout: 90_000 }, () => {
  const dirs: string[] = []
  const nodes: OverlayNode[] = []
  const make = nodeFactory(dirs, nodes)
  const ECHO = '/gatemesh/test-echo/1.0.0'
  // a service's namespace: a value is valid when its first byte is 1; the longer one wins
  const testNamespace = { prefix: 'gm-test', validate: (_key: Uint8Array, value: Uint8Array) => { if (value[0] !== 1) throw new GatemeshError('GM_ERR_MALFORMED') }, select: (_key: Uint8Array, values: Uint8Array[]) => values.reduce((best, v, i) => v.length > (values[best] as Uint8Array).length ? i : best, 0) }
  const echoed: string[] = []
  let e: OverlayNode
  let f: OverlayNode
  let g: OverlayNode

  before(async () => {
    const service = async (node: OverlayNode): Promise<void> => {
      node.registerNamespace(testNamespace)
      await node.handle(ECHO, async (stream, peer) => {
        echoed.push(peer.peerId)
        const bytes = await readAll(stream)
        stream.send(bytes)
        await stream.close()
      })
    }
    // e and f run the service and an extra libp2p service (a ping on another prefix); g neither
    const probe = { libp2pServices: { probe: ping({ protocolPrefix: 'gatemesh-probe' }) } }
    e = await make('e1', { before: service, overlay: probe })
    f = await make('f1', { before: service, overlay: probe, bootstrap: e.addresses() })
    g = await make('g1', { bootstrap: e.addresses() })
    await until(() => e.dhtPeers().includes(f.peerId) && e.dhtPeers().includes(g.peerId), 'e to admit f and g')
  })

  after(async () => {
    await Promise.all(nodes.map(async n => { await n.stop().catch(() => {}) }))
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('refuses a duplicate namespace or protocol, a namespace after start, and a protocol outside /gatemesh/', async () => {
    assert.equal(await codeOf(() => { e.registerNamespace(testNamespace) }), 'GM_ERR_OVERLAY_CONFIG', 'after start')
    const dir = await mkdtemp(join(tmpdir(), 'gm-node-'))
    dirs.push(dir)
    const fresh = await createOverlayNode({ privateKey: await generateKeyPair('Ed25519'), trust, records }, { dataDir: dir, certificate: new Uint8Array([1]) })
    try {
      fresh.registerNamespace(testNamespace)
      assert.equal(await codeOf(() => { fresh.registerNamespace(testNamespace) }), 'GM_ERR_OVERLAY_REGISTERED')
      assert.equal(await codeOf(() => { fresh.registerNamespace({ ...testNamespace, prefix: 'gm-account' }) }), 'GM_ERR_OVERLAY_REGISTERED', 'a built-in namespace')
      assert.deepEqual(fresh.namespacePrefixes().sort(), ['gm-access', 'gm-account', 'gm-crl', 'gm-latest', 'gm-sensor', 'gm-test'])
      await fresh.handle(ECHO, () => {})
      assert.equal(await codeOf(fresh.handle(ECHO, () => {})), 'GM_ERR_OVERLAY_REGISTERED')
      assert.equal(await codeOf(fresh.handle('/gatemesh/kad/1.0.0', () => {})), 'GM_ERR_OVERLAY_REGISTERED', 'the DHT protocol is the overlay\'s')
      assert.equal(await codeOf(fresh.handle('/ipfs/echo/1.0.0', () => {})), 'GM_ERR_OVERLAY_CONFIG')
      assert.equal(await codeOf(fresh.dialProtocol(e.peerId, ECHO)), 'GM_ERR_OVERLAY_NOT_STARTED')
    } finally {
      await fresh.stop()
    }
    assert.equal(await codeOf(createOverlayNode({ privateKey: await generateKeyPair('Ed25519'), trust, records }, { dataDir: dir, certificate: new Uint8Array([1]), libp2pServices: { dht: ping() } })), 'GM_ERR_OVERLAY_CONFIG')
  })

  it('a service namespace is stored by the peers that register it and refused by one that does not', async () => {
    const put = await e.put('/gm-test/x', new Uint8Array([1, 2]))
    assert.ok(put.contacted >= 2, `e asked f and g: ${JSON.stringify(put)}`)
    assert.equal(put.accepted, 1, 'f stored it; g, which has no such namespace, refused it')
    assert.ok(equalBytes((await f.get('/gm-test/x', { local: true })).value, new Uint8Array([1, 2])))
    assert.ok(equalBytes((await f.get('/gm-test/x')).value, new Uint8Array([1, 2])))
    assert.equal(await codeOf(g.get('/gm-test/x')), 'GM_ERR_RECORD_KEY')
    assert.equal(await codeOf(e.get('/gm-test/absent')), 'GM_ERR_RECORD_NOT_FOUND', 'f and g answered without a value [OVL-36]')
    assert.equal(await codeOf(e.put('/gm-test/y', new Uint8Array([2]))), 'GM_ERR_MALFORMED', 'the namespace\'s validator runs')
    assert.equal(await codeOf(e.put('/gm-other/y', new Uint8Array([1]))), 'GM_ERR_RECORD_KEY')
  })

  it('a service protocol: dialled to a verified peer, handled with the peer\'s verified certificate', async () => {
    const stream = await f.dialProtocol(e.peerId, ECHO, { signal: AbortSignal.timeout(10_000) })
    stream.send(new Uint8Array([7, 8, 9]))
    await stream.close()
    assert.ok(equalBytes(await readAll(stream), new Uint8Array([7, 8, 9])))
    assert.deepEqual(echoed, [f.peerId])
    assert.equal(await codeOf(f.dialProtocol('not-a-peer', ECHO)), 'GM_ERR_PEER_NOT_VERIFIED')
  })

  it('an extra libp2p service comes from configuration and runs between verified peers', async () => {
    const rtt = await f.service<Ping>('probe').ping(peerIdFromString(e.peerId), { signal: AbortSignal.timeout(10_000) })
    assert.equal(typeof rtt, 'number')
    assert.equal(await codeOf(() => g.service('probe')), 'GM_ERR_OVERLAY_CONFIG', 'g was not configured with it')
  })
})
