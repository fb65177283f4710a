/**
 * The replica's `range` answers against the reader's rules ([PER-2], [PER-12]): real checkpoint
 * chains (signCheckpoint) and sealed envelopes in the in-memory test engine, every answer paged
 * the way the client pages it and passed to verifyHistoryPage.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  CHECKPOINT_BUCKET, EnvelopeSealer, compareHistoryKeys, generateIdentity, openCheckpoint, readEnvelopeHeader, signCheckpoint, toHex, utf8, verifyHistoryPage
} from '../../core/index.ts'
import type { CheckpointLink, CryptoSuite, HistoryKey, SigningKey } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import { createHandler } from './handlers.ts'
import { gwPeerId, type StoreVerifier } from './verify.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import type { StorageEngine, StoredReading } from './engine/types.ts'
import type { FetchResponse, RangeResponse, StoreResponse } from './protocol.ts'

const suite: CryptoSuite = createNodeCryptoSuite()
const SENSOR = 'greenhouse-7'
/** The first bucket of late 2025. */
const B0 = 29_400_000
const at = (bucket: number, offset: number): number => (B0 + bucket) * CHECKPOINT_BUCKET + offset
const reader = await generateIdentity(suite)
const recipients = [{ id: reader.pseudonym, publicKey: reader.encPub }]
const accessPeer = { peerId: 'reader', services: ['access'] } as unknown as VerifiedPeer

interface Gateway { key: SigningKey, sealer: EnvelopeSealer, head: CheckpointLink | null }

async function gateway (): Promise<Gateway> {
  const key = await suite.importSigningKey(suite.randomBytes(32))
  return { key, sealer: new EnvelopeSealer({ suite, signer: key }), head: null }
}

/** A world of one sensor: what the collectors sealed and signed, all stored in one engine. */
class World {
  readonly engine: StorageEngine & { readings: () => StoredReading[] } = createMemoryEngineForTests()

  /** Seals readings at these seqs and stores them. */
  async seal (gw: Gateway, seqs: readonly number[], plaintextBytes = 16): Promise<void> {
    const outcomes = await gw.sealer.sealBatch(seqs.map(seq => ({ header: { sensor: SENSOR, ts: Math.floor(seq / 1000), seq }, plaintext: utf8(`reading ${seq}`.padEnd(plaintextBytes, '.')), recipients })))
    await this.engine.append(outcomes.map((outcome, i) => {
      if (!('envelope' in outcome)) throw new Error('not sealed')
      return { sensor: SENSOR, gw: gw.key.publicKey, seq: seqs[i] as number, envelope: outcome.envelope }
    }))
  }

  /** Seals readings at `offsets` of `bucket` and signs the next checkpoint of gw's chain naming them (stored). */
  async bucket (gw: Gateway, bucket: number, part: number, offsets: readonly number[], plaintextBytes?: number): Promise<void> {
    const seqs = offsets.map(o => at(bucket, o))
    await this.seal(gw, seqs, plaintextBytes)
    const bytes = await signCheckpoint(suite, gw.key, { sensor: SENSOR, gw: gw.key.publicKey, bucket: B0 + bucket, part, prev: gw.head, seqs })
    const opened = await openCheckpoint(suite, bytes)
    gw.head = { bucket: opened.bucket, part: opened.part, h: opened.hash }
    await this.engine.putCheckpoints([{ sensor: SENSOR, gw: gw.key.publicKey, bucket: opened.bucket, part, bytes }])
  }

  /** Every key held in [fromSeq, toSeq), in key order. */
  keys (fromSeq: number, toSeq: number): HistoryKey[] {
    return this.engine.readings().filter(r => r.seq >= fromSeq && r.seq < toSeq).map(r => ({ seq: r.seq, gw: r.gw })).sort(compareHistoryKeys)
  }
}

const handlerOf = (engine: StorageEngine): ReturnType<typeof createHandler> => createHandler({
  suite, engine, verifier: {} as unknown as StoreVerifier, assertRoom: async () => {}
})

const keyName = (k: HistoryKey): string => `${k.seq}:${toHex(k.gw)}`

/**
 * Reads [fromSeq, toSeq) page by page from the handler as the client does ([PER-53]: its own lo
 * and hi) and verifies every page; returns the keys read and the open ends of the last page.
 */
async function readAll (world: World, fromSeq: number, toSeq: number, order: 'asc' | 'desc', limit: number): Promise<{ keys: string[], pages: number, lastOpenEnds: string[] }> {
  const handler = handlerOf(world.engine)
  const keys: string[] = []
  let lo: HistoryKey | undefined
  let pages = 0
  for (;;) {
    const answer = await handler({ op: 'range', sensor: SENSOR, fromSeq, toSeq, order, limit, ...(lo === undefined ? {} : { after: [lo.seq, lo.gw] }) }, accessPeer, new AbortController().signal) as RangeResponse
    pages++
    // [PER-53] hi: the key of this page's last reading when more follow
    let hi: HistoryKey | undefined
    if (answer.more) {
      const last = answer.envs.at(-1)
      assert.ok(last !== undefined, 'a page with more to follow has readings')
      const header = readEnvelopeHeader(last)
      hi = { seq: header.seq, gw: header.gw }
    }
    const verdict = await verifyHistoryPage(suite, { sensor: SENSOR, fromSeq, toSeq, order, lo, hi, envelopes: answer.envs, checkpoints: answer.cps })
    keys.push(...verdict.envelopes.map(e => keyName(e)))
    if (!answer.more) return { keys, pages, lastOpenEnds: verdict.openEnds.map(toHex) }
    lo = hi
    if (pages > 10_000) throw new Error('no end')
  }
}

/** Every range of whole and half buckets between `lo` and `hi`, in both orders and several page sizes: each read verifies and holds every reading. */
async function everyPageVerifies (world: World, lo: number, hi: number, limits: readonly number[] = [1, 1000]): Promise<number> {
  let checked = 0
  const bounds: number[] = []
  for (let b = lo; b <= hi; b++) bounds.push(at(b, 0), at(b, CHECKPOINT_BUCKET / 2))
  for (const fromSeq of bounds) {
    for (const toSeq of bounds) {
      if (toSeq <= fromSeq) continue
      const expected = world.keys(fromSeq, toSeq).map(keyName)
      for (const order of ['asc', 'desc'] as const) {
        for (const limit of limits) {
          const got = await readAll(world, fromSeq, toSeq, order, limit).catch((err: Error) => {
            throw new Error(`range [${fromSeq - at(0, 0)}, ${toSeq - at(0, 0)}) ${order} limit ${limit}: ${err.message}`, { cause: err })
          })
          assert.deepEqual(got.keys, order === 'asc' ? expected : [...expected].reverse(), `range ${fromSeq}..${toSeq} ${order} limit ${limit}`)
          checked++
        }
      }
    }
  }
  return checked
}

const OFFSETS = [1_000, 20_000_000, 40_000_000]
const LATE = [10_000_000, 50_000_000]

describe('range answers verify ([PER-2], [PER-12])', () => {
  it('late parts of old buckets signed after newer buckets: (0,0) → (1,0) → (2,0) → (0,1) → (3,0)', async () => {
    const world = new World()
    const a = await gateway()
    await world.bucket(a, 0, 0, OFFSETS)
    await world.bucket(a, 1, 0, OFFSETS)
    await world.bucket(a, 2, 0, OFFSETS)
    await world.bucket(a, 0, 1, LATE)
    await world.bucket(a, 3, 0, OFFSETS)
    await world.bucket(a, 4, 0, OFFSETS)
    assert.ok(await everyPageVerifies(world, 0, 4) > 100)
  })

  it('two collectors for one sensor, each with late parts in its own place', async () => {
    const world = new World()
    const a = await gateway()
    const b = await gateway()
    await world.bucket(a, 0, 0, OFFSETS)
    await world.bucket(b, 0, 0, [5_000, 30_000_000])
    await world.bucket(a, 1, 0, OFFSETS)
    await world.bucket(a, 2, 0, OFFSETS)
    await world.bucket(b, 2, 0, [5_000, 30_000_000])
    await world.bucket(b, 1, 1, [7_000])
    await world.bucket(a, 1, 1, LATE)
    await world.bucket(b, 3, 0, [5_000])
    await world.bucket(a, 3, 0, OFFSETS)
    await world.bucket(a, 0, 1, [1_000_000])
    await everyPageVerifies(world, 0, 3)
  })

  it('gaps of many empty buckets, longer than a day, between checkpoints (late parts across them)', async () => {
    const world = new World()
    const a = await gateway()
    await world.bucket(a, 0, 0, OFFSETS)
    await world.bucket(a, 1, 0, OFFSETS)
    await world.bucket(a, 3000, 0, OFFSETS) // two days later
    await world.bucket(a, 1, 1, LATE) // a late part of bucket 1 signed after the gap
    await world.bucket(a, 3001, 0, OFFSETS)
    await world.bucket(a, 0, 2, [2_000]) // and of bucket 0 later still
    await everyPageVerifies(world, 0, 2, [1, 1000])
    await everyPageVerifies(world, 2999, 3001, [1, 1000])
    // one range over the whole gap
    const all = await readAll(world, at(0, 0), at(3002, 0), 'asc', 4)
    assert.deepEqual(all.keys, world.keys(at(0, 0), at(3002, 0)).map(keyName))
    const desc = await readAll(world, at(0, 0), at(3002, 0), 'desc', 5)
    assert.deepEqual(desc.keys, world.keys(at(0, 0), at(3002, 0)).map(keyName).reverse())
  })

  it('a chain whose head is inside the page is an open end; one closed by a part 0 after the page is not', async () => {
    const world = new World()
    const a = await gateway()
    await world.bucket(a, 0, 0, OFFSETS)
    await world.bucket(a, 1, 0, OFFSETS)
    await world.bucket(a, 2, 0, OFFSETS)
    await world.seal(a, [at(3, 5_000)]) // sealed, not yet checkpointed
    const open = await readAll(world, at(0, 0), at(4, 0), 'asc', 1000)
    assert.deepEqual(open.lastOpenEnds, [toHex(a.key.publicKey)])
    assert.equal(open.keys.length, 10)
    const closed = await readAll(world, at(0, 0), at(2, 0), 'asc', 1000)
    assert.deepEqual(closed.lastOpenEnds, [])
    await everyPageVerifies(world, 0, 3, [1, 1000])
  })

  it('after retention deleted the start of a chain (and a late part it links through), later pages still verify', async () => {
    const world = new World()
    const a = await gateway()
    await world.bucket(a, 0, 0, OFFSETS)
    await world.bucket(a, 1, 0, OFFSETS)
    await world.bucket(a, 2, 0, OFFSETS)
    await world.bucket(a, 0, 1, LATE)
    await world.bucket(a, 3, 0, OFFSETS)
    await world.bucket(a, 4, 0, OFFSETS)
    await world.engine.deleteBefore(SENSOR, at(1, 0))
    await everyPageVerifies(world, 1, 4, [2, 1000])
  })

  it('a page cut short by the frame limit (more) verifies with its own hi, and the next page carries on', async () => {
    const world = new World()
    const a = await gateway()
    // 60 KiB readings: about 70 fill the half frame the handler allows its envelopes
    for (let bucket = 0; bucket < 4; bucket++) {
      await world.bucket(a, bucket, 0, Array.from({ length: 30 }, (_, i) => 1_000 + i * 1_000_000), 60 * 1024)
    }
    const handler = handlerOf(world.engine)
    const first = await handler({ op: 'range', sensor: SENSOR, fromSeq: at(0, 0), toSeq: at(4, 0), order: 'asc', limit: 1000 }, accessPeer, new AbortController().signal) as RangeResponse
    assert.ok(first.more && first.envs.length < 120, `cut short: ${first.envs.length} readings, more ${String(first.more)}`)
    for (const order of ['asc', 'desc'] as const) {
      const got = await readAll(world, at(0, 0), at(4, 0), order, 1000)
      assert.ok(got.pages >= 2)
      const expected = world.keys(at(0, 0), at(4, 0)).map(keyName)
      assert.deepEqual(got.keys, order === 'asc' ? expected : expected.reverse())
    }
  })
})

describe('certificates in answers ([PER-2], [PER-20])', () => {
  it('fetch reads the checkpoints of the ids\' buckets only, not of the span between them [PER-2]', async () => {
    const world = new World()
    const a = await gateway()
    for (let b = 0; b <= 200; b++) await world.bucket(a, b, 0, [1_000])
    let loaded = 0
    const engine: StorageEngine = {
      ...world.engine,
      checkpoints: async (sensor, from, to) => {
        const rows = await world.engine.checkpoints(sensor, from, to)
        loaded += rows.length
        return rows
      }
    }
    // two ids 200 buckets apart, and three adjacent ones
    const ids: Array<[number, Uint8Array]> = [0, 100, 101, 102, 200].map(b => [at(b, 1_000), a.key.publicKey])
    const answer = await handlerOf(engine)({ op: 'fetch', sensor: SENSOR, ids }, accessPeer, new AbortController().signal) as FetchResponse
    assert.equal(answer.envs.length, 5)
    assert.deepEqual((await Promise.all(answer.cps.map(async c => await openCheckpoint(suite, c)))).map(c => c.bucket - B0), [0, 100, 101, 102, 200])
    assert.equal(loaded, 5)
  })

  it('a renewed collector: both certificates it pushed are kept and given with range and fetch', async () => {
    const world = new World()
    const a = await gateway()
    // two certificates of gw, as opaque DER: the handler finds the key they certify by its SubjectPublicKeyInfo; the fake verifier says when each became valid
    const spki = (serial: number): Uint8Array => Uint8Array.from([0x30, 0x01, serial, 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, ...a.key.publicKey])
    const first = spki(0xaa)
    const renewed = spki(0xbb)
    const notBefore = new Map([[toHex(first), 1_000], [toHex(renewed), 2_000]])
    const verifier = {
      checkCollector: async (_gw: Uint8Array, der: Uint8Array | undefined) => {
        const t = der === undefined ? undefined : notBefore.get(toHex(der))
        if (t === undefined) throw new Error('unknown certificate')
        return { notBefore: new Date(t), notAfter: new Date(t + 1_000) }
      },
      checkSensor: async () => {}
    } as unknown as StoreVerifier
    const handler = createHandler({ suite, engine: world.engine, verifier, assertRoom: async () => {} })
    const pusher = { peerId: gwPeerId(a.key.publicKey), services: ['collector'] } as unknown as VerifiedPeer
    const signal = new AbortController().signal
    // the collector pushes a reading with its first certificate, renews, and pushes the next with the new one
    const sealed = new World()
    for (const [i, der] of [first, renewed].entries()) {
      await sealed.seal(a, [at(i, 1_000)])
      const envs = sealed.engine.readings().filter(r => r.seq === at(i, 1_000)).map(r => r.envelope)
      const stored = await handler({ op: 'store', certs: [der], envs, cps: [] }, pusher, signal) as StoreResponse
      assert.deepEqual([stored.stored, stored.rejected], [1, []])
    }
    const range = await handler({ op: 'range', sensor: SENSOR, fromSeq: at(0, 0), toSeq: at(2, 0), order: 'asc', limit: 10 }, accessPeer, signal) as RangeResponse
    assert.equal(range.envs.length, 2)
    assert.deepEqual(range.certs.map(c => toHex(c)), [toHex(renewed), toHex(first)])
    const fetched = await handler({ op: 'fetch', sensor: SENSOR, ids: [[at(0, 1_000), a.key.publicKey]] }, accessPeer, signal) as FetchResponse
    assert.deepEqual(fetched.certs.map(toHex), [toHex(renewed), toHex(first)])
  })
})
