/**
 * Service protocols behind the certificate gate [OVL-32] [OVL-33], with the real PKI and a real
 * uncertified libp2p peer (fixtures/rogue-peer.ts, its own process): a stream from an uncertified
 * or a revoked peer is refused before the service's handler sees it, on a protocol the service
 * registered through the overlay and on an extra libp2p service's protocol alike; the same stream
 * from a certified peer reaches the handler.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { after, before, describe, it } from 'node:test'
import { ping } from '@libp2p/ping'
import { createCertificateTrust, createRecordVerifier } from '../../src/gateway/index.ts'
import { createOverlayNode, encodeCrlValue } from '../../src/overlay/index.ts'
import { createTestCa, nextCrl, removeAll, seedGateway, startRogue, tempDir } from './helpers.ts'
import type { Rogue, SeededIdentity, TestCa } from './helpers.ts'
import type { CertificateTrust, OverlayNode } from '../../src/overlay/index.ts'
import type { Stream } from '@libp2p/interface'

const ECHO = '/gatemesh/test-echo/1.0.0'
const PROBE = '/gatemesh-probe/ping/1.0.0'

async function readAll (stream: Stream): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of stream) chunks.push(chunk.subarray())
  return Uint8Array.from(chunks.flatMap(c => [...c]))
}

describe('service protocols behind the certificate gate', { timeout: 90_000 }, () => {
  let ca: TestCa
  let trust: CertificateTrust
  const dirs: string[] = []
  const nodes: OverlayNode[] = []
  const rogues: Rogue[] = []
  const handled: string[] = []
  let a: OverlayNode
  let b: OverlayNode
  let idB: SeededIdentity

  const node = async (id: SeededIdentity, bootstrap: string[] = []): Promise<OverlayNode> => {
    const overlay = await createOverlayNode({ privateKey: id.privateKey, trust, records: createRecordVerifier() }, {
      dataDir: id.dir,
      certificate: id.certificate,
      bootstrap,
      exchangeTimeout: 1500,
      crlInterval: 500,
      // an extra libp2p service, from configuration: ping on a protocol of its own
      libp2pServices: { probe: ping({ protocolPrefix: 'gatemesh-probe' }) }
    })
    // a service's own protocol: echoes what it reads
    await overlay.handle(ECHO, async (stream, peer) => {
      handled.push(peer.peerId)
      const bytes = await readAll(stream)
      stream.send(bytes)
      await stream.close()
    })
    await overlay.start()
    nodes.push(overlay)
    return overlay
  }
  const seeded = async (): Promise<SeededIdentity> => {
    const dir = await tempDir('gm-services-')
    dirs.push(dir)
    return await seedGateway(dir, ca)
  }
  const addressOf = (overlay: OverlayNode): string => overlay.addresses().find(x => x.includes('/127.0.0.1/')) as string

  before(async () => {
    ca = await createTestCa()
    trust = createCertificateTrust(ca.certificate)
    a = await node(await seeded())
    idB = await seeded()
    b = await node(idB, [addressOf(a)])
    await once(a, 'peer:verified')
  })

  after(async () => {
    await Promise.all(rogues.map(async r => await r.stop()))
    await Promise.all(nodes.map(async n => { await n.stop().catch(() => {}) }))
    await removeAll(dirs)
  })

  it('a certified peer\'s stream reaches the service, with the peer\'s verified certificate', async () => {
    const stream = await b.dialProtocol(a.peerId, ECHO, { signal: AbortSignal.timeout(10_000) })
    stream.send(new Uint8Array([1, 2, 3]))
    await stream.close()
    assert.deepEqual([...await readAll(stream)], [1, 2, 3])
    assert.deepEqual(handled, [b.peerId])
  })

  it('an uncertified libp2p peer\'s stream is refused before the service sees it', async () => {
    // one rogue per protocol: a refused peer's connections are closed and its dials denied for a while
    const before = handled.length
    await Promise.all([[ECHO, Buffer.from([4, 5, 6])], [PROBE, Buffer.alloc(32, 7)]].map(async ([protocol, bytes]) => {
      const dir = await tempDir('gm-services-rogue-')
      dirs.push(dir)
      await seedGateway(dir, ca)
      const rogue = await startRogue({ mode: 'uncertified', data: dir, bootstrap: [] })
      rogues.push(rogue)
      const res = await rogue.command({ op: 'stream', addr: addressOf(a), protocol, send: (bytes as Buffer).toString('base64') })
      assert.ok(res.ok === false || res.received === '', `${String(protocol)}: the rogue got no answer: ${JSON.stringify(res)}`)
      assert.ok(!a.verifiedPeers().some(p => p.peerId === rogue.ready.peerId))
    }))
    assert.equal(handled.length, before, 'the handler never saw a rogue')
  })

  it('a revoked peer\'s stream is refused before the service sees it', async () => {
    ca.revoked.push({ serial: idB.serial, revokedAt: new Date() })
    const crl = await trust.verifyRevocationList(await nextCrl(ca))
    const rejected = once(a, 'peer:rejected')
    await a.put('/gm-crl/ca', encodeCrlValue(crl))
    const [evt] = await rejected as [CustomEvent<{ peerId: string, code: string }>]
    assert.deepEqual(evt.detail, { peerId: b.peerId, code: 'GM_ERR_PEER_REVOKED' })
    const before = handled.length
    await assert.rejects(async () => {
      const stream = await b.dialProtocol(a.peerId, ECHO, { signal: AbortSignal.timeout(10_000) })
      stream.send(new Uint8Array([9]))
      await stream.close()
      if ((await readAll(stream)).length === 0) throw new Error('refused')
    })
    assert.equal(handled.length, before, 'the handler never saw the revoked peer')
  })
})
