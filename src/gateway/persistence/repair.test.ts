// Repair ([PER-30]..[PER-34]): the digest and id diffs, the bucket windows, and rounds between two
// replicas on in-memory engines (the other replica's digest/ids/fetch/sensors answered by the real
// handlers; the store path faked: verification is the integration test's).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EnvelopeSealer, checkpointBucket, generateIdentity, openCheckpoint, readEnvelopeHeader, signCheckpoint, utf8 } from '../../core/index.ts'
import type { SigningKey } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import { REPAIR_BUCKET, createHandler } from './handlers.ts'
import { createDigestCache, type DigestCache } from './digest-cache.ts'
import { createRepair, differingBuckets, diffCheckpointIds, diffIds, localDigest, repairWindows, type BucketDigestTuple } from './repair.ts'
import { StoreVerifier } from './verify.ts'
import type { PersistenceRequest, ResponseOf, StoreRequest, StoreResponse } from './protocol.ts'
import type { StorageEngine } from './engine/types.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'

const suite = createNodeCryptoSuite()
const H = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const gwA = H(0xaa)
const gwB = H(0xbb)
const NOW = Date.UTC(2025, 0, 10, 12, 30)
const HOUR_MS = 3_600_000

describe('repair: digest and id diffs [PER-31] [PER-32]', () => {
  it('names the buckets whose count or hash differ, or that one side lacks', () => {
    const local: BucketDigestTuple[] = [[1, 2, H(1)], [2, 3, H(2)], [3, 1, H(3)], [5, 4, H(5)]]
    const remote: BucketDigestTuple[] = [[1, 2, H(1)], [2, 3, H(9)], [3, 2, H(3)], [4, 1, H(4)]]
    assert.deepEqual(differingBuckets(local, remote), [2, 3, 4, 5])
    assert.deepEqual(differingBuckets(local, local), [])
    assert.deepEqual(differingBuckets([], []), [])
    assert.deepEqual(differingBuckets([], [[7, 0, H(0)]]), [])
  })

  it('splits the ids into those to fetch and those to push', () => {
    const k = (seq: number, gw: Uint8Array): { seq: number, gw: Uint8Array } => ({ seq, gw })
    const { missingHere, missingThere } = diffIds([k(1, gwA), k(2, gwA), k(2, gwB)], [k(1, gwA), k(2, gwB), k(3, gwB), k(2, gwA.slice())])
    assert.deepEqual(missingHere, [k(3, gwB)])
    assert.deepEqual(missingThere, [])
    const other = diffIds([k(5, gwA)], [k(5, gwB)])
    assert.deepEqual(other, { missingHere: [k(5, gwB)], missingThere: [k(5, gwA)] })
  })
})

describe('repair: bucket windows [PER-30]', () => {
  const current = Math.floor(NOW * 1000 / REPAIR_BUCKET)
  it('the last 48 buckets and the next always; then a slice of older ones walking back to the oldest held', () => {
    const first = repairWindows(NOW, current - 48 - 300, undefined, 48, 100)
    assert.deepEqual(first.windows, [[current - 47, current + 1], [current - 147, current - 48]])
    assert.equal(first.nextCursor, current - 148)
    const second = repairWindows(NOW, current - 48 - 300, first.nextCursor, 48, 100)
    assert.deepEqual(second.windows[1], [current - 247, current - 148])
    const third = repairWindows(NOW, current - 48 - 300, second.nextCursor, 48, 100)
    assert.deepEqual(third.windows[1], [current - 347, current - 248])
    const fourth = repairWindows(NOW, current - 48 - 300, third.nextCursor, 48, 100)
    assert.deepEqual(fourth.windows[1], [current - 348, current - 348])
    assert.equal(fourth.nextCursor, undefined, 'back to the recent edge once the oldest is reached')
  })
  it('nothing older than the recent window when nothing older is held', () => {
    const only = repairWindows(NOW, current - 3, undefined, 48, 100)
    assert.deepEqual(only.windows, [[current - 47, current + 1]])
    assert.equal(only.nextCursor, undefined)
  })
})

interface Replica {
  id: string
  peer: VerifiedPeer
  engine: StorageEngine & { readings: () => Array<{ seq: number }> }
  /** Its digests through a digest cache (digest-cache.ts, as the service has them), when given. */
  cache?: DigestCache
}

function replica (id: string): Replica {
  return { id, peer: { peerId: id, roles: ['persistence'], services: ['persistence'] } as unknown as VerifiedPeer, engine: createMemoryEngineForTests() }
}

/** A replica as the service builds it: every engine call through its digest cache. */
function cachedReplica (id: string): Replica {
  const raw = createMemoryEngineForTests()
  const cache = createDigestCache({ engine: raw, suite })
  return { id, peer: replica(id).peer, engine: Object.assign(cache.engine, { readings: raw.readings }), cache }
}

/** The store path without the certificate and sensor checks: appends by the envelopes' headers and the checkpoints' bodies. */
async function fakeStore (engine: StorageEngine, request: StoreRequest): Promise<StoreResponse> {
  const rows = request.envs.map(envelope => { const h = readEnvelopeHeader(envelope); return { sensor: h.sensor, gw: h.gw, seq: h.seq, envelope } })
  const result = rows.length === 0 ? { stored: 0, duplicates: 0 } : await engine.append(rows)
  const cps = await Promise.all(request.cps.map(async bytes => { const c = await openCheckpoint(suite, bytes); return { sensor: c.sensor, gw: c.gw, bucket: c.bucket, part: c.part, bytes } }))
  if (cps.length > 0) await engine.putCheckpoints(cps)
  return { ok: true, ...result, rejected: [] }
}

function network (replicas: Replica[]): { sendFrom: (from: Replica) => <R extends PersistenceRequest>(peerId: string, r: R) => Promise<ResponseOf[R['op']]>, requests: string[] } {
  const requests: string[] = []
  const verifier = new StoreVerifier({ trust: undefined as never, revocations: () => undefined, sensorExists: async () => true })
  const handlers = new Map(replicas.map(r => [r.id, { r, handler: createHandler({ suite, engine: r.engine, digests: r.cache?.digests, verifier, assertRoom: async () => {} }) }]))
  return {
    requests,
    sendFrom: from => async (peerId, request) => {
      requests.push(`${from.id}->${peerId}:${request.op}`)
      const to = handlers.get(peerId)
      if (to === undefined) throw new Error('unknown peer')
      if (request.op === 'store') return await fakeStore(to.r.engine, request) as never
      return await to.handler(request, from.peer, AbortSignal.timeout(5000)) as never
    }
  }
}

async function sealed (sensor: string, seqs: number[], key?: SigningKey): Promise<Array<{ sensor: string, gw: Uint8Array, seq: number, envelope: Uint8Array }>> {
  const reader = await generateIdentity(suite)
  const signer = key ?? await suite.importSigningKey(suite.randomBytes(32))
  const sealer = new EnvelopeSealer({ suite, signer })
  const out = []
  for (const seq of seqs) {
    const envelope = await sealer.seal({ sensor, ts: Math.floor(seq / 1000), seq }, utf8(`{"v":${seq}}`), [{ id: reader.pseudonym, publicKey: reader.encPub }])
    out.push({ sensor, gw: signer.publicKey, seq, envelope })
  }
  return out
}

function repairOf (self: Replica, set: Replica[], net: ReturnType<typeof network>, full = (): boolean => false, overlay: { findPeersByRole?: (role: string, key: string) => Promise<VerifiedPeer[]>, verifiedPeers?: () => VerifiedPeer[] } = {}): ReturnType<typeof createRepair> {
  return createRepair({
    overlay: {
      peerId: self.id,
      findPeersByRole: overlay.findPeersByRole ?? (async () => set.map(r => r.peer)),
      verifiedPeers: overlay.verifiedPeers ?? (() => set.filter(r => r !== self).map(r => r.peer)),
      addEventListener: () => {},
      removeEventListener: () => {}
    } as never,
    suite,
    engine: self.engine,
    digests: self.cache?.digests,
    send: net.sendFrom(self),
    storeLocal: async request => await fakeStore(self.engine, request),
    full,
    now: () => NOW
  })
}

describe('repair: a round between two replicas [PER-33] [PER-34]', () => {
  const seqAt = (msAgo: number, c = 0): number => (NOW - msAgo) * 1000 + c

  it('each ends with the union: fetched what it lacked, pushed what the other lacked, recent and older buckets', async () => {
    const a = replica('A')
    const b = replica('B')
    await a.engine.open(); await b.engine.open()
    const all = await sealed('s1', [seqAt(72 * HOUR_MS), seqAt(72 * HOUR_MS, 1), seqAt(2 * HOUR_MS), seqAt(HOUR_MS / 2), seqAt(1000), seqAt(500)])
    // A lacks the 3-day-old one and one recent; B lacks two recent ones
    await a.engine.append(all.filter((_, i) => i !== 1 && i !== 4))
    await b.engine.append(all.filter((_, i) => i !== 2 && i !== 5))
    const net = network([a, b])
    const repair = repairOf(a, [a, b], net)
    await repair.runRound()
    const seqsOf = (r: Replica): number[] => r.engine.readings().map(x => x.seq).sort((x, y) => x - y)
    assert.deepEqual(seqsOf(a), all.map(r => r.seq))
    assert.deepEqual(seqsOf(b), all.map(r => r.seq))
    const status = repair.status()
    assert.equal(status.pulled, 2)
    assert.equal(status.pushed, 2)
    assert.equal(status.errors, 0)
    // only differing buckets were asked for ids: 2 of A's recent and 1 older hour differ
    assert.equal(net.requests.filter(r => r === 'A->B:ids').length, 3)
    // both digests agree now
    const current = Math.floor(NOW * 1000 / REPAIR_BUCKET)
    assert.deepEqual(differingBuckets(await localDigest(suite, a.engine, 's1', current - 200, current + 1), await localDigest(suite, b.engine, 's1', current - 200, current + 1)), [])
    // a second round finds nothing to do
    net.requests.length = 0
    await repair.runRound()
    assert.deepEqual(net.requests.filter(r => r.endsWith(':ids') || r.endsWith(':fetch') || r.endsWith(':store')), [])
  })

  it('a sensor held only by the other replica is learned with `sensors` and fetched', async () => {
    const a = replica('A')
    const b = replica('B')
    const rows = await sealed('only-on-b', [seqAt(10_000), seqAt(20_000)])
    await b.engine.append(rows)
    const repair = repairOf(a, [a, b], network([a, b]))
    await repair.runRound()
    assert.equal(a.engine.readings().length, 2)
  })

  it('while its storage is full it pulls nothing but still pushes', async () => {
    const a = replica('A')
    const b = replica('B')
    await a.engine.append(await sealed('s1', [seqAt(1000)]))
    await b.engine.append(await sealed('s1', [seqAt(2000)]))
    const repair = repairOf(a, [a, b], network([a, b]), () => true)
    await repair.runRound()
    assert.equal(a.engine.readings().length, 1)
    assert.equal(b.engine.readings().length, 2)
  })

  it('a peer that fails is counted with its code; the round goes on', async () => {
    const a = replica('A')
    const b = replica('B')
    const gone = replica('C')
    await a.engine.append(await sealed('s1', [seqAt(1000)]))
    const net = network([a, b])
    const repair = repairOf(a, [a, gone, b], net)
    await repair.runRound()
    assert.equal(b.engine.readings().length, 1)
    const status = repair.status()
    assert.ok((status.errors as number) >= 1)
  })
})

describe('repair: with digest caches on both sides [PER-31]', () => {
  const seqAt = (msAgo: number, c = 0): number => (NOW - msAgo) * 1000 + c

  it('a write since the last round, and a replica wiped and restarted, are still found and repaired', async () => {
    const a = cachedReplica('A')
    let b = cachedReplica('B')
    const rows = await sealed('s1', [seqAt(30 * HOUR_MS), seqAt(2 * HOUR_MS), seqAt(1000)])
    await a.engine.append(rows)
    let net = network([a, b])
    const repair = (): ReturnType<typeof repairOf> => repairOf(a, [a, b], net)
    await repair().runRound()
    assert.equal(b.engine.readings().length, 3)
    // alike now; a quiet round is answered from both caches
    net.requests.length = 0
    const hits = (a.cache as DigestCache).status().hits
    await repair().runRound()
    assert.deepEqual(net.requests.filter(r => r.endsWith(':ids') || r.endsWith(':fetch') || r.endsWith(':store')), [])
    assert.ok((a.cache as DigestCache).status().hits > hits, 'A\'s own digests came from its cache')
    // B stores a reading in an hour both had cached: A pulls it
    await b.engine.append(await sealed('s1', [seqAt(2 * HOUR_MS, 5)]))
    await repair().runRound()
    assert.equal(a.engine.readings().length, 4)
    // B loses everything and restarts empty: A, its own digests cached and unchanged, still pushes all
    b = cachedReplica('B')
    net = network([a, b])
    await repair().runRound()
    assert.equal(b.engine.readings().length, 4)
  })
})

describe('repair: replica sets [PER-3] [PER-30]', () => {
  it('looks a sensor\'s set up once while the persistence peers stay the same, again when they change', async () => {
    const a = replica('A')
    const b = replica('B')
    const c = replica('C')
    await a.engine.append(await sealed('s1', [NOW * 1000 - 5000]))
    await a.engine.append(await sealed('s2', [NOW * 1000 - 6000]))
    const net = network([a, b, c])
    let verified = [b.peer]
    const lookups: string[] = []
    const repair = repairOf(a, [], net, undefined, {
      findPeersByRole: async (_role, key) => { lookups.push(key); return verified.length === 1 ? [a.peer, b.peer] : [a.peer, b.peer, c.peer] },
      verifiedPeers: () => verified
    })
    await repair.runRound()
    assert.deepEqual(lookups.sort(), ['/gm-sensor/s1', '/gm-sensor/s2'])
    await repair.runRound()
    await repair.runRound()
    assert.equal(lookups.length, 2, 'the same peers: no new look-up')
    assert.equal(b.engine.readings().length, 2, 'and the rounds still repaired')
    // C joins: each set is looked up again, and C gets what A holds
    verified = [b.peer, c.peer]
    await repair.runRound()
    assert.equal(lookups.length, 4)
    assert.equal(c.engine.readings().length, 2)
    await repair.runRound()
    assert.equal(lookups.length, 4)
  })

  it('does not keep an incomplete answer: the next round looks up again', async () => {
    const a = replica('A')
    const b = replica('B')
    await a.engine.append(await sealed('s1', [NOW * 1000 - 5000]))
    const net = network([a, b])
    let lookups = 0
    // B is verified, but the look-up found only this peer
    const repair = repairOf(a, [a, b], net, undefined, { findPeersByRole: async () => { lookups++; return [a.peer] } })
    await repair.runRound()
    await repair.runRound()
    assert.equal(lookups, 2)
  })
})

describe('repair: checkpoints are compared and repaired too [PER-2] [PER-31] [PER-32]', () => {
  const seqAt = (msAgo: number, c = 0): number => (NOW - msAgo) * 1000 + c
  /** A collector's chain over the readings' checkpoint buckets, one part-0 checkpoint per bucket. */
  async function chain (signer: SigningKey, sensor: string, seqs: number[]): Promise<Array<{ sensor: string, gw: Uint8Array, bucket: number, part: number, bytes: Uint8Array }>> {
    const buckets = [...new Set(seqs.map(checkpointBucket))].sort((a, b) => a - b)
    const out = []
    let prev: { bucket: number, part: number, h: Uint8Array } | null = null
    for (const bucket of buckets) {
      const bytes = await signCheckpoint(suite, signer, { sensor, gw: signer.publicKey, bucket, part: 0, prev, seqs: seqs.filter(s => checkpointBucket(s) === bucket) })
      prev = { bucket, part: 0, h: (await openCheckpoint(suite, bytes)).hash }
      out.push({ sensor, gw: signer.publicKey, bucket, part: 0, bytes })
    }
    return out
  }

  it('a bucket whose readings agree but whose checkpoints differ is a differing bucket', async () => {
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const a = replica('A')
    const b = replica('B')
    const seqs = [seqAt(5 * 60_000), seqAt(4 * 60_000), seqAt(3 * 60_000)]
    const rows = await sealed('s1', seqs, signer)
    const cps = await chain(signer, 's1', seqs)
    await a.engine.append(rows); await b.engine.append(rows)
    await a.engine.putCheckpoints(cps); await b.engine.putCheckpoints(cps.slice(0, 2))
    const current = Math.floor(NOW * 1000 / REPAIR_BUCKET)
    const mine = await localDigest(suite, a.engine, 's1', current - 2, current + 1)
    const theirs = await localDigest(suite, b.engine, 's1', current - 2, current + 1)
    assert.deepEqual(differingBuckets(mine, theirs), [Math.floor(seqs[2]! / REPAIR_BUCKET)])
    assert.equal(mine.reduce((n, [, count]) => n + count, 0), 6, 'the count is readings and checkpoints')
    const k = (bucket: number, part: number): { bucket: number, part: number, gw: Uint8Array } => ({ bucket, part, gw: signer.publicKey })
    assert.deepEqual(diffCheckpointIds([k(1, 0), k(2, 0), k(2, 1)], [k(1, 0), k(3, 0)]), { missingHere: [k(3, 0)], missingThere: [k(2, 0), k(2, 1)] })
  })

  it('a replica holding every reading of a bucket but one of its checkpoints gets it: pulled by it, pushed to it', async () => {
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    // readings 2 h, 30 min and 10 s ago (three repair buckets at most), one checkpoint each
    const seqs = [seqAt(2 * HOUR_MS), seqAt(HOUR_MS / 2), seqAt(10_000)]
    const rows = await sealed('s1', seqs, signer)
    const cps = await chain(signer, 's1', seqs)
    for (const direction of ['pull', 'push'] as const) {
      const full = replica('F')
      const lacking = replica('L')
      await full.engine.append(rows); await lacking.engine.append(rows)
      await full.engine.putCheckpoints(cps)
      // the one that lacks them holds the readings and only the chain's first checkpoint
      await lacking.engine.putCheckpoints(cps.slice(0, 1))
      const net = network([full, lacking])
      const repair = direction === 'pull' ? repairOf(lacking, [full, lacking], net) : repairOf(full, [full, lacking], net)
      await repair.runRound()
      const held = (await lacking.engine.checkpoints('s1', 0, Number.MAX_SAFE_INTEGER)).map(c => c.bucket).sort((x, y) => x - y)
      assert.deepEqual(held, cps.map(c => c.bucket), `${direction}: the lacking replica holds every checkpoint`)
      assert.equal(lacking.engine.readings().length, 3)
      const status = repair.status()
      assert.equal(status.errors, 0)
      assert.equal(direction === 'pull' ? status.checkpointsPulled : status.checkpointsPushed, 2, direction)
      assert.equal(direction === 'pull' ? status.pulled : status.pushed, 0, 'no reading moved: only checkpoints differed')
      // and a second round finds the two alike
      net.requests.length = 0
      await repair.runRound()
      assert.deepEqual(net.requests.filter(r => r.endsWith(':ids') || r.endsWith(':fetch') || r.endsWith(':store')), [])
    }
  })
})
