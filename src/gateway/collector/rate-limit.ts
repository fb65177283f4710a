/** [COL-9] A token bucket per sensor: `perSecond` sustained, `burst` at once. */
import type { RateLimit } from './types.ts'

interface Bucket { tokens: number, at: number }

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly perMs: number
  private readonly burst: number
  private readonly now: () => number
  private sweptAt = 0

  constructor (limit: RateLimit, now: () => number = Date.now) {
    this.perMs = limit.perSecond / 1000
    this.burst = limit.burst
    this.now = now
  }

  /** Takes `count` tokens; false (taking none) when the bucket holds fewer. */
  take (sensorId: string, count = 1): boolean {
    const t = this.now()
    let bucket = this.buckets.get(sensorId)
    if (bucket === undefined) {
      bucket = { tokens: this.burst, at: t }
      this.buckets.set(sensorId, bucket)
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (t - bucket.at) * this.perMs)
      bucket.at = t
    }
    if (t - this.sweptAt > 10_000) this.sweep(t)
    if (bucket.tokens < count) return false
    bucket.tokens -= count
    return true
  }

  /** Seconds until `count` tokens are available (for Retry-After). */
  retryAfter (sensorId: string, count = 1): number {
    const bucket = this.buckets.get(sensorId)
    if (bucket === undefined || this.perMs <= 0) return 1
    return Math.max(1, Math.ceil((count - bucket.tokens) / this.perMs / 1000))
  }

  /** Drops buckets that have refilled: a new bucket would be the same. */
  private sweep (t: number): void {
    this.sweptAt = t
    for (const [id, bucket] of this.buckets) {
      if (bucket.tokens + (t - bucket.at) * this.perMs >= this.burst) this.buckets.delete(id)
    }
  }
}
