// Replication, with real processes: a CA, a collector gateway and three persistence gateways
// from `gatemesh gateway start`. Readings are sent over HTTP; each replica is asked for them with
// the persistence protocol ([PER-2] `range`) from an overlay node certified for access, as an
// access gateway asks. Checkpoints arrive once the collector signs them ([PER-11]: at stop here).
// Hostile pushes from a certified collector (a forged envelope, an unknown sensor, another
// gateway's envelopes) are refused with codes and nothing of them is stored.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  EnvelopeSealer, MIN_KDF_ITERATIONS, equalBytes, generateIdentity, openCheckpoint, readEnvelopeHeader, utf8, verifyEnvelope, webCryptoSuite
} from '../../src/core/index.ts'
import { enroll } from '../../src/pki/index.ts'
import { createClient } from '../../src/client/index.ts'
import { startNetwork } from '../../src/demo/network.ts'
import { createOverlayNode } from '../../src/overlay/index.ts'
import { createCertificateTrust, createRecordVerifier } from '../../src/gateway/index.ts'
import { request } from '../../src/gateway/persistence/index.ts'
import type { Network, RunningGateway } from '../../src/demo/network.ts'
import type { OverlayNode, Role } from '../../src/overlay/index.ts'
import type { PrivateKey } from '@libp2p/interface'
import { eventuallyValue } from '../support/eventually.ts'

const suite = webCryptoSuite
const SENSOR = 'repl-greenhouse'
const ALL = { fromSeq: 0, toSeq: Number.MAX_SAFE_INTEGER }

describe('replication: a collector and three persistence peers [PER-2] [PER-3] [PER-4]', { timeout: 240_000 }, () => {
  let dir: string
  let net: Network
  let collector: RunningGateway
  let replicas: RunningGateway[]
  const nodes: OverlayNode[] = []
  let reader: OverlayNode
  let credential: string
  const seqs: number[] = []

  /** An in-process overlay node with a key the network's CA certified for `roles`. */
  async function certifiedNode (roles: Role[]): Promise<{ node: OverlayNode, key: PrivateKey, certificate: Uint8Array }> {
    const token = (await net.ca('token', '--roles', roles.join(','))).trim()
    const key = await generateKeyPair('Ed25519')
    const { certificate, caCertificate } = await enroll({ caUrl: net.caUrl, token, privateKey: key })
    const nodeDir = await mkdtemp(join(dir, 'node-'))
    const node = await createOverlayNode({ privateKey: key, trust: createCertificateTrust(caCertificate), records: createRecordVerifier() }, {
      dataDir: nodeDir, certificate, services: roles, bootstrap: net.gateways.flatMap(g => g.ready.addrs), listen: ['/ip4/127.0.0.1/tcp/0'], exchangeTimeout: 3000
    })
    await node.start()
    nodes.push(node)
    return { node, key, certificate }
  }

  async function rangeAt (replica: RunningGateway, sensor = SENSOR): Promise<{ envs: Uint8Array[], cps: Uint8Array[], certs: Uint8Array[] }> {
    return await request(reader, replica.ready.peerId, { op: 'range', sensor, ...ALL, order: 'asc', limit: 10_000 })
  }

  const eventually = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => await eventuallyValue(what, check, timeoutMs, 200)

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-repl-'))
    net = await startNetwork({
      dir,
      gateways: [
        { name: 'c1', services: ['collector', 'access'] },
        { name: 'p1', services: ['persistence'] },
        { name: 'p2', services: ['persistence'] },
        { name: 'p3', services: ['persistence'] }
      ],
      gatewayArgs: ['--admin-port', '0', '--crl-interval', '2000', '--exchange-timeout', '3000'],
      readyTimeoutMs: 90_000
    })
    ;[collector, ...replicas] = net.gateways as [RunningGateway, ...RunningGateway[]]
    reader = (await certifiedNode(['access'])).node
    const client = createClient({ gateway: collector.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS })
    const alice = await client.resume((await client.signup('alice replication password')).bundle, 'alice replication password')
    credential = (await alice.addSensor(SENSOR)).credential
  })

  after(async () => {
    for (const node of nodes) await node.stop().catch(() => {})
    await net?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('readings sent over HTTP reach every replica, verified and in order; the collector\'s checkpoints follow', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${collector.ready.collector?.http}/v1/sensors/${SENSOR}/readings`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: JSON.stringify({ n: i })
      })
      const text = await res.text()
      assert.equal(res.status, 202, text)
      seqs.push((JSON.parse(text) as { seq: number }).seq)
    }
    for (const replica of replicas) {
      const page = await eventually(`${replica.name} holds the readings`, async () => {
        const p = await rangeAt(replica)
        return p.envs.length === seqs.length ? p : undefined
      })
      const held = await Promise.all(page.envs.map(async e => await verifyEnvelope(suite, e)))
      assert.deepEqual(held.map(e => e.seq), seqs, `${replica.name}: every reading, in seq order`)
      assert.ok(held.every(e => e.sensor === SENSOR))
      assert.equal(page.certs.length, 1, 'the collector\'s certificate comes with the page')
    }
    // [PER-11] stopping the collector signs what it holds and pushes it
    assert.equal(await collector.stop(), 0)
    for (const replica of replicas) {
      const page = await eventually(`${replica.name} holds the checkpoints`, async () => {
        const p = await rangeAt(replica)
        return p.cps.length > 0 ? p : undefined
      })
      const cps = await Promise.all(page.cps.map(async c => await openCheckpoint(suite, c)))
      assert.ok(cps.every(c => c.sensor === SENSOR))
      assert.deepEqual([...new Set(cps.flatMap(c => c.seqs))].sort((a, b) => a - b), seqs, `${replica.name}: the checkpoints name every seq`)
    }
  })

  it('refuses a forged envelope, an unknown sensor and another gateway\'s envelopes from a collector, storing none of them', async () => {
    const pusher = await certifiedNode(['collector'])
    const other = await generateKeyPair('Ed25519')
    const someone = await generateIdentity(suite)
    const recipient = { id: someone.pseudonym, publicKey: someone.encPub }
    const sealAs = async (key: PrivateKey, sensor: string, seq: number): Promise<Uint8Array> => {
      const signer = await suite.importSigningKey(key.raw.subarray(0, 32))
      return await new EnvelopeSealer({ suite, signer }).seal({ sensor, ts: Math.floor(seq / 1000), seq }, utf8('{"x":1}'), [recipient])
    }
    const base = Date.now() * 1000
    const good = await sealAs(pusher.key, SENSOR, base + 1)
    const forged = Uint8Array.from(await sealAs(pusher.key, SENSOR, base + 2))
    forged[forged.length - 70] = (forged[forged.length - 70] as number) ^ 1
    const unknown = await sealAs(pusher.key, 'no-such-sensor', base + 3)
    const foreign = await sealAs(other, SENSOR, base + 4)
    const target = replicas[0] as RunningGateway
    const answer = await request(pusher.node, target.ready.peerId, { op: 'store', certs: [pusher.certificate], envs: [good, forged, unknown, foreign], cps: [] })
    assert.equal(answer.stored, 1, 'only the pusher\'s own valid envelope')
    assert.deepEqual(answer.rejected.map(r => [r.i, r.kind, r.code]), [
      [1, 'env', 'GM_ERR_BAD_SIGNATURE'],
      [2, 'env', 'GM_ERR_PERSISTENCE_SENSOR_UNKNOWN'],
      [3, 'env', 'GM_ERR_PERSISTENCE_FORBIDDEN']
    ])
    const page = await rangeAt(target)
    const stored = page.envs.map(e => readEnvelopeHeader(e))
    assert.ok(stored.some(h => h.seq === base + 1 && equalBytes(h.gw, pusher.key.publicKey.raw)), 'the valid one is held')
    assert.ok(!stored.some(h => h.seq === base + 2 || h.seq === base + 4), 'neither the forged nor the foreign one')
    assert.equal((await rangeAt(target, 'no-such-sensor')).envs.length, 0)
    // a malformed request is refused as a whole, with its code
    await assert.rejects(request(pusher.node, target.ready.peerId, { op: 'range', sensor: SENSOR, ...ALL, order: 'asc', limit: 10 }),
      (err: { code?: string }) => err.code === 'GM_ERR_PERSISTENCE_FORBIDDEN', 'a collector does not read history')
  })
})
