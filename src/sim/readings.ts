/**
 * Plausible readings from a seeded random source, so that a run can be repeated: each sensor
 * drifts around its own climate (a random walk, bounded), and every reading carries `n`, the
 * sensor's count of readings, so that a reader can tell which ones arrived.
 */

/** mulberry32: a small, fast 32-bit PRNG; uniform in [0, 1). Not for anything secret. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface Reading {
  n: number
  temperature: number
  humidity: number
  pressure: number
  battery: number
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits))
const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x))

/** One sensor's readings: `next()` gives the following one. */
export class ReadingSource {
  private readonly random: () => number
  private n = 0
  private temperature: number
  private humidity: number
  private pressure: number
  private battery: number

  constructor (random: () => number) {
    this.random = random
    this.temperature = 12 + random() * 14
    this.humidity = 35 + random() * 40
    this.pressure = 1000 + random() * 25
    this.battery = 3.6 + random() * 0.6
  }

  private step (scale: number): number {
    return (this.random() - 0.5) * 2 * scale
  }

  next (): Reading {
    this.temperature = clamp(this.temperature + this.step(0.3), -20, 45)
    this.humidity = clamp(this.humidity + this.step(1), 5, 100)
    this.pressure = clamp(this.pressure + this.step(0.4), 950, 1050)
    this.battery = Math.max(3.0, this.battery - this.random() * 0.0005)
    return {
      n: ++this.n,
      temperature: round(this.temperature, 2),
      humidity: round(this.humidity, 1),
      pressure: round(this.pressure, 1),
      battery: round(this.battery, 3)
    }
  }
}
