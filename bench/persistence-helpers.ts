/**
 * Pure helpers of the persistence benchmark (bench/persistence.ts): the spread of repeated
 * measurements, nearest-rank quantiles, and how a run of seqs is cut into checkpoints ([PER-10]:
 * one per bucket, at most MAX_CHECKPOINT_SEQS seqs each) and into store requests.
 */
import { MAX_CHECKPOINT_SEQS, checkpointBucket } from '../src/core/index.ts'

export interface Spread { n: number, min: number, median: number, max: number }

/** The nearest-rank q-quantile of `values` (NaN when empty); the input is not changed. */
export function quantile (values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

/** Smallest, median (nearest rank) and largest of repeated measurements. */
export function spread (values: readonly number[]): Spread {
  if (values.length === 0) return { n: 0, min: Number.NaN, median: Number.NaN, max: Number.NaN }
  return { n: values.length, min: Math.min(...values), median: quantile(values, 0.5), max: Math.max(...values) }
}

/** "min-max (median m)" of a spread, with `digits` decimals. */
export function formatSpread (s: Spread, digits = 0): string {
  if (s.n === 0) return '-'
  const f = (x: number): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }).replaceAll(',', ' ')
  return s.n === 1 ? f(s.median) : `${f(s.min)}-${f(s.max)} (median ${f(s.median)})`
}

/** [PER-10] Increasing seqs grouped as a collector signs them: one checkpoint per bucket, split at MAX_CHECKPOINT_SEQS. */
export function checkpointGroups (seqs: readonly number[]): Array<{ bucket: number, seqs: number[] }> {
  const groups: Array<{ bucket: number, seqs: number[] }> = []
  for (const seq of seqs) {
    const bucket = checkpointBucket(seq)
    const last = groups[groups.length - 1]
    if (last !== undefined && last.bucket > bucket) throw new Error('seqs must increase')
    if (last !== undefined && last.bucket === bucket && last.seqs.length < MAX_CHECKPOINT_SEQS) last.seqs.push(seq)
    else groups.push({ bucket, seqs: [seq] })
  }
  return groups
}

/** Consecutive slices of at most `size` items. */
export function chunks<T> (items: readonly T[], size: number): T[][] {
  if (!(size >= 1)) throw new Error('size must be at least 1')
  const out: T[][] = []
  for (let at = 0; at < items.length; at += size) out.push(items.slice(at, at + size))
  return out
}
