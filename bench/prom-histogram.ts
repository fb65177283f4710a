/**
 * Quantiles of a Prometheus histogram over an interval: two scrapes of the text exposition format
 * (before and after), the named histogram's cumulative buckets subtracted, and the quantile
 * interpolated linearly inside its bucket, as PromQL's histogram_quantile does. Used by
 * bench/stream.ts to say which stage of a reading's path its latency comes from, with the
 * gateway's own histograms (src/gateway/metrics.ts), so it reads to the buckets' resolution.
 */

/** The cumulative bucket counts of `name` whose labels include every one of `labels`: upper bound (s) → count. */
export function parseBuckets (text: string, name: string, labels: Record<string, string> = {}): Map<number, number> {
  const buckets = new Map<number, number>()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue
    const close = line.lastIndexOf('}')
    const labelText = line.slice(name.length + '_bucket{'.length, close)
    const found = Object.fromEntries([...labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(m => [m[1], m[2]]))
    if (Object.entries(labels).some(([k, v]) => found[k] !== v) || found.le === undefined) continue
    const le = found.le === '+Inf' ? Infinity : Number(found.le)
    const count = Number(line.slice(close + 1).trim().split(/\s+/)[0])
    if (Number.isNaN(le) || Number.isNaN(count)) continue
    buckets.set(le, (buckets.get(le) ?? 0) + count)
  }
  return buckets
}

/**
 * The q-quantile (0..1) of the observations made between `before` and `after`, in the
 * histogram's unit; NaN without any. Above the highest finite bound it answers that bound.
 */
export function intervalQuantile (before: Map<number, number>, after: Map<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b)
  const counts = bounds.map(b => (after.get(b) ?? 0) - (before.get(b) ?? 0))
  const total = counts.at(-1) ?? 0
  if (total <= 0) return NaN
  const rank = q * total
  for (let i = 0; i < bounds.length; i++) {
    const count = counts[i] as number
    if (count < rank) continue
    const upper = bounds[i] as number
    const lower = i === 0 ? 0 : bounds[i - 1] as number
    if (upper === Infinity) return lower
    const below = i === 0 ? 0 : counts[i - 1] as number
    const inBucket = count - below
    return inBucket <= 0 ? upper : lower + (upper - lower) * (rank - below) / inBucket
  }
  return NaN
}
