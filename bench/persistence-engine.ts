/**
 * Micro-benchmark "persistence-engine": the storage engines' append rate ([PER-20]) beside the
 * raw rate of the store under them, same rows, same run.
 *
 *   (a) raw SQLite: plain INSERTs of (sensor, seq, gw, envelope) rows, 4 096 per transaction, on
 *       node:sqlite with the engine's schema and pragmas (WAL, synchronous FULL), no engine code;
 *   (b) the sqlite engine's `append` of the same 4 096-reading batches;
 *   (c) the InfluxDB engine's `append`, when given a server (`--influx-url URL`, or `--influxd`
 *       to start a throw-away local influxd with test/support/influxd.ts).
 *
 * Run alone: `npx node bench/persistence-engine.ts [--quick] [--influx-url URL | --influxd]`;
 * prints JSON, then a markdown table (also written under bench/results/).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { createInfluxEngine } from '../src/gateway/persistence/engine/influxdb.ts'
import { createSqliteEngine } from '../src/gateway/persistence/engine/sqlite.ts'
import type { StorageEngine, StoredReading } from '../src/gateway/persistence/engine/types.ts'
import { row, writeResults, type Measurement, type Row } from './harness.ts'

export interface PersistenceEngineOptions {
  quick?: boolean
  /** An InfluxDB 1.x server to measure the influx engine on. */
  influxUrl?: string
  /** Start a local influxd for the run (test/support/influxd.ts). */
  influxd?: boolean
}

export interface AppendRate { readingsPerSec: number, usPerReading: number, readings: number, batches: number }

export interface PersistenceEngineResult {
  batch: number
  envelopeBytes: number
  rawSqlite: AppendRate
  sqliteEngine: AppendRate
  influxEngine?: AppendRate
  /** sqlite engine rate / raw SQLite rate. */
  sqliteEngineVsRaw: number
  influxEngineVsRaw?: number
}

const BATCH = 4096
const ENVELOPE_BYTES = 600
const SENSORS = 16

/** Batches of readings: SENSORS sensors, 4 gws, seqs 1 ms apart from a fixed start. */
function makeBatches (count: number): StoredReading[][] {
  const gws = Array.from({ length: 4 }, () => new Uint8Array(randomBytes(32)))
  const envelope = new Uint8Array(randomBytes(ENVELOPE_BYTES))
  let n = 0
  return Array.from({ length: count }, () => Array.from({ length: BATCH }, () => {
    const i = n++
    return { sensor: `bench-sensor-${i % SENSORS}`, gw: gws[i % 4]!, seq: 1_764_000_000_000_000 + Math.floor(i / SENSORS) * 1000, envelope }
  }))
}

/** Appends batches until `seconds` have passed (at least 2 batches), after one warm-up batch. */
async function rate (batches: StoredReading[][], seconds: number, append: (batch: StoredReading[]) => Promise<unknown> | unknown): Promise<AppendRate> {
  await append(batches[0]!)
  let used = 1
  const started = performance.now()
  while (used < batches.length && (used < 3 || performance.now() - started < seconds * 1000)) await append(batches[used++]!)
  const elapsed = performance.now() - started
  const readings = (used - 1) * BATCH
  return { readingsPerSec: readings / (elapsed / 1000), usPerReading: elapsed * 1000 / readings, readings, batches: used - 1 }
}

/** Raw node:sqlite INSERTs with the engine's schema and pragmas, no engine code (also bench/persistence.ts's baseline). */
export function rawSqlite (dir: string, file = 'raw.db'): { append: (batch: StoredReading[]) => void, close: () => void } {
  const db = new DatabaseSync(join(dir, file))
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;')
  db.exec('CREATE TABLE readings (sensor TEXT NOT NULL, seq INTEGER NOT NULL, gw BLOB NOT NULL, envelope BLOB NOT NULL, PRIMARY KEY (sensor, seq, gw)) WITHOUT ROWID')
  const insert = db.prepare('INSERT INTO readings (sensor, seq, gw, envelope) VALUES (?, ?, ?, ?)')
  return {
    append: batch => {
      db.exec('BEGIN')
      for (const r of batch) insert.run(r.sensor, r.seq, r.gw, r.envelope)
      db.exec('COMMIT')
    },
    close: () => { db.close() }
  }
}

async function engineRate (engine: StorageEngine, batches: StoredReading[][], seconds: number): Promise<AppendRate> {
  await engine.open()
  try {
    return await rate(batches, seconds, async batch => {
      const { stored } = await engine.append(batch)
      if (stored !== batch.length) throw new Error(`the ${engine.name} engine stored ${stored} of ${batch.length}`)
    })
  } finally {
    await engine.close()
  }
}

function asMeasurement (name: string, r: AppendRate): Measurement {
  return { name, usPerOp: r.usPerReading, opsPerSec: r.readingsPerSec, iterations: r.readings }
}

export async function run (options: PersistenceEngineOptions = {}): Promise<PersistenceEngineResult> {
  const seconds = options.quick === true ? 1 : 4
  const dir = mkdtempSync(join(tmpdir(), 'gm-bench-engine-'))
  let influxd: { url: string, stop: () => Promise<void> } | undefined
  try {
    const batches = makeBatches(options.quick === true ? 40 : 400)
    const raw = rawSqlite(dir)
    const rawRate = await rate(batches, seconds, raw.append)
    raw.close()
    const sqliteRate = await engineRate(createSqliteEngine({ path: join(dir, 'persistence.db') }), batches, seconds)
    let influxUrl = options.influxUrl
    if (influxUrl === undefined && options.influxd === true) {
      const { startInfluxd } = await import('../test/support/influxd.ts')
      influxd = await startInfluxd()
      influxUrl = influxd.url
    }
    const influxRate = influxUrl === undefined
      ? undefined
      : await engineRate(createInfluxEngine({ url: influxUrl, database: `gm_bench_${Date.now()}` }), batches, seconds)
    const result: PersistenceEngineResult = {
      batch: BATCH,
      envelopeBytes: ENVELOPE_BYTES,
      rawSqlite: rawRate,
      sqliteEngine: sqliteRate,
      influxEngine: influxRate,
      sqliteEngineVsRaw: sqliteRate.readingsPerSec / rawRate.readingsPerSec,
      influxEngineVsRaw: influxRate === undefined ? undefined : influxRate.readingsPerSec / rawRate.readingsPerSec
    }
    console.log(JSON.stringify(result, null, 2))
    const baseline = asMeasurement('raw node:sqlite INSERT, 4 096 per transaction', rawRate)
    const rows: Row[] = [row('sqlite engine append (per reading, 4 096 per call)', asMeasurement('sqlite engine append', sqliteRate), baseline)]
    if (influxRate !== undefined) rows.push(row('influxdb engine append (per reading, 4 096 per call)', asMeasurement('influxdb engine append', influxRate), baseline, 'includes the duplicate check (one query per batch) and the HTTP write'))
    writeResults('persistence-engine', 'Persistence storage engines: append rate', rows, { result })
    return result
  } finally {
    await influxd?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

export function options (argv: string[]): PersistenceEngineOptions {
  const at = argv.indexOf('--influx-url')
  return { quick: argv.includes('--quick'), influxUrl: at >= 0 ? argv[at + 1] : undefined, influxd: argv.includes('--influxd') }
}

if (import.meta.main) await run(options(process.argv.slice(2)))
