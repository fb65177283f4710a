/**
 * Argument checks every engine runs before it touches its store ([PER-23]): a caller's bad
 * argument is refused with GM_ERR_MALFORMED (or GM_ERR_TOO_LARGE) before anything is written, so
 * it can never leave a half-written batch or a row that a later read would misplace.
 */
import { GatemeshError, isSensorId } from '../../../core/index.ts'
import type { HistoryKey, RangeQuery, StoredCheckpoint, StoredReading } from './types.ts'

/** One minute of seq: a checkpoint's bucket is floor(seq / CHECKPOINT_BUCKET) ([PER-10]; the core's constant). */
export const CHECKPOINT_BUCKET = 60_000_000
/** The largest seq: seqs are exact in a double ([COL-6]). */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER
/** An envelope larger than this is refused (a frame is at most 8 MiB [PER-2]). */
export const MAX_ENVELOPE_BYTES = 1024 * 1024
/** A signed checkpoint is at most 600 KiB ([PER-10]). */
export const MAX_CHECKPOINT_BYTES = 600 * 1024
/** A certificate (DER) larger than this is refused. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024
export const MAX_RANGE_LIMIT = 10_000

function malformed (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_MALFORMED', detail)
}

export function checkSensor (sensor: unknown): asserts sensor is string {
  if (!isSensorId(sensor)) throw malformed('Sensor ids are 1 to 128 of [A-Za-z0-9._-] ([SEN-1]).')
}

export function checkGw (gw: unknown): asserts gw is Uint8Array {
  if (!(gw instanceof Uint8Array) || gw.length !== 32) throw malformed('A gw key is 32 bytes.')
}

/** A seq: an integer 0..2^53-1. */
export function checkSeq (seq: unknown, name = 'seq'): asserts seq is number {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw malformed(`${name} is an integer 0..2^53-1.`)
}

/** A range bound: an integer 0..2^53 (an exclusive end may be one past the largest seq). */
export function checkBound (value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_SEQ + 1) throw malformed(`${name} is an integer 0..2^53.`)
}

function checkBytes (value: unknown, name: string, max: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0) throw malformed(`${name} is non-empty bytes.`)
  if (value.length > max) throw new GatemeshError('GM_ERR_TOO_LARGE', `${name} is over ${max} bytes.`)
}

export function checkKey (key: unknown): asserts key is HistoryKey {
  if (typeof key !== 'object' || key === null) throw malformed('A history key is { seq, gw }.')
  checkSeq((key as HistoryKey).seq)
  checkGw((key as HistoryKey).gw)
}

export function checkReadings (readings: unknown): asserts readings is readonly StoredReading[] {
  if (!Array.isArray(readings)) throw malformed('append takes an array of readings.')
  for (const r of readings as unknown[]) {
    if (typeof r !== 'object' || r === null) throw malformed('A reading is { sensor, gw, seq, envelope }.')
    const reading = r as StoredReading
    checkSensor(reading.sensor)
    checkGw(reading.gw)
    checkSeq(reading.seq)
    checkBytes(reading.envelope, 'An envelope', MAX_ENVELOPE_BYTES)
  }
}

export function checkCheckpoints (checkpoints: unknown): asserts checkpoints is readonly StoredCheckpoint[] {
  if (!Array.isArray(checkpoints)) throw malformed('putCheckpoints takes an array of checkpoints.')
  for (const c of checkpoints as unknown[]) {
    if (typeof c !== 'object' || c === null) throw malformed('A checkpoint is { sensor, gw, bucket, part, bytes }.')
    const cp = c as StoredCheckpoint
    checkSensor(cp.sensor)
    checkGw(cp.gw)
    checkSeq(cp.bucket, 'bucket')
    if (cp.bucket > Math.floor(MAX_SEQ / CHECKPOINT_BUCKET)) throw malformed('bucket is past the last seq\'s bucket.')
    checkSeq(cp.part, 'part')
    // as many parts as µs in a bucket: (bucket, part) maps to one µs in a time-keyed engine [PER-22]
    if (cp.part >= CHECKPOINT_BUCKET) throw malformed('part is below 60 000 000.')
    checkBytes(cp.bytes, 'A checkpoint', MAX_CHECKPOINT_BYTES)
  }
}

export function checkRangeQuery (query: unknown): asserts query is RangeQuery {
  if (typeof query !== 'object' || query === null) throw malformed('A range query is an object.')
  const q = query as RangeQuery
  checkSensor(q.sensor)
  checkBound(q.fromSeq, 'fromSeq')
  checkBound(q.toSeq, 'toSeq')
  if (q.order !== 'asc' && q.order !== 'desc') throw malformed('order is asc or desc.')
  if (q.after !== undefined) checkKey(q.after)
  checkLimit(q.limit, MAX_RANGE_LIMIT)
}

export function checkLimit (limit: unknown, max: number): asserts limit is number {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > max) throw malformed(`limit is an integer 1..${max}.`)
}

export function checkBucketRange (fromBucket: unknown, toBucket: unknown): void {
  checkSeq(fromBucket, 'fromBucket')
  checkSeq(toBucket, 'toBucket')
}

/** [PER-20] Distinct certificates an engine keeps per gw key: the newest by notBefore. */
export const MAX_CERTIFICATES_PER_GW = 8

export function checkCertificate (gw: unknown, der: unknown, notBefore: unknown): void {
  checkGw(gw)
  checkBytes(der, 'A certificate', MAX_CERTIFICATE_BYTES)
  if (typeof notBefore !== 'number' || !Number.isSafeInteger(notBefore) || notBefore < 0) throw malformed('A certificate\'s notBefore is ms since the epoch, a non-negative integer.')
}

/** [PER-20] The order certificates of one gw are kept and returned in: notBefore descending, then DER bytewise descending. */
export function compareCertificates (a: { der: Uint8Array, notBefore: number }, b: { der: Uint8Array, notBefore: number }): number {
  if (a.notBefore !== b.notBefore) return b.notBefore - a.notBefore
  const length = Math.min(a.der.length, b.der.length)
  for (let i = 0; i < length; i++) if (a.der[i] !== b.der[i]) return (b.der[i] as number) - (a.der[i] as number)
  return b.der.length - a.der.length
}

export function checkGwList (gws: unknown): asserts gws is readonly Uint8Array[] {
  if (!Array.isArray(gws)) throw malformed('certificates takes an array of gw keys.')
  for (const gw of gws as unknown[]) checkGw(gw)
}

export function checkKeys (keys: unknown): asserts keys is readonly HistoryKey[] {
  if (!Array.isArray(keys)) throw malformed('get takes an array of keys.')
  for (const key of keys as unknown[]) checkKey(key)
}

/** Sensors listed after this one: undefined, or a sensor id. */
export function checkAfterSensor (after: unknown): asserts after is string | undefined {
  if (after !== undefined) checkSensor(after)
}

/** The first bucket a deleteBefore(beforeSeq) keeps: buckets ending at or before beforeSeq go. */
export function firstKeptBucket (beforeSeq: number): number {
  return Math.floor(beforeSeq / CHECKPOINT_BUCKET)
}

/** Bytewise order of two keys of equal length (gw keys). */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number)
  return a.length - b.length
}

/** [PER-1] order of history keys: by seq, then gw bytewise. */
export function compareKeys (a: HistoryKey, b: HistoryKey): number {
  return a.seq !== b.seq ? a.seq - b.seq : compareBytes(a.gw, b.gw)
}
