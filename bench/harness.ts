/**
 * Shared benchmark plumbing: time an operation for a while after a warm-up, and write results
 * as JSON plus a markdown table under bench/results/. Figures are reported as ratios against a
 * baseline measured in the same run, never as absolute pass/fail thresholds.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'

export interface Measurement {
  name: string
  /** Mean microseconds per operation. */
  usPerOp: number
  opsPerSec: number
  iterations: number
}

export async function measure (name: string, op: () => unknown, options: { seconds?: number, warmup?: number } = {}): Promise<Measurement> {
  const warmup = options.warmup ?? 500
  for (let i = 0; i < warmup; i++) await op()
  const budgetMs = (options.seconds ?? 1) * 1000
  let iterations = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < budgetMs) {
    for (let i = 0; i < 100; i++) await op()
    iterations += 100
    elapsed = performance.now() - started
  }
  const usPerOp = (elapsed * 1000) / iterations
  return { name, usPerOp, opsPerSec: 1e6 / usPerOp, iterations }
}

export interface Row {
  scenario: string
  measured: Measurement
  baseline: Measurement
  /** measured / baseline time per operation: 1.0 is as fast as the raw primitives. */
  ratio: number
  note?: string
}

export function row (scenario: string, measured: Measurement, baseline: Measurement, note?: string): Row {
  return { scenario, measured, baseline, ratio: measured.usPerOp / baseline.usPerOp, note }
}

export function environment (): Record<string, unknown> {
  return { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() }
}

export function writeResults (name: string, title: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL(`${name}.json`, dir), JSON.stringify({ title, environment: environment(), rows, ...extra }, null, 2) + '\n')
  const lines = [
    `# ${title}`, '',
    `Node ${process.version}, ${cpus().length} cores. Ratio = gatemesh time / baseline time per operation, both measured in this run.`, '',
    '| scenario | gatemesh µs/op | ops/s | baseline | baseline µs/op | ratio |',
    '|---|---:|---:|---|---:|---:|',
    ...rows.map(r => `| ${r.scenario} | ${r.measured.usPerOp.toFixed(1)} | ${Math.round(r.measured.opsPerSec)} | ${r.baseline.name} | ${r.baseline.usPerOp.toFixed(1)} | ${r.ratio.toFixed(2)} |`)
  ]
  const notes = rows.filter(r => r.note !== undefined).map(r => `- ${r.scenario}: ${r.note}`)
  if (notes.length > 0) lines.push('', ...notes)
  writeFileSync(new URL(`${name}.md`, dir), lines.join('\n') + '\n')
  console.log(lines.join('\n') + '\n')
}
