/**
 * What a simulation measured, per protocol: readings sent, acknowledged, refused by the collector
 * (by error code) and failed without an answer (by cause), and the response times of the
 * acknowledged ones. Percentiles are exact: every time is kept and sorted when summarised (a run
 * of the paper's size holds a few hundred thousand numbers).
 */

export type Protocol = 'mqtt' | 'http'

export interface TimeSummary {
  /** Acknowledged readings the times are of. */
  n: number
  /** Milliseconds; null without any acknowledged reading. */
  mean: number | null
  /** Sample standard deviation (n - 1), ms. */
  sd: number | null
  p50: number | null
  p99: number | null
  max: number | null
}

export interface ProtocolSummary extends TimeSummary {
  sensors: number
  sent: number
  acknowledged: number
  /** The collector answered with an error: by its code (`GM_ERR_...`, `HTTP 500`, `CONNACK 5`). */
  refused: Record<string, number>
  /** No answer: by cause (`ECONNREFUSED`, `timeout`, `not connected`, ...). */
  errors: Record<string, number>
  /** Sent and still unanswered when the run ended. */
  pending: number
  /** QoS 0 publishes: never acknowledged; their time is the write to the socket. */
  unacknowledged?: number
}

/** The nearest-rank percentile of sorted values (q in 0..1). */
export function percentile (sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1] as number
}

export function summarise (times: ArrayLike<number>): TimeSummary {
  const n = times.length
  if (n === 0) return { n: 0, mean: null, sd: null, p50: null, p99: null, max: null }
  const sorted = Float64Array.from(times).sort()
  let sum = 0
  for (const t of sorted) sum += t
  const mean = sum / n
  let squares = 0
  for (const t of sorted) squares += (t - mean) ** 2
  return { n, mean, sd: n > 1 ? Math.sqrt(squares / (n - 1)) : 0, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted[n - 1] as number }
}

/** Times kept in a growable Float64Array (a plain array of numbers costs twice the memory). */
class Times {
  private data = new Float64Array(1024)
  length = 0
  push (t: number): void {
    if (this.length === this.data.length) {
      const grown = new Float64Array(this.data.length * 2)
      grown.set(this.data)
      this.data = grown
    }
    this.data[this.length++] = t
  }

  view (from = 0): Float64Array {
    return this.data.subarray(from, this.length)
  }
}

function bump (counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1
}

export class ProtocolRecorder {
  readonly protocol: Protocol
  sensors = 0
  sent = 0
  acknowledged = 0
  unacknowledged = 0
  readonly refused: Record<string, number> = {}
  readonly errors: Record<string, number> = {}
  private readonly times = new Times()
  /** Where the current progress window starts in `times`. */
  private windowFrom = 0

  constructor (protocol: Protocol) {
    this.protocol = protocol
  }

  get failed (): number {
    let total = 0
    for (const n of Object.values(this.refused)) total += n
    for (const n of Object.values(this.errors)) total += n
    return total
  }

  get pending (): number {
    return this.sent - this.acknowledged - this.unacknowledged - this.failed
  }

  onSent (): void { this.sent++ }
  onAcknowledged (ms: number): void { this.acknowledged++; this.times.push(ms) }
  /** A QoS 0 publish written to the socket: `ms` is the time of the write. */
  onWritten (ms: number): void { this.unacknowledged++; this.times.push(ms) }
  onRefused (code: string): void { bump(this.refused, code) }
  onError (cause: string): void { bump(this.errors, cause) }

  /** The times since the last call (the live display's current p50/p99), and starts a new window. */
  takeWindow (): TimeSummary {
    const summary = summarise(this.times.view(this.windowFrom))
    this.windowFrom = this.times.length
    return summary
  }

  summary (): ProtocolSummary {
    const s: ProtocolSummary = {
      sensors: this.sensors,
      sent: this.sent,
      acknowledged: this.acknowledged,
      refused: { ...this.refused },
      errors: { ...this.errors },
      pending: this.pending,
      ...summarise(this.times.view())
    }
    if (this.unacknowledged > 0) s.unacknowledged = this.unacknowledged
    return s
  }
}
