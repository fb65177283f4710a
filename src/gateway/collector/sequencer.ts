/**
 * [COL-6] Per-sensor sequence numbers that are strictly increasing on one gateway and comparable
 * across gateways: seq = ts * 1000 + a counter within the millisecond, and never less than the
 * previous seq + 1 (should the clock step back, or more than 1000 readings share a millisecond).
 * Below 2^53 until the year 2255.
 */
export class Sequencer {
  private readonly last = new Map<string, number>()
  private sweptAt = 0

  /** The next seq for this sensor at time `ts` (ms). */
  next (sensorId: string, ts: number): number {
    const base = ts * 1000
    const previous = this.last.get(sensorId)
    const seq = previous === undefined || previous < base ? base : previous + 1
    this.last.set(sensorId, seq)
    if (ts - this.sweptAt > 1000) this.sweep(base)
    return seq
  }

  /** Forgets sensors whose last seq is below the current ms: next() gives them the same answer without it. */
  private sweep (base: number): void {
    this.sweptAt = base / 1000
    for (const [id, seq] of this.last) if (seq < base) this.last.delete(id)
  }
}
