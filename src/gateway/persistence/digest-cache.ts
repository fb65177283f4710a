/**
 * Incremental repair digests ([PER-31]): the digest of each (sensor, repair bucket) is kept once
 * computed and served again until a write could have changed it, so a repair round (and the
 * `digest` op answering the other replicas, [PER-2]) recomputes only the buckets written since,
 * usually just the current hour, instead of 48 hours of rows per sensor and per replica.
 *
 * A stale digest would make repair miss a difference, so invalidation cannot be left to callers:
 * the cache owns the engine the service uses. `engine` forwards every call of the contract and
 * each write first drops what it may change (an append the buckets of its readings, a checkpoint
 * put those of its checkpoints, a delete the whole sensor, open and close everything). Around
 * the asynchronous calls:
 * - a digest computed while a write to its sensor is in flight (or began while it was being
 *   computed) is answered but not kept: it may have read the store before the write landed;
 * - a write that fails (it may have landed in part, or land later: InfluxDB applies a timed-out
 *   write on its own time) stops all caching for `maxAgeMs`;
 * - an entry is kept `maxAgeMs` at most (1 h) and `maxBuckets` entries at most (least recently
 *   used first out), so anything written to the store behind this process's back is seen
 *   within the hour, as a retention sweep ([PER-41]) drops a sensor's entries every hour anyway.
 * A digest served is byte-identical to one bucketDigests computes now: a bucket's digest does not
 * depend on the span of buckets it was computed in (tested in digest-cache.test.ts).
 */
import { bucketDigests, checkpointRepairBucket, readingRepairBucket, type BucketDigestTuple } from './repair-digest.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { StorageEngine } from './engine/types.ts'

/**
 * Buckets at or past 2^20 (seqs from about the year 2089) are never cached: below it a seq's
 * bucket, floor(seq / 3.6e9) in float64, is exact, so every bucket is computed from the same rows
 * whatever span a request asks for.
 */
const CACHEABLE_BELOW = 2 ** 20

export const DIGEST_CACHE_DEFAULTS = {
  /** Bucket digests kept at most (about 300 bytes each; 140 sensors' recent windows take 6 900, with their older slices about 30 000). */
  maxBuckets: 65_536,
  /** An entry is recomputed after this long, and caching stops this long after a failed write. */
  maxAgeMs: 3_600_000
} as const

export interface DigestCacheComponents {
  /** The engine the service opens and uses only through `DigestCache.engine`. */
  engine: StorageEngine
  suite: CryptoSuite
  /** Monotonic ms (tests). */
  now?: () => number
}

export interface DigestCacheInit {
  maxBuckets?: number
  maxAgeMs?: number
}

export interface DigestCache {
  /** The engine to use everywhere: every call forwarded, every write dropping what it may change. */
  readonly engine: StorageEngine
  /** [PER-2] `digest` of a sensor's repair buckets in [fromBucket, toBucket], as bucketDigests computes it. */
  digests: (sensor: string, fromBucket: number, toBucket: number) => Promise<BucketDigestTuple[]>
  status: () => { buckets: number, hits: number, computed: number, uncached: number }
}

/** What a write may change: buckets of a sensor, a whole sensor (buckets undefined), or everything. */
type Touched = Array<{ sensor: string, buckets?: Set<number> }> | 'all'

interface Computation { spoiled: boolean }

interface Entry {
  /** Readings and checkpoints counted; 0: the bucket holds nothing. */
  count: number
  /** The bucket's hash in hex (a string takes a fifth of a Uint8Array's heap). */
  hash: string
  at: number
}

function touchedBuckets<T> (items: readonly T[], sensorOf: (item: T) => string, bucketOf: (item: T) => number): Touched {
  const bySensor = new Map<string, Set<number>>()
  for (const item of items) {
    const sensor = sensorOf(item)
    let buckets = bySensor.get(sensor)
    if (buckets === undefined) { buckets = new Set(); bySensor.set(sensor, buckets) }
    buckets.add(bucketOf(item))
  }
  return [...bySensor].map(([sensor, buckets]) => ({ sensor, buckets }))
}


export function createDigestCache (components: DigestCacheComponents, init: DigestCacheInit = {}): DigestCache {
  const { engine: inner, suite } = components
  const now = components.now ?? (() => performance.now())
  const maxBuckets = init.maxBuckets ?? DIGEST_CACHE_DEFAULTS.maxBuckets
  const maxAgeMs = init.maxAgeMs ?? DIGEST_CACHE_DEFAULTS.maxAgeMs
  /** `${bucket}:${sensor}` in least recently used first order. */
  const entries = new Map<string, Entry>()
  const bucketsOf = new Map<string, Set<number>>()
  /** Writes in flight per sensor, and those touching everything. */
  const writing = new Map<string, number>()
  let writingAll = 0
  /** Digests being computed per sensor: a write that begins meanwhile spoils them. */
  const computing = new Map<string, Set<Computation>>()
  let uncachedUntil = -Infinity
  const counts = { hits: 0, computed: 0, uncached: 0 }

  const keyOf = (sensor: string, bucket: number): string => `${bucket}:${sensor}`

  function drop (sensor: string, bucket: number): void {
    entries.delete(keyOf(sensor, bucket))
    const held = bucketsOf.get(sensor)
    held?.delete(bucket)
    if (held?.size === 0) bucketsOf.delete(sensor)
  }

  function dropSensor (sensor: string): void {
    for (const bucket of bucketsOf.get(sensor) ?? []) entries.delete(keyOf(sensor, bucket))
    bucketsOf.delete(sensor)
  }

  function put (sensor: string, bucket: number, digest: BucketDigestTuple | undefined): void {
    const key = keyOf(sensor, bucket)
    entries.delete(key)
    entries.set(key, digest === undefined ? { count: 0, hash: '', at: now() } : { count: digest[1], hash: Buffer.from(digest[2]).toString('hex'), at: now() })
    let held = bucketsOf.get(sensor)
    if (held === undefined) { held = new Set(); bucketsOf.set(sensor, held) }
    held.add(bucket)
    while (entries.size > maxBuckets) {
      const oldest = entries.keys().next().value as string
      const colon = oldest.indexOf(':')
      drop(oldest.slice(colon + 1), Number(oldest.slice(0, colon)))
    }
  }

  function lookup (sensor: string, bucket: number): Entry | undefined {
    const key = keyOf(sensor, bucket)
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (now() - entry.at >= maxAgeMs) { drop(sensor, bucket); return undefined }
    entries.delete(key)
    entries.set(key, entry)
    return entry
  }

  /** Drops what `touched` may change, and spoils the digests being computed of its sensors. */
  function invalidate (touched: Touched): void {
    if (touched === 'all') {
      entries.clear()
      bucketsOf.clear()
      for (const set of computing.values()) for (const c of set) c.spoiled = true
      return
    }
    for (const { sensor, buckets } of touched) {
      for (const c of computing.get(sensor) ?? []) c.spoiled = true
      if (buckets === undefined) dropSensor(sensor); else for (const b of buckets) drop(sensor, b)
    }
  }

  function count (touched: Touched, by: 1 | -1): void {
    if (touched === 'all') { writingAll += by; return }
    for (const { sensor } of touched) {
      const n = (writing.get(sensor) ?? 0) + by
      if (n === 0) writing.delete(sensor); else writing.set(sensor, n)
    }
  }

  /** Runs a write of the engine: what it touches is dropped before it begins and again once it settled. */
  async function write<T> (touches: () => Touched, call: () => Promise<T>): Promise<T> {
    let touched: Touched
    try {
      touched = touches()
    } catch {
      touched = 'all' // arguments the engine will refuse ([PER-23]); nothing is kept past them either way
    }
    count(touched, 1)
    invalidate(touched)
    try {
      return await call()
    } catch (err) {
      // it may have landed in part, or land later
      uncachedUntil = now() + maxAgeMs
      invalidate('all')
      throw err
    } finally {
      count(touched, -1)
      invalidate(touched)
    }
  }

  const cacheable = (sensor: string, fromBucket: number, toBucket: number): boolean =>
    Number.isSafeInteger(fromBucket) && Number.isSafeInteger(toBucket) && fromBucket >= 0 && fromBucket <= toBucket &&
    toBucket < CACHEABLE_BELOW && now() >= uncachedUntil && writingAll === 0 && !writing.has(sensor)

  async function digests (sensor: string, fromBucket: number, toBucket: number): Promise<BucketDigestTuple[]> {
    if (!cacheable(sensor, fromBucket, toBucket)) {
      counts.uncached++
      return await bucketDigests(suite, inner, sensor, fromBucket, toBucket)
    }
    const held = new Map<number, Entry>()
    let lo = Infinity
    let hi = -Infinity
    for (let b = fromBucket; b <= toBucket; b++) {
      const entry = lookup(sensor, b)
      if (entry !== undefined) { held.set(b, entry); continue }
      lo = Math.min(lo, b)
      hi = Math.max(hi, b)
    }
    counts.hits += held.size
    const fresh = new Map<number, BucketDigestTuple>()
    if (lo <= hi) {
      // one query over the span missing (usually the current bucket alone)
      const computation: Computation = { spoiled: false }
      let set = computing.get(sensor)
      if (set === undefined) { set = new Set(); computing.set(sensor, set) }
      set.add(computation)
      try {
        for (const d of await bucketDigests(suite, inner, sensor, lo, hi)) fresh.set(d[0], d)
      } finally {
        set.delete(computation)
        if (set.size === 0 && computing.get(sensor) === set) computing.delete(sensor)
      }
      counts.computed += hi - lo + 1
      if (!computation.spoiled && now() >= uncachedUntil) {
        for (let b = lo; b <= hi; b++) put(sensor, b, fresh.get(b))
      }
    }
    const out: BucketDigestTuple[] = []
    for (let b = fromBucket; b <= toBucket; b++) {
      if (b >= lo && b <= hi) {
        const d = fresh.get(b)
        if (d !== undefined) out.push(d)
        continue
      }
      const entry = held.get(b) as Entry
      if (entry.count > 0) out.push([b, entry.count, Uint8Array.from(Buffer.from(entry.hash, 'hex'))])
    }
    return out
  }

  // Every method of the contract: the reads forwarded, the writes through `write` (a method added
  // to StorageEngine fails to compile here; digest-cache.test.ts fails for a write left unrouted).
  const engine: StorageEngine = {
    name: inner.name,
    open: async () => { await write(() => 'all', async () => { await inner.open() }) },
    close: async () => { await write(() => 'all', async () => { await inner.close() }) },
    append: async readings => await write(() => touchedBuckets(readings, r => r.sensor, r => readingRepairBucket(r.seq)), async () => await inner.append(readings)),
    putCheckpoints: async cps => await write(() => touchedBuckets(cps, c => c.sensor, c => checkpointRepairBucket(c.bucket)), async () => await inner.putCheckpoints(cps)),
    deleteBefore: async (sensor, beforeSeq) => await write(() => [{ sensor }], async () => await inner.deleteBefore(sensor, beforeSeq)),
    // certificates are in no digest
    putCertificate: async (gw, der, notBefore) => { await inner.putCertificate(gw, der, notBefore) },
    range: async query => await inner.range(query),
    checkpoints: async (sensor, fromBucket, toBucket) => await inner.checkpoints(sensor, fromBucket, toBucket),
    ids: async (sensor, fromSeq, toSeq) => await inner.ids(sensor, fromSeq, toSeq),
    get: async (sensor, keys) => await inner.get(sensor, keys),
    sensors: async (after, limit) => await inner.sensors(after, limit),
    sizeBytes: async () => await inner.sizeBytes(),
    certificates: async gws => await inner.certificates(gws)
  }

  return {
    engine,
    digests,
    status: () => ({ buckets: entries.size, ...counts })
  }
}
