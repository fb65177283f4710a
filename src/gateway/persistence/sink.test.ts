import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { EnvelopeSealer, equalBytes, generateIdentity, openCheckpoint, utf8 } from '../../core/index.ts'
import type { OpenedCheckpoint, SigningKey } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createPersistenceSink, type PersistenceSinkInit } from './sink.ts'
import { OUTBOX_FILE } from './outbox.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import type { StoreRequest, StoreResponse } from './protocol.ts'
import type { SealedReading } from '../pipeline/index.ts'

const suite = createNodeCryptoSuite()
const MINUTE_US = 60_000_000

function peer (id: string): VerifiedPeer {
  return { peerId: id, der: new Uint8Array(1), roles: ['persistence'], services: ['persistence'], serial: id, notBefore: new Date(0), notAfter: new Date(2 ** 40) }
}

/** Fake replicas: each answers `store` as its behaviour says and keeps what it took. */
function fakeReplicas (names: string[]) {
  const held = new Map<string, { envs: Uint8Array[], cps: OpenedCheckpoint[] }>(names.map(n => [n, { envs: [], cps: [] }]))
  const behaviour = new Map<string, 'ok' | 'fail' | 'hang'>(names.map(n => [n, 'ok']))
  const waiters: Array<() => void> = []
  const send = async (p: VerifiedPeer, request: StoreRequest): Promise<StoreResponse> => {
    const mode = behaviour.get(p.peerId)
    if (mode === 'fail') throw Object.assign(new Error('unreachable'), { code: 'GM_ERR_PERSISTENCE_UNREACHABLE' })
    if (mode === 'hang') return await new Promise<StoreResponse>(() => {})
    const store = held.get(p.peerId) as { envs: Uint8Array[], cps: OpenedCheckpoint[] }
    store.envs.push(...request.envs)
    for (const cp of request.cps) store.cps.push(await openCheckpoint(suite, cp))
    for (const w of waiters.splice(0)) w()
    return { ok: true, stored: request.envs.length, duplicates: 0, rejected: [] }
  }
  return { held, behaviour, send, changed: async () => await new Promise<void>(resolve => waiters.push(resolve)) }
}

async function sealed (signer: SigningKey, sensor: string, seqs: number[]): Promise<SealedReading[]> {
  const reader = await generateIdentity(suite)
  const sealer = new EnvelopeSealer({ suite, signer })
  const out = await sealer.sealBatch(seqs.map(seq => ({ header: { sensor, ts: Math.floor(seq / 1000), seq }, plaintext: utf8('{"t":1}'), recipients: [{ id: reader.pseudonym, publicKey: reader.encPub }] })))
  return out.map((o, i) => ({ sensorId: sensor, ts: Math.floor((seqs[i] as number) / 1000), seq: seqs[i] as number, envelope: (o as { envelope: Uint8Array }).envelope }))
}

function outboxRows (dir: string): number {
  const db = new DatabaseSync(join(dir, OUTBOX_FILE), { readOnly: true })
  try { return (db.prepare('SELECT count(*) AS n FROM envs').get() as { n: number }).n } finally { db.close() }
}

async function until (check: () => boolean, what: string, changed?: () => Promise<void>, withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await Promise.race([changed?.() ?? new Promise(resolve => setImmediate(resolve)), new Promise(resolve => setTimeout(resolve, 20))])
  }
}

describe('persistence sink and outbox [PER-4] [PER-5] [PER-11]', () => {
  const base = (dir: string, extra: Partial<PersistenceSinkInit> = {}): PersistenceSinkInit => ({ dataDir: dir, retryMinMs: 20, retryMaxMs: 100, signIntervalMs: 20, ...extra })

  it('settles a batch once it is in the outbox, and lets each envelope go once W of R replicas confirmed it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const replicas = fakeReplicas(['a', 'b', 'c'])
    replicas.behaviour.set('c', 'fail')
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => ['a', 'b', 'c'].map(peer), send: replicas.send }, base(dir))
    await sink.start()
    const readings = await sealed(signer, 's-1', [1, 2, 3, 4, 5].map(i => 1_700_000_000_000_000 + i))
    await sink.deliver(readings)
    await until(() => (sink.status().outbox as { readings: number }).readings === 0, 'W confirmations', replicas.changed)
    assert.equal(replicas.held.get('a')?.envs.length, 5)
    assert.equal(replicas.held.get('b')?.envs.length, 5)
    assert.equal(outboxRows(dir), 0, 'confirmed envelopes left the outbox on disk')
    const status = sink.status() as { confirmed: number, replicas: Record<string, { failed: number }>, lagMs: { p50: number | null, p99: number | null } }
    assert.ok(status.confirmed >= 5)
    assert.ok((status.replicas.c?.failed ?? 0) >= 1, 'the failing replica is counted')
    assert.equal(typeof status.lagMs.p99, 'number')
    // [PER-5] the answered pushes' round trip and size (the failing replica's are not answered)
    const pushes = (sink.status() as { pushes: { count: number, items: { p99: number | null }, ms: { p99: number | null } } }).pushes
    assert.ok(pushes.count >= 2, `answered pushes counted: ${pushes.count}`)
    assert.ok((pushes.items.p99 ?? 0) >= 1 && (pushes.items.p99 ?? 0) <= 6, `items per push: ${pushes.items.p99}`)
    assert.equal(typeof pushes.ms.p99, 'number')
    await sink.stop()
  })

  it('keeps, across a stop mid-flight and a reopen, every envelope W replicas did not confirm, and pushes it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const first = fakeReplicas(['a', 'b', 'c'])
    // only one replica confirms: below W = 2
    first.behaviour.set('b', 'hang')
    first.behaviour.set('c', 'fail')
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => ['a', 'b', 'c'].map(peer), send: first.send }, base(dir))
    await sink.start()
    await sink.deliver(await sealed(signer, 's-1', [10, 11, 12].map(i => 1_700_000_000_000_000 + i)))
    await until(() => (first.held.get('a')?.envs.length ?? 0) === 3, 'the one replica that answers', first.changed)
    await sink.stop()
    assert.equal(outboxRows(dir), 3, 'nothing confirmed by W left the outbox')

    const second = fakeReplicas(['a', 'b', 'c'])
    const reopened = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => ['a', 'b', 'c'].map(peer), send: second.send }, base(dir))
    await reopened.start()
    await until(() => outboxRows(dir) === 0, 'the reopened outbox to drain', second.changed)
    for (const name of ['a', 'b', 'c']) assert.equal(second.held.get(name)?.envs.length, 3, `${name} was given them again`)
    await reopened.stop()
  })

  it('signs one checkpoint chain per sensor, continued across a reopen; late seqs of a signed bucket go into a late part', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const replicas = fakeReplicas(['a', 'b'])
    let clock = 1_700_000_000_000 // ms
    const bucket0 = Math.floor(clock * 1000 / MINUTE_US)
    const init = base(dir, { replicas: 2, now: () => clock, graceMs: 5000 })
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => ['a', 'b'].map(peer), send: replicas.send }, init)
    await sink.start()
    const seqA = bucket0 * MINUTE_US + 1
    await sink.deliver(await sealed(signer, 's-1', [seqA, seqA + 1]))
    // the bucket is not closed: nothing signed yet
    await new Promise(resolve => setTimeout(resolve, 60))
    assert.equal(replicas.held.get('a')?.cps.length, 0)
    clock += 2 * 60_000
    await until(() => (replicas.held.get('a')?.cps.length ?? 0) === 1, 'part 0 after the bucket closed', replicas.changed)
    const part0 = replicas.held.get('a')?.cps[0] as OpenedCheckpoint
    assert.deepEqual([part0.bucket, part0.part, part0.prev, part0.seqs], [bucket0, 0, null, [seqA, seqA + 1]])
    assert.ok(equalBytes(part0.gw, signer.publicKey))
    // a late reading of the signed bucket: a late part at the next tick, chained
    await sink.deliver(await sealed(signer, 's-1', [seqA + 5]))
    await until(() => (replicas.held.get('a')?.cps.length ?? 0) === 2, 'the late part', replicas.changed)
    const part1 = replicas.held.get('a')?.cps[1] as OpenedCheckpoint
    assert.deepEqual([part1.bucket, part1.part, part1.seqs], [bucket0, 1, [seqA + 5]])
    assert.deepEqual(part1.prev, { bucket: bucket0, part: 0, h: part0.hash })
    // a reading of the current bucket, then a stop: signed at stop
    const seqB = (bucket0 + 2) * MINUTE_US + 7
    await sink.deliver(await sealed(signer, 's-1', [seqB]))
    await sink.stop()
    await until(() => (replicas.held.get('a')?.cps.length ?? 0) === 3, 'the checkpoint signed at stop')
    const atStop = replicas.held.get('a')?.cps[2] as OpenedCheckpoint
    assert.deepEqual(atStop.prev, { bucket: bucket0, part: 1, h: part1.hash })

    // reopened: the chain continues from the head on disk
    const again = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => ['a', 'b'].map(peer), send: replicas.send }, init)
    await again.start()
    const seqC = (bucket0 + 3) * MINUTE_US + 1
    await again.deliver(await sealed(signer, 's-1', [seqC]))
    clock += 5 * 60_000
    await until(() => (replicas.held.get('a')?.cps.length ?? 0) === 4, 'a checkpoint after the reopen', replicas.changed)
    const after = replicas.held.get('a')?.cps[3] as OpenedCheckpoint
    assert.deepEqual([after.bucket, after.part, after.seqs], [bucket0 + 3, 0, [seqC]])
    assert.deepEqual(after.prev, { bucket: atStop.bucket, part: atStop.part, h: atStop.hash })
    await again.stop()
  })

  it('waits in the outbox while fewer than W persistence peers exist, then drains', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const replicas = fakeReplicas(['a', 'b'])
    let known: string[] = ['a']
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => known.map(peer), send: replicas.send }, base(dir, { replicaCacheMs: 50 }))
    await sink.start()
    await sink.deliver(await sealed(signer, 's-2', [100, 101]))
    await until(() => (replicas.held.get('a')?.envs.length ?? 0) === 2, 'the one peer to get them', replicas.changed)
    assert.equal(outboxRows(dir), 2, 'one confirmation is not W')
    known = ['a', 'b']
    await until(() => outboxRows(dir) === 0, 'the drain once a second peer exists')
    await sink.stop()
  })

  it('reuses a replica set while the persistence peers stay the same, and looks again at once when they change [PER-3]', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const replicas = fakeReplicas(['a', 'b'])
    let members: string[] = ['a']
    let lookups = 0
    const replicasOf = async (): Promise<VerifiedPeer[]> => { lookups++; return members.map(peer) }
    // the short-set retry and the cache are far away: only a membership change may look again
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf, persistencePeers: () => [...members], send: replicas.send }, base(dir, { shortRetryMs: 600_000, membershipCheckMs: 10 }))
    await sink.start()
    await sink.deliver(await sealed(signer, 's-5', [100, 101]))
    await until(() => (replicas.held.get('a')?.envs.length ?? 0) === 2, 'the one peer to get them', replicas.changed)
    for (let i = 0; i < 5; i++) await sink.deliver(await sealed(signer, 's-5', [200 + i]))
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(lookups, 1, 'the same members: the set is reused, even short of W')
    assert.equal(outboxRows(dir), 7, 'one confirmation is not W')
    members = ['a', 'b']
    // at once: not after a retry timer (5 s before [PER-3] watched the members)
    await until(() => outboxRows(dir) === 0, 'the drain once a second peer joined', undefined, 2500)
    assert.equal(lookups, 2, 'one look-up for the change')
    await sink.stop()
  })

  it('looks no replica set up again when a push to a replica still among the persistence peers fails [PER-3]', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const replicas = fakeReplicas(['a', 'b', 'c'])
    replicas.behaviour.set('c', 'fail')
    let members = ['a', 'b', 'c']
    let lookups = 0
    const replicasOf = async (): Promise<VerifiedPeer[]> => { lookups++; return ['a', 'b', 'c'].map(peer) }
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf, persistencePeers: () => [...members], send: replicas.send }, base(dir, { writeQuorum: 3, shortRetryMs: 600_000, membershipCheckMs: 600_000, retryMinMs: 1, retryMaxMs: 2 }))
    await sink.start()
    for (const sensor of ['s-a', 's-b', 's-c']) await sink.deliver(await sealed(signer, sensor, [1, 2]))
    // W = 3: what c has not confirmed stays pending for it, and is pushed to it again and again
    await until(() => (replicas.held.get('b')?.envs.length ?? 0) === 6, 'a and b to hold them')
    await until(() => ((sink.status().replicas as Record<string, { failed: number }>).c?.failed ?? 0) >= 5, 'several failed pushes to c')
    assert.equal(lookups, 3, 'one look-up per sensor: c is still a member, its failures (a time-out under load) are no news')
    // c is no longer a persistence peer: its failure looks the sets of what it held up again
    members = ['a', 'b']
    const before = (sink.status().replicas as Record<string, { failed: number }>).c?.failed ?? 0
    await until(() => ((sink.status().replicas as Record<string, { failed: number }>).c?.failed ?? 0) > before, 'one more failed push to c')
    await until(() => lookups > 3, 'the sets looked up again')
    await sink.stop()
  })

  it('holds batches back while the outbox is full, and takes them once replicas confirm what it holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sink-'))
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const replicas = fakeReplicas(['a', 'b'])
    replicas.behaviour.set('b', 'fail')
    const one = await sealed(signer, 's-3', [1])
    const size = (one[0] as SealedReading).envelope.length
    const sink = createPersistenceSink({ suite, signer, certificate: () => new Uint8Array([1]), replicasOf: async () => ['a', 'b'].map(peer), send: replicas.send }, base(dir, { outboxMaxBytes: size * 2 + 10, replicas: 2 }))
    await sink.start()
    await sink.deliver(await sealed(signer, 's-3', [1, 2]))
    let settled = false
    const third = sink.deliver(await sealed(signer, 's-3', [3])).then(() => { settled = true })
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.equal(settled, false, 'a full outbox does not take the batch')
    assert.equal((sink.status().outbox as { waitingBatches: number }).waitingBatches, 1)
    replicas.behaviour.set('b', 'ok')
    await third
    await until(() => outboxRows(dir) === 0, 'the outbox to drain')
    await sink.stop()
  })
})
