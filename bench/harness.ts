/**
 * Shared benchmark plumbing: time an operation for a while after a warm-up, and write results
 * as JSON plus a markdown table under bench/results/. Figures are reported as ratios against a
 * baseline measured in the same run, never as absolute pass/fail thresholds.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { spawn } from 'node:child_process'
import { constants as osConstants, cpus } from 'node:os'
import { choosesV8PoolSize, chosenV8PoolSize, v8PoolArgs } from '../src/platform/v8-pool.ts'

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
  return { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, v8PoolSize: v8PoolSize(), date: new Date().toISOString() }
}

/** This process's `--v8-pool-size` (from its arguments or NODE_OPTIONS), or 'default'. */
export function v8PoolSize (): number | 'default' {
  return chosenV8PoolSize(process.execArgv) ?? 'default'
}

/**
 * The benchmarks measure gateways as they are started ([platform/v8-pool.ts]): a process not
 * given a V8 pool size runs itself again with the recommended one and exits with its status.
 * Returns only in the process that is to run.
 */
export async function withGatewayV8Pool (): Promise<void> {
  if (choosesV8PoolSize(process.execArgv)) return
  const child = spawn(process.execPath, [...process.execArgv, ...v8PoolArgs(), ...process.argv.slice(1)], { stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => { child.kill(signal) })
  const code = await new Promise<number>(resolve => { child.on('close', (status, signal) => { resolve(status ?? (signal === null ? 1 : 128 + (osConstants.signals[signal] ?? 0))) }) })
  process.exit(code)
}

/**
 * The value of option `name` in `argv` (undefined when absent), which must be a positive number
 * (an integer if asked): anything else is refused before any phase runs (GM_ERR_CLI_USAGE, exit 2).
 */
export function numberOption (argv: string[], name: string, integer: boolean): number | undefined {
  const at = argv.indexOf(name)
  if (at < 0) return undefined
  const value = Number(argv[at + 1])
  if (!(value > 0) || (integer && !Number.isSafeInteger(value))) {
    console.error(`${name} takes a positive ${integer ? 'integer' : 'number'} (GM_ERR_CLI_USAGE)`)
    process.exit(2)
  }
  return value
}

export function writeResults (name: string, title: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL(`${name}.json`, dir), JSON.stringify({ title, environment: environment(), rows, ...extra }, null, 2) + '\n')
  const lines = [
    `# ${title}`, '',
    `Node ${process.version}, ${cpus().length} cores, V8 pool ${v8PoolSize()}. Ratio = gatemesh time / baseline time per operation, both measured in this run.`, '',
    '| scenario | gatemesh µs/op | ops/s | baseline | baseline µs/op | ratio |',
    '|---|---:|---:|---|---:|---:|',
    ...rows.map(r => `| ${r.scenario} | ${r.measured.usPerOp.toFixed(1)} | ${Math.round(r.measured.opsPerSec)} | ${r.baseline.name} | ${r.baseline.usPerOp.toFixed(1)} | ${r.ratio.toFixed(2)} |`)
  ]
  const notes = rows.filter(r => r.note !== undefined).map(r => `- ${r.scenario}: ${r.note}`)
  if (notes.length > 0) lines.push('', ...notes)
  writeFileSync(new URL(`${name}.md`, dir), lines.join('\n') + '\n')
  console.log(lines.join('\n') + '\n')
}
