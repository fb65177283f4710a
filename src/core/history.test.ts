import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { verifyHistoryPage, compareHistoryKeys, type HistoryKey, type HistoryPageInput } from './history.ts'
import { CHECKPOINT_BUCKET, signCheckpoint, openCheckpoint, type CheckpointLink } from './checkpoint.ts'
import { EnvelopeSealer, readEnvelopeHeader } from './envelope.ts'
import { generateIdentity } from './identity.ts'
import { toHex, utf8 } from './bytes.ts'
import { isGatemeshError, type ErrorCode } from './errors.ts'
import type { CryptoSuite, SigningKey } from './suite.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'

const suite: CryptoSuite = createNodeCryptoSuite()
const SENSOR = 'greenhouse-7'
/** The first seq of a bucket of late 2025. */
const B0 = 29_400_000
const at = (bucket: number, offset: number): number => (B0 + bucket) * CHECKPOINT_BUCKET + offset

interface Gateway { key: SigningKey, sealer: EnvelopeSealer, head: CheckpointLink | null }
interface Reading { key: HistoryKey, bytes: Uint8Array }

const reader = await generateIdentity(suite)
const recipients = [{ id: reader.pseudonym, publicKey: reader.encPub }]

async function gateway (): Promise<Gateway> {
  const key = await suite.importSigningKey(suite.randomBytes(32))
  return { key, sealer: new EnvelopeSealer({ suite, signer: key }), head: null }
}

/** Seals readings at these seqs (batch-signed when several, [ENV-9]). */
async function seal (gw: Gateway, seqs: readonly number[], sensor = SENSOR): Promise<Reading[]> {
  const outcomes = await gw.sealer.sealBatch(seqs.map(seq => ({ header: { sensor, ts: Math.floor(seq / 1000), seq }, plaintext: utf8(`reading ${seq}`), recipients })))
  return outcomes.map((outcome, i) => {
    if (!('envelope' in outcome)) throw new Error('not sealed')
    return { key: { seq: seqs[i] as number, gw: gw.key.publicKey }, bytes: outcome.envelope }
  })
}

/** Signs the next checkpoint of the gateway's chain. */
async function checkpoint (gw: Gateway, bucket: number, part: number, seqs: readonly number[], sensor = SENSOR): Promise<Uint8Array> {
  const bytes = await signCheckpoint(suite, gw.key, { sensor, gw: gw.key.publicKey, bucket: B0 + bucket, part, prev: gw.head, seqs: [...seqs] })
  const opened = await openCheckpoint(suite, bytes)
  gw.head = { bucket: opened.bucket, part: opened.part, h: opened.hash }
  return bytes
}

function sorted (readings: readonly Reading[], order: 'asc' | 'desc' = 'asc'): Reading[] {
  const out = [...readings].sort((a, b) => compareHistoryKeys(a.key, b.key))
  return order === 'asc' ? out : out.reverse()
}

async function rejects (page: HistoryPageInput, code: ErrorCode, detail: RegExp): Promise<void> {
  await rejectsWith(suite, page, code, detail)
}

async function rejectsWith (verifier: CryptoSuite, page: HistoryPageInput, code: ErrorCode, detail: RegExp): Promise<void> {
  try {
    await verifyHistoryPage(verifier, page)
  } catch (err) {
    assert.ok(isGatemeshError(err), `not a gatemesh error: ${String(err)}`)
    assert.equal(err.code, code, err.message)
    assert.match(err.message, detail)
    return
  }
  assert.fail(`the page was accepted; expected ${code} ${String(detail)}`)
}

/**
 * Two collectors, A and B, each sealing readings of buckets 0 to 4 and checkpointing each bucket
 * (part 0). The range asked is buckets 1 to 3; the replica gives the checkpoints of buckets 0 to
 * 4 (the links before and after the page).
 */
async function world (): Promise<{ a: Gateway, b: Gateway, readings: Reading[], everything: Reading[], cps: Uint8Array[], page: HistoryPageInput }> {
  const a = await gateway()
  const b = await gateway()
  const readings: Reading[] = []
  const everything: Reading[] = []
  const cps: Uint8Array[] = []
  for (let bucket = 0; bucket <= 4; bucket++) {
    const seqsA = [at(bucket, 1_000), at(bucket, 20_000_000), at(bucket, 40_000_000)]
    const seqsB = [at(bucket, 1_000), at(bucket, 30_000_000)]
    const sealedA = await seal(a, seqsA)
    const sealedB = await seal(b, seqsB)
    if (bucket >= 1 && bucket <= 3) readings.push(...sealedA, ...sealedB)
    everything.push(...sealedA, ...sealedB)
    cps.push(await checkpoint(a, bucket, 0, seqsA), await checkpoint(b, bucket, 0, seqsB))
  }
  const page: HistoryPageInput = { sensor: SENSOR, fromSeq: at(1, 0), toSeq: at(4, 0), order: 'asc', envelopes: sorted(readings).map(r => r.bytes), checkpoints: cps }
  return { a, b, readings, everything, cps, page }
}

describe('history page verification ([PER-12])', () => {
  it('accepts an honest page, in either order, and gives its envelopes verified in order', async () => {
    const { readings, page } = await world()
    const verdict = await verifyHistoryPage(suite, page)
    assert.deepEqual(verdict.envelopes.map(e => e.seq), sorted(readings).map(r => r.key.seq))
    assert.deepEqual(verdict.openEnds, [])
    assert.equal(verdict.checkpoints.length, 10)
    const desc = await verifyHistoryPage(suite, { ...page, order: 'desc', envelopes: sorted(readings, 'desc').map(r => r.bytes), checkpoints: [...page.checkpoints].reverse() })
    assert.deepEqual(desc.envelopes.map(e => e.seq), sorted(readings, 'desc').map(r => r.key.seq))
    // the same checkpoint given twice counts once
    assert.equal((await verifyHistoryPage(suite, { ...page, checkpoints: [...page.checkpoints, ...page.checkpoints] })).checkpoints.length, 10)
  })

  it('accepts an honest page split in pages (lo, hi) in both orders', async () => {
    const { readings, page } = await world()
    for (const order of ['asc', 'desc'] as const) {
      const all = sorted(readings, order)
      let lo: HistoryKey | null = null
      const seen: number[] = []
      for (let start = 0; start < all.length; start += 4) {
        const slice = all.slice(start, start + 4)
        const hi = start + 4 < all.length ? (slice[slice.length - 1] as Reading).key : null
        const verdict = await verifyHistoryPage(suite, { ...page, order, lo, hi, envelopes: slice.map(r => r.bytes) })
        seen.push(...verdict.envelopes.map(e => e.seq))
        lo = hi
      }
      assert.deepEqual(seen, all.map(r => r.key.seq), order)
    }
  })

  it('catches a reading dropped from the middle (GM_ERR_HISTORY_INCOMPLETE naming gw and seq)', async () => {
    const { readings, page } = await world()
    const all = sorted(readings)
    const dropped = all[5] as Reading
    await rejects({ ...page, envelopes: all.filter(r => r !== dropped).map(r => r.bytes) }, 'GM_ERR_HISTORY_INCOMPLETE',
      new RegExp(`gw ${toHex(dropped.key.gw.subarray(0, 8))}: seq ${dropped.key.seq}, .* missing from the page`))
  })

  it('catches the last reading of a page dropped: the final page, and a page with more to follow', async () => {
    const { readings, page } = await world()
    const all = sorted(readings)
    const last = all[all.length - 1] as Reading
    await rejects({ ...page, envelopes: all.slice(0, -1).map(r => r.bytes) }, 'GM_ERR_HISTORY_INCOMPLETE', new RegExp(`seq ${last.key.seq}, .*missing`))
    // a page of 5 with more to follow: the replica names the 5th as its last but leaves it out
    const fifth = all[4] as Reading
    await rejects({ ...page, hi: fifth.key, envelopes: all.slice(0, 4).map(r => r.bytes) }, 'GM_ERR_HISTORY_INCOMPLETE', new RegExp(`last reading \\(seq ${fifth.key.seq}, .*missing`))
    // a desc page's last reading is the oldest
    const desc = sorted(readings, 'desc')
    await rejects({ ...page, order: 'desc', envelopes: desc.slice(0, -1).map(r => r.bytes) }, 'GM_ERR_HISTORY_INCOMPLETE', new RegExp(`seq ${(desc[desc.length - 1] as Reading).key.seq}, .*missing`))
  })

  it('catches a reading whose bytes were altered (GM_ERR_HISTORY_TAMPERED naming the envelope)', async () => {
    const { readings, page } = await world()
    const envelopes = sorted(readings).map(r => Uint8Array.from(r.bytes))
    // a byte inside the ciphertext: the batch signature no longer covers the body
    const target = envelopes[3] as Uint8Array
    target[target.length - 200] = (target[target.length - 200] as number) ^ 0x01
    await rejects({ ...page, envelopes }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 3: bad signature/)
    // bytes that no longer decode
    await rejects({ ...page, envelopes: [utf8('junk'), ...envelopes.slice(1)] }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 0: malformed/)
  })

  it('catches two readings swapped', async () => {
    const { readings, page } = await world()
    const all = sorted(readings).map(r => r.bytes)
    ;[all[2], all[3]] = [all[3] as Uint8Array, all[2] as Uint8Array]
    await rejects({ ...page, envelopes: all }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 3: out of order/)
    // an asc page given to a desc reader
    await rejects({ ...page, order: 'desc' }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 1: out of order/)
  })

  it('catches an envelope of another sensor injected, by a collector of the page', async () => {
    const { a, readings, page } = await world()
    const [other] = await seal(a, [at(2, 5)], 'another-sensor')
    const all = sorted(readings).map(r => r.bytes)
    all.splice(3, 0, (other as Reading).bytes)
    await rejects({ ...page, envelopes: all }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 3: of another sensor/)
  })

  it('catches a duplicate', async () => {
    const { readings, page } = await world()
    const all = sorted(readings).map(r => r.bytes)
    all.splice(4, 0, all[3] as Uint8Array)
    await rejects({ ...page, envelopes: all }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 4: a duplicate/)
    // the same reading sealed again (a replay after a restart: same key, other bytes) is a duplicate too
    const { a } = await world()
    const twice = await seal(a, [at(2, 7), at(2, 7)])
    await rejects({ ...page, checkpoints: [], envelopes: twice.map(r => r.bytes) }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 1: a duplicate/)
  })

  it('catches an out-of-range envelope: outside the range asked, and outside the page', async () => {
    const { a, readings, page } = await world()
    const all = sorted(readings)
    const [late] = await seal(a, [at(4, 0)])
    await rejects({ ...page, envelopes: [...all.map(r => r.bytes), (late as Reading).bytes] }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 15: out of range: .* outside \[/)
    const [early] = await seal(a, [at(1, 0) - 1])
    await rejects({ ...page, envelopes: [(early as Reading).bytes, ...all.map(r => r.bytes)] }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 0: out of range/)
    // the second page repeats the first page's last reading (lo is exclusive)
    await rejects({ ...page, lo: (all[4] as Reading).key, envelopes: all.slice(4).map(r => r.bytes) }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 0: out of range: .* outside the page's bounds/)
    // past hi
    await rejects({ ...page, hi: (all[4] as Reading).key, envelopes: all.slice(0, 6).map(r => r.bytes) }, 'GM_ERR_HISTORY_TAMPERED', /Envelope 5: out of range: .* outside the page's bounds/)
  })

  it('catches a checkpoint withheld from the middle of a chain, and one withheld before the page', async () => {
    const { a, cps, page } = await world()
    // cps alternate A, B per bucket: index 4 is A's bucket 2
    const opened = await openCheckpoint(suite, cps[4] as Uint8Array)
    assert.equal(toHex(opened.gw), toHex(a.key.publicKey))
    await rejects({ ...page, checkpoints: cps.filter((_, i) => i !== 4) }, 'GM_ERR_HISTORY_INCOMPLETE',
      new RegExp(`gw ${toHex(a.key.publicKey.subarray(0, 8))}: the checkpoints given are 2 runs of its chain, not one \\(a checkpoint withheld before bucket ${B0 + 3} part 0\\)`))
    // the run starting inside the page: A's checkpoints of buckets 0 and 1 withheld
    await rejects({ ...page, checkpoints: cps.filter((_, i) => i !== 0 && i !== 2) }, 'GM_ERR_HISTORY_INCOMPLETE', /the run starts at bucket \d+ part 0, whose prev .* is not a part 0 before the page/)
  })

  it('catches a checkpoint altered, and one of another sensor', async () => {
    const { a, cps, page } = await world()
    const altered = cps.map(c => Uint8Array.from(c))
    const target = altered[6] as Uint8Array
    target[20] = (target[20] as number) ^ 0x01
    await rejects({ ...page, checkpoints: altered }, 'GM_ERR_HISTORY_TAMPERED', /Checkpoint 6: (bad signature|malformed)/)
    const foreign = await checkpoint(a, 5, 0, [at(5, 1)], 'another-sensor')
    await rejects({ ...page, checkpoints: [...cps, foreign] }, 'GM_ERR_HISTORY_TAMPERED', /Checkpoint 10: of another sensor/)
  })

  it('reports an open end when a chain does not reach past the page, and accepts readings newer than every checkpoint', async () => {
    const { a, b, readings, everything, cps, page } = await world()
    // the replica gives no checkpoint after bucket 2 for A (its chain's head, or withheld: unproven)
    const withoutLast = cps.filter((_, i) => i !== 6 && i !== 8)
    const verdict = await verifyHistoryPage(suite, { ...page, checkpoints: withoutLast })
    assert.deepEqual(verdict.openEnds.map(toHex), [toHex(a.key.publicKey)])
    assert.equal(verdict.envelopes.length, readings.length)
    // B seals readings in bucket 5, not yet checkpointed: accepted in a range reaching them, B an open end
    const fresh = await seal(b, [at(5, 10), at(5, 20)])
    const inWide = everything.filter(r => r.key.seq >= at(1, 0))
    const wide = { ...page, toSeq: at(6, 0), envelopes: sorted([...inWide, ...fresh]).map(r => r.bytes) }
    const newer = await verifyHistoryPage(suite, wide)
    assert.equal(newer.envelopes.length, inWide.length + 2)
    assert.deepEqual(newer.openEnds.map(toHex).sort(), [a, b].map(g => toHex(g.key.publicKey)).sort())
    // a collector with readings and no checkpoint at all: an open end
    const c = await gateway()
    const lone = await seal(c, [at(2, 3)])
    const third = await verifyHistoryPage(suite, { ...page, envelopes: sorted([...readings, ...lone]).map(r => r.bytes) })
    assert.deepEqual(third.openEnds.map(toHex), [toHex(c.key.publicKey)])
  })

  it('accepts a seq named by two checkpoints (a replay), and checks late parts it is given', async () => {
    const a = await gateway()
    const cps: Uint8Array[] = []
    const readings: Reading[] = []
    readings.push(...await seal(a, [at(0, 1)]))
    cps.push(await checkpoint(a, 0, 0, [at(0, 1)]))
    readings.push(...await seal(a, [at(1, 1), at(1, 2)]))
    cps.push(await checkpoint(a, 1, 0, [at(1, 1), at(1, 2)]))
    readings.push(...await seal(a, [at(2, 1)]))
    cps.push(await checkpoint(a, 2, 0, [at(2, 1)]))
    // after a restart: bucket 1's readings replayed (at(1, 2) again) with a late one, in part 1
    readings.push(...await seal(a, [at(1, 3)]))
    cps.push(await checkpoint(a, 1, 1, [at(1, 2), at(1, 3)]))
    readings.push(...await seal(a, [at(3, 1)]))
    cps.push(await checkpoint(a, 3, 0, [at(3, 1)]))
    const page: HistoryPageInput = { sensor: SENSOR, fromSeq: at(1, 0), toSeq: at(3, 0), order: 'asc', envelopes: [], checkpoints: cps }
    const inPage = sorted(readings.filter(r => r.key.seq >= at(1, 0) && r.key.seq < at(3, 0)))
    const verdict = await verifyHistoryPage(suite, { ...page, envelopes: inPage.map(r => r.bytes) })
    assert.deepEqual(verdict.envelopes.map(e => e.seq), [at(1, 1), at(1, 2), at(1, 3), at(2, 1)])
    assert.deepEqual(verdict.openEnds, [])
    // the late reading dropped: its late part names it
    await rejects({ ...page, envelopes: inPage.filter(r => r.key.seq !== at(1, 3)).map(r => r.bytes) }, 'GM_ERR_HISTORY_INCOMPLETE', new RegExp(`seq ${at(1, 3)}, named by its checkpoint bucket ${B0 + 1} part 1`))
  })

  it('does not let a run start after a late part: checkpoints of the page signed before it would go unseen', async () => {
    // chain: (0,0) → (1,0) → (2,0) → (0,1) late → (3,0); the page is bucket 1 to 2
    const a = await gateway()
    const cps: Uint8Array[] = []
    const readings: Reading[] = []
    for (const [bucket, part] of [[0, 0], [1, 0], [2, 0], [0, 1], [3, 0]] as const) {
      const seqs = [at(bucket, 10 + part)]
      readings.push(...await seal(a, seqs))
      cps.push(await checkpoint(a, bucket, part, seqs))
    }
    const page: HistoryPageInput = { sensor: SENSOR, fromSeq: at(1, 0), toSeq: at(3, 0), order: 'asc', envelopes: [], checkpoints: cps }
    // every reading of the page withheld with its checkpoints; the run given starts at the late
    // part (0,1), whose prev is bucket 2: refused, not an empty page
    await rejects({ ...page, checkpoints: cps.slice(3) }, 'GM_ERR_HISTORY_INCOMPLETE', /the run starts at bucket \d+ part 1, whose prev bucket \d+ part 0 is not a part 0 before the page/)
    // the run starting at (3,0), whose prev is the late part (0,1) of a bucket before the page: refused too
    await rejects({ ...page, checkpoints: cps.slice(4) }, 'GM_ERR_HISTORY_INCOMPLETE', /whose prev bucket \d+ part 1 is not a part 0 before the page/)
    // the honest page
    const verdict = await verifyHistoryPage(suite, { ...page, envelopes: sorted(readings.slice(1, 3)).map(r => r.bytes) })
    assert.equal(verdict.envelopes.length, 2)
  })

  it('refuses a fork, and malformed input as the caller\'s error', async () => {
    const a = await gateway()
    const first = await checkpoint(a, 0, 0, [at(0, 1)])
    const head = a.head
    const one = await checkpoint(a, 1, 0, [at(1, 1)])
    a.head = head
    const two = await checkpoint(a, 1, 1, [at(1, 2)])
    const page: HistoryPageInput = { sensor: SENSOR, fromSeq: at(1, 0), toSeq: at(2, 0), order: 'asc', envelopes: [], checkpoints: [first, one, two] }
    await rejects(page, 'GM_ERR_HISTORY_INCOMPLETE', /two checkpoints follow bucket \d+ part 0 \(a fork/)
    for (const bad of [{ fromSeq: 5, toSeq: 5 }, { fromSeq: -1 }, { order: 'up' }, { lo: { seq: 1, gw: new Uint8Array(3) } }, { envelopes: 'x' }]) {
      await assert.rejects(verifyHistoryPage(suite, { ...page, ...bad } as unknown as HistoryPageInput), (err: unknown) => isGatemeshError(err, 'GM_ERR_MALFORMED'))
    }
    // an envelope header is what keys are read from
    assert.equal(readEnvelopeHeader((await seal(a, [at(1, 9)]))[0]?.bytes as Uint8Array).seq, at(1, 9))
  })

  for (const [kind, base] of [['a synchronous SHA-256', suite], ['only an async SHA-256 (as WebCrypto)', { ...suite, sha256Sync: undefined }]] as Array<[string, CryptoSuite]>) {
  it(`verifies a batch signature its readings share once, each proof still checked, failures named in page order, with ${kind} [ENV-9]`, async () => {
    const gw = await gateway()
    const seqs = Array.from({ length: 150 }, (_, i) => 1_000_000 + i * 1000)
    const envelopes = (await seal(gw, seqs)).map(r => r.bytes)
    let verifies = 0
    let hashes = 0
    const counting: CryptoSuite = { ...base, verify: async (k, m, sig) => { verifies++; return await base.verify(k, m, sig) }, sha256: async data => { hashes++; return await base.sha256(data) } }
    const page: HistoryPageInput = { sensor: SENSOR, fromSeq: 0, toSeq: 10_000_000, order: 'asc', envelopes, checkpoints: [] }
    assert.equal((await verifyHistoryPage(counting, page)).envelopes.length, 150)
    assert.equal(verifies, 1, 'one Ed25519 verification for the page\'s one batch')
    // async: 150 leaves and the tree's 149 interior nodes, each hashed once (not 150 × 8)
    if (base.sha256Sync === undefined) assert.equal(hashes, 150 + 149)
    const flip = (bytes: Uint8Array, at: number): Uint8Array => { const copy = Uint8Array.from(bytes); copy[at] = (copy[at] as number) ^ 1; return copy }
    // two altered bodies in one window and one in the next: the first in page order is named
    const altered = envelopes.map((e, i) => i === 40 || i === 7 || i === 100 ? flip(e, e.length - 200) : e)
    await rejectsWith(counting, { ...page, envelopes: altered }, 'GM_ERR_HISTORY_TAMPERED', / Envelope 7: bad signature/)
    await rejectsWith(counting, { ...page, envelopes: envelopes.map((e, i) => i === 100 ? flip(e, e.length - 200) : e) }, 'GM_ERR_HISTORY_TAMPERED', / Envelope 100: bad signature/)
    // the shared signature forged in every envelope: refused, however many wait on its verification
    await rejectsWith(counting, { ...page, envelopes: envelopes.map(e => flip(e, e.length - 10)) }, 'GM_ERR_HISTORY_TAMPERED', / Envelope 0: bad signature/)
    // a proof altered in one envelope of the batch whose signature the others verify
    await rejectsWith(counting, { ...page, envelopes: envelopes.map((e, i) => i === 90 ? flip(e, e.length - 120) : e) }, 'GM_ERR_HISTORY_TAMPERED', / Envelope 90: /)
  })
  }
})
