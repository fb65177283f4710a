/**
 * The storage engine compliance suite ([PER-24]), in the style of aedes-persistence's abstract.js:
 * one set of node:test tests that every engine passes, each on a fresh engine. An engine's test
 * file calls `storageEngineCompliance({ describe, it, createEngine, destroy })`.
 */
import assert from 'node:assert/strict'
import { isGatemeshError, type ErrorCode } from '../../../core/index.ts'
import { CHECKPOINT_BUCKET, compareKeys, MAX_CERTIFICATES_PER_GW, MAX_SEQ } from './input.ts'
import type { HistoryKey, StorageEngine, StoredCertificate, StoredCheckpoint, StoredReading } from './types.ts'

type TestFn = (name: string, fn: () => Promise<void>) => unknown
type SuiteFn = (name: string, fn: () => void) => unknown

export interface ComplianceInit {
  /** `describe` of node:test (or anything with its shape). */
  describe: SuiteFn
  /** `it` (or `test`) of node:test. */
  it: TestFn
  /** A new, empty engine, not yet opened. */
  createEngine: () => Promise<StorageEngine>
  /** Called after each test with its engine (closed by then): remove its files or database. */
  destroy?: (engine: StorageEngine) => Promise<void>
  /** Readings in the big-batch test (4 096 by default: the largest `store` batch [PER-2]). */
  bigBatch?: number
}

/** A gw key: `first` in byte 0, `last` in byte 31, `fill` elsewhere. */
export function gwKey (first: number, last = 0, fill = 0x11): Uint8Array {
  const gw = new Uint8Array(32).fill(fill)
  gw[0] = first
  gw[31] = last
  return gw
}

/** An envelope that names its identity and holds every byte value (so no text codec can pass it unchanged by luck). */
export function envelopeFor (sensor: string, gw: Uint8Array, seq: number, tag = 0): Uint8Array {
  const head = new TextEncoder().encode(`${sensor}/${seq}/${tag}/`)
  const bytes = new Uint8Array(head.length + 32 + 256)
  bytes.set(head, 0)
  bytes.set(gw, head.length)
  for (let i = 0; i < 256; i++) bytes[head.length + 32 + i] = (i + seq + tag) & 0xff
  return bytes
}

export function readingOf (sensor: string, gw: Uint8Array, seq: number, tag = 0): StoredReading {
  return { sensor, gw, seq, envelope: envelopeFor(sensor, gw, seq, tag) }
}

function checkpointOf (sensor: string, gw: Uint8Array, bucket: number, part: number, tag = 0): StoredCheckpoint {
  const bytes = new Uint8Array(300)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + bucket + part * 3 + tag + gw[0]!) & 0xff
  return { sensor, gw, bucket, part, bytes }
}

function hex (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Compares readings as plain values (Buffer and Uint8Array alike). */
function plain (r: StoredReading): { sensor: string, gw: string, seq: number, envelope: string } {
  return { sensor: r.sensor, gw: hex(r.gw), seq: r.seq, envelope: hex(r.envelope) }
}

function plainCp (c: StoredCheckpoint): { sensor: string, gw: string, bucket: number, part: number, bytes: string } {
  return { sensor: c.sensor, gw: hex(c.gw), bucket: c.bucket, part: c.part, bytes: hex(c.bytes) }
}

function keyOf (k: HistoryKey): string {
  return `${k.seq}/${hex(k.gw)}`
}

async function rejects (action: () => Promise<unknown>, codes: readonly ErrorCode[], what: string): Promise<void> {
  try {
    await action()
  } catch (err) {
    assert.ok(isGatemeshError(err), `${what} threw a non-gatemesh error: ${String(err)}`)
    assert.ok(codes.includes(err.code), `${what} failed with ${err.code}, expected ${codes.join(' or ')}`)
    return
  }
  assert.fail(`${what} succeeded; expected ${codes.join(' or ')}`)
}

export function storageEngineCompliance (init: ComplianceInit): void {
  const { describe, it } = init
  const bigBatch = init.bigBatch ?? 4096

  /** Runs `body` on a fresh, opened engine; closes and destroys it after. */
  function withEngine (name: string, body: (engine: StorageEngine) => Promise<void>): void {
    it(name, async () => {
      const engine = await init.createEngine()
      await engine.open()
      try {
        await body(engine)
      } finally {
        await engine.close()
        await init.destroy?.(engine)
      }
    })
  }

  const A = gwKey(0x00, 0x01)
  const B = gwKey(0x7f)
  const C = gwKey(0x80)
  const D = gwKey(0xff, 0xfe)

  describe('storage engine compliance', () => {
    withEngine('opens idempotently, has a name, and keeps what it stored across close and open', async engine => {
      assert.ok(typeof engine.name === 'string' && engine.name.length > 0)
      await engine.open()
      await engine.append([readingOf('s1', A, 5)])
      await engine.close()
      await engine.open()
      assert.deepEqual((await engine.get('s1', [{ seq: 5, gw: A }])).map(plain), [plain(readingOf('s1', A, 5))])
    })

    withEngine('append is idempotent by (sensor, gw, seq) within one call: the first copy is kept', async engine => {
      const first = readingOf('s1', A, 10, 1)
      const second = readingOf('s1', A, 10, 2)
      assert.deepEqual(await engine.append([first, readingOf('s1', B, 10), second]), { stored: 2, duplicates: 1 })
      assert.deepEqual((await engine.get('s1', [{ seq: 10, gw: A }])).map(plain), [plain(first)])
    })

    withEngine('append is idempotent across calls, and the same seq of another gw or sensor is another reading', async engine => {
      const first = readingOf('s1', A, 10, 1)
      assert.deepEqual(await engine.append([first]), { stored: 1, duplicates: 0 })
      assert.deepEqual(await engine.append([readingOf('s1', A, 10, 2), readingOf('s1', C, 10), readingOf('s2', A, 10)]), { stored: 2, duplicates: 1 })
      assert.deepEqual(await engine.append([readingOf('s1', A, 10, 3), readingOf('s1', C, 10), readingOf('s2', A, 10)]), { stored: 0, duplicates: 3 })
      assert.deepEqual((await engine.get('s1', [{ seq: 10, gw: A }])).map(plain), [plain(first)])
      assert.equal((await engine.ids('s1', 0, 100)).length, 2)
      assert.equal((await engine.ids('s2', 0, 100)).length, 1)
      assert.deepEqual(await engine.append([]), { stored: 0, duplicates: 0 })
    })

    withEngine('range: fromSeq inclusive, toSeq exclusive, ties on seq by gw bytewise, asc and desc', async engine => {
      const readings = [30, 10, 20, 40].flatMap(seq => [D, B, A, C].map(gw => readingOf('s1', gw, seq)))
      await engine.append([...readings, readingOf('s0', A, 20), readingOf('s2', A, 20)])
      const expected = readings.filter(r => r.seq >= 10 && r.seq < 40).sort(compareKeys)
      const asc = await engine.range({ sensor: 's1', fromSeq: 10, toSeq: 40, order: 'asc', limit: 100 })
      assert.deepEqual(asc.map(plain), expected.map(plain))
      const desc = await engine.range({ sensor: 's1', fromSeq: 10, toSeq: 40, order: 'desc', limit: 100 })
      assert.deepEqual(desc.map(plain), expected.reverse().map(plain))
      assert.deepEqual((await engine.range({ sensor: 's1', fromSeq: 11, toSeq: 30, order: 'asc', limit: 100 })).map(r => r.seq), [20, 20, 20, 20])
      assert.deepEqual(await engine.range({ sensor: 's1', fromSeq: 30, toSeq: 30, order: 'asc', limit: 100 }), [])
      assert.deepEqual(await engine.range({ sensor: 's1', fromSeq: 40, toSeq: 10, order: 'desc', limit: 100 }), [])
      assert.deepEqual(await engine.range({ sensor: 'nobody', fromSeq: 0, toSeq: 100, order: 'asc', limit: 100 }), [])
    })

    withEngine('range pages with after and limit walk the whole range once, in both orders', async engine => {
      const readings = [1, 2, 3, 4, 5, 6, 7].flatMap(seq => (seq % 2 === 0 ? [A, D, B] : [C]).map(gw => readingOf('s1', gw, seq * 1000)))
      await engine.append(readings)
      for (const order of ['asc', 'desc'] as const) {
        const expected = readings.slice().sort(compareKeys)
        if (order === 'desc') expected.reverse()
        for (const limit of [1, 2, 3, 5]) {
          const walked: StoredReading[] = []
          let after: HistoryKey | undefined
          for (let pages = 0; pages < 100; pages++) {
            const page = await engine.range({ sensor: 's1', fromSeq: 0, toSeq: 8000, order, after, limit })
            assert.ok(page.length <= limit)
            walked.push(...page)
            if (page.length < limit) break
            after = page.at(-1)
          }
          assert.deepEqual(walked.map(plain), expected.map(plain), `${order}, limit ${limit}`)
        }
      }
      // after a key that is not held: strictly after it
      assert.deepEqual((await engine.range({ sensor: 's1', fromSeq: 0, toSeq: 8000, order: 'asc', after: { seq: 2000, gw: B }, limit: 3 })).map(keyOf),
        [{ seq: 2000, gw: D }, { seq: 3000, gw: C }, { seq: 4000, gw: A }].map(keyOf))
      assert.deepEqual((await engine.range({ sensor: 's1', fromSeq: 0, toSeq: 8000, order: 'desc', after: { seq: 2000, gw: C }, limit: 3 })).map(keyOf),
        [{ seq: 2000, gw: B }, { seq: 2000, gw: A }, { seq: 1000, gw: C }].map(keyOf))
    })

    withEngine('ids are the keys in (seq, gw) order, within the range', async engine => {
      const readings = [readingOf('s1', D, 7), readingOf('s1', A, 9), readingOf('s1', C, 7), readingOf('s1', B, 3), readingOf('s1', A, 12)]
      await engine.append([...readings, readingOf('s9', A, 8)])
      const ids = await engine.ids('s1', 3, 12)
      assert.deepEqual(ids.map(keyOf), readings.filter(r => r.seq < 12).sort(compareKeys).map(keyOf))
      assert.deepEqual(await engine.ids('s1', 13, 100), [])
    })

    withEngine('get returns the readings held among the keys, in any order, missing ones left out', async engine => {
      await engine.append([readingOf('s1', A, 1), readingOf('s1', B, 2), readingOf('s1', C, 3), readingOf('s2', D, 4)])
      const got = await engine.get('s1', [{ seq: 3, gw: C }, { seq: 2, gw: A }, { seq: 1, gw: A }, { seq: 4, gw: D }])
      assert.deepEqual(got.map(plain).sort((x, y) => x.seq - y.seq), [plain(readingOf('s1', A, 1)), plain(readingOf('s1', C, 3))])
      assert.deepEqual(await engine.get('s1', []), [])
    })

    withEngine('checkpoints: idempotent by (sensor, gw, bucket, part), by bucket range, in (gw, bucket, part) order', async engine => {
      const cps = [checkpointOf('s1', D, 3, 0), checkpointOf('s1', A, 3, 1), checkpointOf('s1', A, 3, 0), checkpointOf('s1', A, 1, 0),
        checkpointOf('s1', B, 2, 0), checkpointOf('s1', A, 5, 0), checkpointOf('s2', A, 3, 0)]
      assert.equal(await engine.putCheckpoints(cps), cps.length)
      assert.equal(await engine.putCheckpoints([checkpointOf('s1', A, 3, 0, 9), checkpointOf('s1', A, 4, 0)]), 1)
      const got = await engine.checkpoints('s1', 2, 4)
      const expected = [checkpointOf('s1', A, 3, 0), checkpointOf('s1', A, 3, 1), checkpointOf('s1', A, 4, 0), checkpointOf('s1', B, 2, 0), checkpointOf('s1', D, 3, 0)]
      assert.deepEqual(got.map(plainCp), expected.map(plainCp))
      assert.deepEqual(await engine.checkpoints('s1', 6, 100), [])
      assert.deepEqual(await engine.putCheckpoints([]), 0)
    })

    withEngine('sensors: those with readings or checkpoints, sorted, after, limit', async engine => {
      const ids = ['b', 'a-1', 'A', '_x', '0', 'a.1', 'z', '-']
      for (const [i, sensor] of ids.entries()) {
        if (i % 2 === 0) await engine.append([readingOf(sensor, A, i), readingOf(sensor, B, i)])
        else await engine.putCheckpoints([checkpointOf(sensor, A, i, 0), checkpointOf(sensor, B, i, 0)])
      }
      const sorted = ids.slice().sort()
      assert.deepEqual(await engine.sensors(undefined, 100), sorted)
      assert.deepEqual(await engine.sensors(undefined, 3), sorted.slice(0, 3))
      assert.deepEqual(await engine.sensors(sorted[2], 3), sorted.slice(3, 6))
      assert.deepEqual(await engine.sensors('a-0', 100), sorted.filter(s => s > 'a-0'))
      assert.deepEqual(await engine.sensors('z', 10), [])
    })

    withEngine('deleteBefore: readings below the seq and checkpoints whose bucket ends by it, of that sensor only', async engine => {
      const B1 = CHECKPOINT_BUCKET
      await engine.append([readingOf('s1', A, 5), readingOf('s1', B, B1 * 2 - 1), readingOf('s1', A, B1 * 2), readingOf('s1', A, B1 * 2 + 1), readingOf('s2', A, 5)])
      await engine.putCheckpoints([0, 1, 2, 3].map(bucket => checkpointOf('s1', A, bucket, 0)).concat([checkpointOf('s2', A, 0, 0)]))
      assert.equal(await engine.deleteBefore('s1', B1 * 2 + 1), 3)
      assert.deepEqual((await engine.ids('s1', 0, MAX_SEQ)).map(keyOf), [keyOf({ seq: B1 * 2 + 1, gw: A })])
      // bucket 2 ends at 3·B1, after beforeSeq: kept
      assert.deepEqual((await engine.checkpoints('s1', 0, 10)).map(c => c.bucket), [2, 3])
      assert.equal((await engine.ids('s2', 0, 10)).length, 1)
      assert.equal((await engine.checkpoints('s2', 0, 10)).length, 1)
      assert.equal(await engine.deleteBefore('s1', B1 * 3), 1)
      assert.deepEqual((await engine.checkpoints('s1', 0, 10)).map(c => c.bucket), [3])
      assert.equal(await engine.deleteBefore('nobody', B1), 0)
      // a sensor with nothing left is no longer listed
      await engine.append([readingOf('s3', A, 5)])
      assert.deepEqual(await engine.sensors(undefined, 10), ['s1', 's2', 's3'])
      assert.equal(await engine.deleteBefore('s3', 6), 1)
      assert.deepEqual(await engine.sensors(undefined, 10), ['s1', 's2'])
    })

    withEngine('sizeBytes grows as readings are stored', async engine => {
      const before = await engine.sizeBytes()
      assert.ok(Number.isSafeInteger(before) && before >= 0)
      const readings = Array.from({ length: 2000 }, (_, i) => ({ ...readingOf('s1', gwKey(i & 0xff, i >> 8), i), envelope: new Uint8Array(1024).fill(i & 0xff) }))
      await engine.append(readings)
      const after = await engine.sizeBytes()
      assert.ok(after > before, `sizeBytes ${before} → ${after}`)
    })

    withEngine('certificates: two of one gw (a renewed collector) are both returned, newest first; absent ones are left out', async engine => {
      await engine.putCertificate(A, Uint8Array.of(0x30, 1, 2), 1_000)
      await engine.putCertificate(B, Uint8Array.of(0x30, 3), 5)
      await engine.putCertificate(A, Uint8Array.of(0x30, 9, 9, 9), 2_000)
      await engine.putCertificate(A, Uint8Array.of(0x30, 1, 2), 9_999) // held already: kept as it was
      const got = await engine.certificates([A, C, B])
      const rows = (cs: StoredCertificate[]): Array<[string, string, number]> => cs.map(c => [hex(c.gw), hex(c.der), c.notBefore])
      assert.deepEqual(rows(got.filter(c => hex(c.gw) === hex(A))), [[hex(A), '30090909', 2_000], [hex(A), '300102', 1_000]])
      assert.deepEqual(rows(got.filter(c => hex(c.gw) === hex(B))), [[hex(B), '3003', 5]])
      assert.equal(got.length, 3)
      assert.deepEqual(await engine.certificates([]), [])
    })

    withEngine(`certificates: the ${MAX_CERTIFICATES_PER_GW} newest by notBefore per gw are kept`, async engine => {
      for (let i = 0; i < MAX_CERTIFICATES_PER_GW + 2; i++) await engine.putCertificate(A, Uint8Array.of(0x30, i), 10_000 + i * 1_000)
      await engine.putCertificate(A, Uint8Array.of(0x30, 0xff), 1) // older than every one held: not kept
      await engine.putCertificate(B, Uint8Array.of(0x30, 0xee), 1)
      const got = await engine.certificates([A])
      assert.deepEqual(got.map(c => c.notBefore), Array.from({ length: MAX_CERTIFICATES_PER_GW }, (_, i) => 10_000 + (MAX_CERTIFICATES_PER_GW + 1 - i) * 1_000))
      assert.deepEqual(got.map(c => hex(c.der)), Array.from({ length: MAX_CERTIFICATES_PER_GW }, (_, i) => hex(Uint8Array.of(0x30, MAX_CERTIFICATES_PER_GW + 1 - i))))
      assert.equal((await engine.certificates([B])).length, 1)
    })

    withEngine('bytes come back byte-identical, also from views into larger buffers', async engine => {
      const big = new Uint8Array(700_000)
      for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff
      const gwBacking = new Uint8Array(40).fill(0xee)
      const gw = gwBacking.subarray(3, 35)
      gw.set(gwKey(0x42, 0x99, 0x00))
      const envelope = big.subarray(5, 65_541)
      const reading: StoredReading = { sensor: 's1', gw, seq: 77, envelope }
      await engine.append([reading])
      const [got] = await engine.range({ sensor: 's1', fromSeq: 0, toSeq: 100, order: 'asc', limit: 10 })
      assert.ok(got !== undefined)
      assert.equal(hex(got.envelope), hex(envelope))
      assert.equal(hex(got.gw), hex(gw))
      const cpBytes = big.subarray(1000, 1000 + 600 * 1024)
      await engine.putCheckpoints([{ sensor: 's1', gw, bucket: 0, part: 0, bytes: cpBytes }])
      assert.equal(hex((await engine.checkpoints('s1', 0, 0))[0]!.bytes), hex(cpBytes))
      const der = big.subarray(7, 2007)
      await engine.putCertificate(gw, der, 0)
      assert.equal(hex((await engine.certificates([gw]))[0]!.der), hex(der))
    })

    withEngine(`a batch of ${bigBatch} readings is stored in one call, and again as ${bigBatch} duplicates`, async engine => {
      const gws = [A, B, C, D]
      const readings = Array.from({ length: bigBatch }, (_, i) => readingOf('big', gws[i % 4]!, 1_700_000_000_000_000 + Math.floor(i / 2) * 1000))
      assert.deepEqual(await engine.append(readings), { stored: bigBatch, duplicates: 0 })
      assert.deepEqual(await engine.append(readings), { stored: 0, duplicates: bigBatch })
      const all = await engine.range({ sensor: 'big', fromSeq: 0, toSeq: MAX_SEQ + 1, order: 'asc', limit: 10_000 })
      assert.deepEqual(all.map(plain), readings.slice().sort(compareKeys).map(plain))
      assert.equal((await engine.ids('big', 0, MAX_SEQ + 1)).length, bigBatch)
      const keys = readings.slice(0, 100).map(r => ({ seq: r.seq, gw: r.gw }))
      assert.equal((await engine.get('big', keys)).length, 100)
    })

    withEngine('sensor ids of every allowed character, up to 128 of them', async engine => {
      const ids = ['ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz', '0123456789', '._-', '-', '_', '.a', 'a..b', 'x'.repeat(128)]
      for (const sensor of ids) await engine.append([readingOf(sensor, A, 1)])
      assert.deepEqual(await engine.sensors(undefined, 100), ids.slice().sort())
      for (const sensor of ids) {
        const got = await engine.range({ sensor, fromSeq: 0, toSeq: 10, order: 'asc', limit: 10 })
        assert.deepEqual(got.map(plain), [plain(readingOf(sensor, A, 1))], sensor)
      }
    })

    withEngine('seqs from 0 up to 2^53-1 are kept exactly', async engine => {
      const seqs = [0, 1, 2 ** 32, 2 ** 52 + 1, MAX_SEQ - 1, MAX_SEQ]
      await engine.append(seqs.map(seq => readingOf('s1', A, seq)))
      assert.deepEqual((await engine.ids('s1', 0, MAX_SEQ + 1)).map(k => k.seq), seqs)
      assert.deepEqual((await engine.range({ sensor: 's1', fromSeq: MAX_SEQ - 1, toSeq: MAX_SEQ + 1, order: 'desc', limit: 10 })).map(plain),
        [MAX_SEQ, MAX_SEQ - 1].map(seq => plain(readingOf('s1', A, seq))))
      assert.deepEqual((await engine.range({ sensor: 's1', fromSeq: 0, toSeq: MAX_SEQ, order: 'desc', after: { seq: MAX_SEQ - 1, gw: A }, limit: 1 })).map(r => r.seq), [2 ** 52 + 1])
      const bucket = Math.floor(MAX_SEQ / CHECKPOINT_BUCKET)
      await engine.putCheckpoints([checkpointOf('s1', A, bucket, 0)])
      assert.deepEqual((await engine.checkpoints('s1', bucket, bucket)).map(c => c.bucket), [bucket])
    })

    withEngine('bad arguments are refused with a code and store nothing', async engine => {
      const good = readingOf('s1', A, 1)
      const bad: unknown[] = [
        { ...good, gw: new Uint8Array(31) }, { ...good, seq: -1 }, { ...good, seq: 1.5 }, { ...good, seq: MAX_SEQ + 1 },
        { ...good, sensor: 'a/b' }, { ...good, sensor: '' }, { ...good, sensor: '..' }, { ...good, sensor: 'x'.repeat(129) },
        { ...good, envelope: new Uint8Array(0) }, { ...good, envelope: 'text' }, null
      ]
      for (const reading of bad) {
        await rejects(async () => await engine.append([good, reading as StoredReading]), ['GM_ERR_MALFORMED'], `append ${JSON.stringify(reading)}`)
      }
      await rejects(async () => await engine.append([{ ...good, envelope: new Uint8Array(2 * 1024 * 1024) }]), ['GM_ERR_TOO_LARGE'], 'a 2 MiB envelope')
      assert.deepEqual(await engine.ids('s1', 0, 100), [])
      await rejects(async () => await engine.putCheckpoints([checkpointOf('s1', A, 0, 0), { ...checkpointOf('s1', A, 1, 0), part: -1 }]), ['GM_ERR_MALFORMED'], 'a negative part')
      assert.deepEqual(await engine.checkpoints('s1', 0, 10), [])
      const query = { sensor: 's1', fromSeq: 0, toSeq: 10, order: 'asc' as const, limit: 10 }
      for (const q of [{ ...query, limit: 0 }, { ...query, limit: 10_001 }, { ...query, order: 'up' }, { ...query, fromSeq: -1 }, { ...query, toSeq: 2 ** 53 + 2 }, { ...query, after: { seq: 1, gw: new Uint8Array(3) } }]) {
        await rejects(async () => await engine.range(q as typeof query), ['GM_ERR_MALFORMED'], `range ${JSON.stringify(q)}`)
      }
      await rejects(async () => await engine.sensors('a/b', 10), ['GM_ERR_MALFORMED'], 'sensors after a bad id')
      await rejects(async () => await engine.sensors(undefined, 0), ['GM_ERR_MALFORMED'], 'sensors limit 0')
      await rejects(async () => await engine.get('s1', [{ seq: 1, gw: new Uint8Array(33) }]), ['GM_ERR_MALFORMED'], 'get a bad key')
      await rejects(async () => await engine.putCertificate(new Uint8Array(31), Uint8Array.of(1), 0), ['GM_ERR_MALFORMED'], 'a certificate of a bad gw')
      for (const notBefore of [-1, 1.5, Number.NaN, 2 ** 53]) {
        await rejects(async () => await engine.putCertificate(A, Uint8Array.of(1), notBefore), ['GM_ERR_MALFORMED'], `a certificate's notBefore ${notBefore}`)
      }
      assert.deepEqual(await engine.certificates([A]), [])
      await rejects(async () => await engine.deleteBefore('s1', -5), ['GM_ERR_MALFORMED'], 'deleteBefore a negative seq')
    })
  })
}
