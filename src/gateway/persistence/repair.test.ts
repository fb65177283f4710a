// Repair ([PER-30]..[PER-34]): the digest and id diffs, the bucket windows, and rounds between two
// replicas on in-memory engines (the other replica's digest/ids/fetch/sensors answered by the real
// handlers; the store path faked: verification is the integration test's).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { EnvelopeSealer, generateIdentity, readEnvelopeHeader, utf8 } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import { REPAIR_BUCKET, createHandler } from './handlers.ts'
import { createRepair, differingBuckets, diffIds, localDigest, repairWindows, type BucketDigestTuple } from './repair.ts'
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

interface Replica { id: string, peer: VerifiedPeer, engine: StorageEngine & { readings: () => Array<{ seq: number }> } }

function replica (id: string): Replica {
  return { id, peer: { peerId: id, roles: ['persistence'], services: ['persistence'] } as unknown as VerifiedPeer, engine: createMemoryEngineForTests() }
}

/** The store path without verification: appends by the envelopes' headers. */
async function fakeStore (engine: StorageEngine, request: StoreRequest): Promise<StoreResponse> {
  const rows = request.envs.map(envelope => { const h = readEnvelopeHeader(envelope); return { sensor: h.sensor, gw: h.gw, seq: h.seq, envelope } })
  const result = rows.length === 0 ? { stored: 0, duplicates: 0 } : await engine.append(rows)
  return { ok: true, ...result, rejected: [] }
}

function network (replicas: Replica[]): { sendFrom: (from: Replica) => <R extends PersistenceRequest>(peerId: string, r: R) => Promise<ResponseOf[R['op']]>, requests: string[] } {
  const requests: string[] = []
  const verifier = new StoreVerifier({ trust: undefined as never, revocations: () => undefined, sensorExists: async () => true })
  const handlers = new Map(replicas.map(r => [r.id, { r, handler: createHandler({ suite, engine: r.engine, verifier, assertRoom: async () => {} }) }]))
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

async function sealed (sensor: string, seqs: number[]): Promise<Array<{ sensor: string, gw: Uint8Array, seq: number, envelope: Uint8Array }>> {
  const reader = await generateIdentity(suite)
  const signer = await suite.importSigningKey(suite.randomBytes(32))
  const sealer = new EnvelopeSealer({ suite, signer })
  const out = []
  for (const seq of seqs) {
    const envelope = await sealer.seal({ sensor, ts: Math.floor(seq / 1000), seq }, utf8(`{"v":${seq}}`), [{ id: reader.pseudonym, publicKey: reader.encPub }])
    out.push({ sensor, gw: signer.publicKey, seq, envelope })
  }
  return out
}

function repairOf (self: Replica, set: Replica[], net: ReturnType<typeof network>, full = (): boolean => false): ReturnType<typeof createRepair> {
  return createRepair({
    overlay: {
      peerId: self.id,
      findPeersByRole: async () => set.map(r => r.peer),
      verifiedPeers: () => set.filter(r => r !== self).map(r => r.peer),
      addEventListener: () => {},
      removeEventListener: () => {}
    } as never,
    suite,
    engine: self.engine,
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
