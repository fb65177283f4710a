// The replica's `range` answers ([PER-2]) for a collector's chain whose late parts sit between
// part 0s ([PER-10], [PER-11]: a restart, sealing lag): every page of a range that starts or
// ends in the middle of the chain must carry the links a reader's [PER-12] check needs, in both
// orders and at every page size. The replica runs on the in-memory engine; the pages are
// checked with the core's verifyHistoryPage, as a client does.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  EnvelopeSealer, checkpointBucket, generateIdentity, openCheckpoint, readEnvelopeHeader, signCheckpoint, utf8, verifyHistoryPage, webCryptoSuite
} from '../../core/index.ts'
import type { CheckpointLink, HistoryKey } from '../../core/index.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import { createHandler } from './handlers.ts'
import type { RangeResponse } from './protocol.ts'
import type { StoreVerifier } from './verify.ts'

const suite = webCryptoSuite
const SENSOR = 'range-chain'
const ACCESS = { peerId: 'reader', roles: ['access'], services: ['access'] } as unknown as VerifiedPeer

describe('range: the chain links of a page inside a collector\'s chain [PER-2] [PER-12]', () => {
  it('pages starting or ending between late parts verify, in both orders, pages of one and three', async () => {
    const engine = createMemoryEngineForTests()
    const handler = createHandler({ suite, engine, verifier: {} as StoreVerifier, assertRoom: async () => {} })
    const signer = await suite.importSigningKey(suite.randomBytes(32))
    const gw = signer.publicKey
    const reader = await generateIdentity(suite)
    const t0 = 1_800_000_000_000 - (1_800_000_000_000 % 60_000)
    const b0 = checkpointBucket(t0 * 1000)
    const seqs: number[] = []
    for (let b = 0; b < 5; b++) for (let k = 1; k <= (b === 2 ? 4 : 3); k++) seqs.push((t0 + b * 60_000 + k * 10_000) * 1000)
    const envelopes = await Promise.all(seqs.map(async seq => await new EnvelopeSealer({ suite, signer }).seal({ sensor: SENSOR, ts: seq / 1000, seq }, utf8('{}'), [{ id: reader.pseudonym, publicKey: reader.encPub }])))
    await engine.append(envelopes.map((envelope, i) => ({ sensor: SENSOR, gw, seq: seqs[i] as number, envelope })))
    const inBucket = (b: number): number[] => seqs.filter(s => checkpointBucket(s) === b0 + b)
    // p0(b0) → p0(b1) → p1(b1) late → p0(b2) → p0(b3) → p1(b2) late → p0(b4)
    const plan = [
      { bucket: b0, part: 0, seqs: inBucket(0) },
      { bucket: b0 + 1, part: 0, seqs: inBucket(1).slice(0, 2) },
      { bucket: b0 + 1, part: 1, seqs: inBucket(1).slice(2) },
      { bucket: b0 + 2, part: 0, seqs: inBucket(2).slice(0, 3) },
      { bucket: b0 + 3, part: 0, seqs: inBucket(3) },
      { bucket: b0 + 2, part: 1, seqs: inBucket(2).slice(3) },
      { bucket: b0 + 4, part: 0, seqs: inBucket(4) }
    ]
    let prev: CheckpointLink | null = null
    for (const step of plan) {
      const bytes = await signCheckpoint(suite, signer, { sensor: SENSOR, gw, ...step, prev })
      await engine.putCheckpoints([{ sensor: SENSOR, gw, bucket: step.bucket, part: step.part, bytes }])
      prev = { bucket: step.bucket, part: step.part, h: (await openCheckpoint(suite, bytes)).hash }
    }

    // ranges [seqs[i], seqs[j]) strictly inside the chain: starting in the middle of bucket 0, 1,
    // at bucket 1's late reading, in bucket 2, at bucket 2's late reading; ending in bucket 2, 3, 4
    for (const i of [1, 4, 5, 7, 9]) {
      for (const j of [8, 11, 12, 14].filter(j => j > i)) {
        const fromSeq = seqs[i] as number
        const toSeq = seqs[j] as number
        for (const order of ['asc', 'desc'] as const) {
          for (const limit of [1, 3]) {
            const what = `[${i}, ${j}) ${order} pages of ${limit}`
            const got: number[] = []
            let lo: HistoryKey | undefined
            for (let pages = 0; pages < 20; pages++) {
              const page = await handler({ op: 'range', sensor: SENSOR, fromSeq, toSeq, order, limit, ...(lo === undefined ? {} : { after: [lo.seq, lo.gw] }) }, ACCESS, AbortSignal.timeout(10_000)) as RangeResponse
              const last = page.envs.at(-1)
              const hi = page.more && last !== undefined ? (({ seq, gw }) => ({ seq, gw }))(readEnvelopeHeader(last)) : undefined
              const verdict = await verifyHistoryPage(suite, { sensor: SENSOR, fromSeq, toSeq, order, ...(lo === undefined ? {} : { lo }), ...(hi === undefined ? {} : { hi }), envelopes: page.envs, checkpoints: page.cps })
                .catch((err: Error) => { throw new Error(`${what}, page ${pages}: ${err.message}`) })
              got.push(...verdict.envelopes.map(e => e.seq))
              if (hi === undefined) break
              lo = hi
            }
            const expected = seqs.filter(s => s >= fromSeq && s < toSeq)
            assert.deepEqual(got, order === 'asc' ? expected : expected.reverse(), what)
          }
        }
      }
    }
  })
})
