/**
 * What repair compares between replicas ([PER-2] `digest` and `ids`, [PER-31], [PER-32]): per
 * repair bucket (one hour of seq), the reading ids `(seq, gw)` held *and* the checkpoint
 * identities `(bucket, part, gw)` held. A replica that holds a bucket's readings but misses one
 * of its checkpoints (signed after the readings were pulled, or pushed only to W replicas while
 * it was down) differs from the others, and is repaired: without that checkpoint, its honest
 * pages would fail [PER-12] as if it had withheld it.
 */
import { CHECKPOINT_BUCKET, writeUint64be } from '../../core/index.ts'
import type { CryptoSuite } from '../../core/index.ts'
import { hex } from './verify.ts'
import type { HistoryKey, StorageEngine, StoredCheckpoint } from './engine/types.ts'

/** [PER-2] Repair buckets (digest): one hour of seq. */
export const REPAIR_BUCKET = 3_600_000_000

/** A checkpoint's identity within a sensor ([PER-20]). */
export interface CheckpointId {
  bucket: number
  part: number
  gw: Uint8Array
}

export type BucketDigestTuple = [bucket: number, count: number, hash: Uint8Array]

export function checkpointIdKey (c: CheckpointId): string {
  return `${c.bucket}:${c.part}:${hex(c.gw)}`
}

/** (bucket, part, gw bytewise): the order checkpoint identities are hashed and listed in. */
export function compareCheckpointIds (a: CheckpointId, b: CheckpointId): number {
  if (a.bucket !== b.bucket) return a.bucket - b.bucket
  if (a.part !== b.part) return a.part - b.part
  return Buffer.compare(a.gw, b.gw)
}

/** The checkpoint buckets whose first seq lies in [fromSeq, toSeq) (a repair bucket holds 60). */
function checkpointBuckets (fromSeq: number, toSeq: number): [number, number] | undefined {
  if (toSeq <= fromSeq) return undefined
  const first = Math.ceil(fromSeq / CHECKPOINT_BUCKET)
  const last = Math.floor((toSeq - 1) / CHECKPOINT_BUCKET)
  return first > last ? undefined : [first, last]
}

/** [PER-2] `ids`: the readings held with fromSeq <= seq < toSeq, and the checkpoints held whose bucket starts in it. */
export async function repairItems (engine: StorageEngine, sensor: string, fromSeq: number, toSeq: number): Promise<{ ids: HistoryKey[], cps: CheckpointId[] }> {
  const span = checkpointBuckets(fromSeq, toSeq)
  const [ids, stored] = await Promise.all([
    engine.ids(sensor, fromSeq, toSeq),
    span === undefined ? Promise.resolve([] as StoredCheckpoint[]) : engine.checkpoints(sensor, span[0], span[1])
  ])
  const cps = stored.map(({ bucket, part, gw }) => ({ bucket, part, gw })).sort(compareCheckpointIds)
  return { ids, cps }
}

/** The checkpoints held among these identities (absent ones left out), one engine query per bucket asked. */
export async function checkpointsById (engine: StorageEngine, sensor: string, wanted: readonly CheckpointId[]): Promise<StoredCheckpoint[]> {
  const keys = new Set(wanted.map(checkpointIdKey))
  const out: StoredCheckpoint[] = []
  for (const bucket of [...new Set(wanted.map(c => c.bucket))].sort((a, b) => a - b)) {
    for (const cp of await engine.checkpoints(sensor, bucket, bucket)) if (keys.has(checkpointIdKey(cp))) out.push(cp)
  }
  return out
}

/**
 * [PER-2] The hash of a repair bucket: SHA-256 over its reading ids in (seq, gw) order, each
 * `0x00 || uint64be(seq) || gw`, then its checkpoint identities in (bucket, part, gw) order, each
 * `0x01 || uint64be(bucket) || uint64be(part) || gw`.
 */
export async function bucketHash (suite: CryptoSuite, keys: readonly HistoryKey[], cps: readonly CheckpointId[] = []): Promise<Uint8Array> {
  // written into one buffer: a bucket may hold any number of readings (spreading them as
  // arguments overflowed the stack at 60 000)
  let length = 0
  for (const k of keys) length += 9 + k.gw.length
  for (const c of cps) length += 17 + c.gw.length
  const out = new Uint8Array(length)
  let at = 0
  for (const k of keys) {
    out[at] = 0
    writeUint64be(out, at + 1, k.seq)
    out.set(k.gw, at + 9)
    at += 9 + k.gw.length
  }
  for (const c of cps) {
    out[at] = 1
    writeUint64be(out, at + 1, c.bucket)
    writeUint64be(out, at + 9, c.part)
    out.set(c.gw, at + 17)
    at += 17 + c.gw.length
  }
  return await suite.sha256(out)
}

function bucketStart (bucket: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, bucket) * REPAIR_BUCKET)
}

/** The repair bucket a reading is counted in ([PER-30]). */
export function readingRepairBucket (seq: number): number {
  return Math.floor(seq / REPAIR_BUCKET)
}

/** The repair bucket a checkpoint is counted in: the one its checkpoint bucket's first seq lies in. */
export function checkpointRepairBucket (checkpointBucket: number): number {
  return Math.floor(checkpointBucket * CHECKPOINT_BUCKET / REPAIR_BUCKET)
}

/**
 * [PER-2] `digest`: for each repair bucket in [fromBucket, toBucket] holding anything, its number
 * of readings and checkpoints and its bucketHash. Both the op and the repairing peer's own side
 * ([PER-31]) compute it here (through digest-cache.ts in the service).
 */
export async function bucketDigests (suite: CryptoSuite, engine: StorageEngine, sensor: string, fromBucket: number, toBucket: number): Promise<BucketDigestTuple[]> {
  const out: BucketDigestTuple[] = []
  for (let lo = fromBucket; lo <= toBucket; lo += DIGEST_CHUNK_BUCKETS) {
    out.push(...await chunkDigests(suite, engine, sensor, lo, Math.min(toBucket, lo + DIGEST_CHUNK_BUCKETS - 1)))
  }
  return out
}

/**
 * Repair buckets read from the engine at once: what one digest holds in memory is a few hours of
 * one sensor, whatever span is asked (up to 10 000 buckets, [PER-2]); a bucket's digest depends
 * only on its own rows, so the chunks change nothing in the answer.
 */
export const DIGEST_CHUNK_BUCKETS = 6

async function chunkDigests (suite: CryptoSuite, engine: StorageEngine, sensor: string, fromBucket: number, toBucket: number): Promise<BucketDigestTuple[]> {
  const { ids, cps } = await repairItems(engine, sensor, bucketStart(fromBucket), bucketStart(toBucket + 1))
  const byBucket = new Map<number, { keys: HistoryKey[], cps: CheckpointId[] }>()
  const slot = (bucket: number): { keys: HistoryKey[], cps: CheckpointId[] } => {
    let s = byBucket.get(bucket)
    if (s === undefined) { s = { keys: [], cps: [] }; byBucket.set(bucket, s) }
    return s
  }
  for (const k of ids) slot(readingRepairBucket(k.seq)).keys.push(k)
  for (const c of cps) slot(checkpointRepairBucket(c.bucket)).cps.push(c)
  const out: BucketDigestTuple[] = []
  for (const bucket of [...byBucket.keys()].sort((a, b) => a - b)) {
    const s = byBucket.get(bucket) as { keys: HistoryKey[], cps: CheckpointId[] }
    out.push([bucket, s.keys.length + s.cps.length, await bucketHash(suite, s.keys, s.cps)])
  }
  return out
}
