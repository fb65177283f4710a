/**
 * Prometheus metrics (prom-client): one Registry per program instance, never prom-client's global
 * default (tests run several gateways in one process), with Node's default process metrics.
 *
 * Most metrics are prom-client's own Counter and Gauge, read at scrape time with `collect()` from
 * the counters the services keep for their status. Two kinds are written on the reading path, where
 * the collector is tuned so that a reading leaves almost no garbage (docs/PERFORMANCE.md, "The
 * collector"): prom-client's `inc` and `observe` build a labels object and a hash string per call,
 * so these two are small metric objects of our own, registered in the same Registry and formatted
 * by it: `FixedCounter` and `FixedHistogram`, whose series are resolved once (`series(...)`) and
 * then counted into a Float64Array, with no allocation per call.
 */
import { Registry, collectDefaultMetrics } from 'prom-client'

export { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * prom-client's gauges named like counters: Prometheus's lint (`promtool check metrics`) refuses
 * them, and each has a labelled twin without the suffix (`nodejs_active_handles{type}`...).
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/** A Registry with Node's default metrics (process CPU and memory, event loop lag, GC, heap). */
export function createMetricsRegistry (): Registry {
  const register = new Registry()
  collectDefaultMetrics({ register })
  for (const name of MISNAMED_DEFAULTS) register.removeSingleMetric(name)
  return register
}

type Labels = Record<string, string>
interface MetricValue { value: number, labels: Labels, metricName?: string }
interface MetricObject { name: string, help: string, type: string, values: MetricValue[], aggregator: 'sum' }

interface FixedMetricInit<L extends string> {
  name: string
  help: string
  labelNames: readonly L[]
  registers: readonly Registry[]
}

/** One series of a FixedCounter: `inc` adds to a Float64Array slot, nothing is allocated. */
export interface CounterSeries {
  inc: (n?: number) => void
}

/** One series of a FixedHistogram: `observe` counts into preallocated buckets. */
export interface HistogramSeries {
  observe: (value: number) => void
}

abstract class FixedMetric<L extends string, S> {
  readonly name: string
  readonly help: string
  abstract readonly type: string
  readonly aggregator = 'sum' as const
  protected readonly labelNames: readonly L[]
  protected readonly all = new Map<string, { labels: Labels, series: S }>()

  constructor (init: FixedMetricInit<L>) {
    this.name = init.name
    this.help = init.help
    this.labelNames = init.labelNames
    for (const register of init.registers) register.registerMetric(this as never)
  }

  protected abstract create (): S

  /** The series for these label values (in labelNames order), made on first use: resolve it once, off the hot path. */
  series (...values: string[]): S {
    if (values.length !== this.labelNames.length) throw new TypeError(`${this.name} takes ${this.labelNames.length} label values`)
    const key = values.join('\u0000')
    let entry = this.all.get(key)
    if (entry === undefined) {
      const labels: Labels = {}
      this.labelNames.forEach((label, i) => { labels[label] = values[i] as string })
      entry = { labels, series: this.create() }
      this.all.set(key, entry)
    }
    return entry.series
  }

  abstract get (): MetricObject

  reset (): void {
    this.all.clear()
  }
}

class CounterSlot implements CounterSeries {
  readonly value = new Float64Array(1)
  inc (n = 1): void { this.value[0] = (this.value[0] as number) + n }
}

/** A counter whose series are resolved once and counted without allocation. */
export class FixedCounter<L extends string = string> extends FixedMetric<L, CounterSlot> {
  readonly type = 'counter'
  protected create (): CounterSlot { return new CounterSlot() }
  get (): MetricObject {
    const values: MetricValue[] = []
    for (const { labels, series } of this.all.values()) values.push({ value: series.value[0] as number, labels })
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}

class HistogramSlot implements HistogramSeries {
  private readonly bounds: Float64Array
  /** One count per bucket (the last is +Inf, non-cumulative), then the sum and the count. */
  readonly counts: Float64Array
  constructor (bounds: Float64Array) {
    this.bounds = bounds
    this.counts = new Float64Array(bounds.length + 3)
  }

  observe (value: number): void {
    const bounds = this.bounds
    const n = bounds.length
    let i = 0
    while (i < n && value > (bounds[i] as number)) i++
    const counts = this.counts
    counts[i] = (counts[i] as number) + 1
    counts[n + 1] = (counts[n + 1] as number) + value
    counts[n + 2] = (counts[n + 2] as number) + 1
  }
}

/** A histogram (cumulative buckets, sum, count) whose series are resolved once and observed without allocation. */
export class FixedHistogram<L extends string = string> extends FixedMetric<L, HistogramSlot> {
  readonly type = 'histogram'
  private readonly bounds: Float64Array

  constructor (init: FixedMetricInit<L> & { buckets: readonly number[] }) {
    super(init)
    const sorted = [...init.buckets].sort((a, b) => a - b)
    if (sorted.length === 0 || sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) throw new TypeError(`${init.name}: buckets must be distinct finite numbers`)
    this.bounds = Float64Array.from(sorted)
  }

  protected create (): HistogramSlot { return new HistogramSlot(this.bounds) }

  get (): MetricObject {
    const values: MetricValue[] = []
    const n = this.bounds.length
    for (const { labels, series } of this.all.values()) {
      let cumulative = 0
      for (let i = 0; i < n; i++) {
        cumulative += series.counts[i] as number
        values.push({ value: cumulative, labels: { ...labels, le: String(this.bounds[i]) }, metricName: `${this.name}_bucket` })
      }
      const count = series.counts[n + 2] as number
      values.push({ value: count, labels: { ...labels, le: '+Inf' }, metricName: `${this.name}_bucket` })
      values.push({ value: series.counts[n + 1] as number, labels, metricName: `${this.name}_sum` })
      values.push({ value: count, labels, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }
}
