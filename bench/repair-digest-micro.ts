/**
 * Micro-benchmark "repair-digest-micro": the CPU an idle persistence peer spends on repair digests
 * ([PER-31]) per round, with no network: a sqlite engine holding `--sensors` sensors × 48 h of
 * readings (one per `--period` s each, one collector, one checkpoint per minute), then rounds in
 * which each sensor gets one new reading (as between two real rounds) and its digest over the
 * recent window (48 buckets and the next) is computed 2 × (R - 1) times: this peer's own side
 * for each other replica and the answer to each one's `digest` op. Rounds alternate between
 * bucketDigests straight on the engine (before digest-cache.ts) and through the digest cache.
 *
 * Run: `npx node bench/repair-digest-micro.ts [--sensors 140] [--period 20] [--rounds 6] [--replicas 3]`;
 * prints one JSON line per round and a summary (ms of CPU per round: user + system, and wall).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CHECKPOINT_BUCKET } from '../src/core/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createDigestCache } from '../src/gateway/persistence/digest-cache.ts'
import { createSqliteEngine } from '../src/gateway/persistence/engine/sqlite.ts'
import { REPAIR_BUCKET, bucketDigests } from '../src/gateway/persistence/repair-digest.ts'
import type { StoredCheckpoint, StoredReading } from '../src/gateway/persistence/engine/types.ts'

const { values: args } = parseArgs({ options: { sensors: { type: 'string', default: '140' }, period: { type: 'string', default: '20' }, rounds: { type: 'string', default: '6' }, replicas: { type: 'string', default: '3' } } })
const SENSORS = Number(args.sensors)
const PERIOD_US = Number(args.period) * 1_000_000
const ROUNDS = Number(args.rounds)
const CALLS = 2 * (Number(args.replicas) - 1)
const suite = createNodeCryptoSuite()
const dir = mkdtempSync(join(tmpdir(), 'gm-repair-digest-'))
const raw = createSqliteEngine({ path: join(dir, 'persistence.db'), sync: 'normal' })
const cache = createDigestCache({ engine: raw, suite })
const engine = cache.engine
const sensors = Array.from({ length: SENSORS }, (_, i) => `sensor-${String(i).padStart(4, '0')}`)
const gw = new Uint8Array(32).fill(0x42)
const envelope = (seq: number): Uint8Array => new Uint8Array(256).fill(seq & 0xff)
let nowUs = Date.now() * 1000

try {
  await engine.open()
  const fill0 = performance.now()
  let readings = 0
  for (const sensor of sensors) {
    const rows: StoredReading[] = []
    const cps: StoredCheckpoint[] = []
    for (let seq = nowUs - 48 * 3600e6; seq < nowUs; seq += PERIOD_US) rows.push({ sensor, gw, seq, envelope: envelope(seq) })
    for (let b = Math.floor((nowUs - 48 * 3600e6) / CHECKPOINT_BUCKET); b < Math.floor(nowUs / CHECKPOINT_BUCKET); b++) cps.push({ sensor, gw, bucket: b, part: 0, bytes: new Uint8Array(120).fill(b & 0xff) })
    for (let at = 0; at < rows.length; at += 4096) await engine.append(rows.slice(at, at + 4096))
    for (let at = 0; at < cps.length; at += 4096) await engine.putCheckpoints(cps.slice(at, at + 4096))
    readings += rows.length
  }
  console.log(JSON.stringify({ filled: { sensors: SENSORS, readings, ms: Math.round(performance.now() - fill0), bytes: await engine.sizeBytes() } }))

  const results: Record<'uncached' | 'cached', number[]> = { uncached: [], cached: [] }
  for (let round = 0; round < ROUNDS * 2; round++) {
    const mode = round % 2 === 0 ? 'uncached' : 'cached'
    // what arrived since the last round: one reading per sensor (and the clock moves on)
    nowUs += PERIOD_US
    for (const sensor of sensors) await engine.append([{ sensor, gw, seq: nowUs, envelope: envelope(nowUs) }])
    const current = Math.floor(nowUs / REPAIR_BUCKET)
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    let buckets = 0
    for (const sensor of sensors) {
      for (let i = 0; i < CALLS; i++) {
        const ds = mode === 'cached' ? await cache.digests(sensor, current - 47, current + 1) : await bucketDigests(suite, raw, sensor, current - 47, current + 1)
        buckets += ds.length
      }
    }
    const cpu = process.cpuUsage(c0)
    const cpuMs = (cpu.user + cpu.system) / 1000
    if (round >= 2) results[mode].push(cpuMs) // the first pair warms up (and fills the cache)
    console.log(JSON.stringify({ round, mode, cpuMs: Math.round(cpuMs), wallMs: Math.round(performance.now() - t0), buckets, cache: cache.status() }))
  }
  const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
  console.log(JSON.stringify({ summary: { sensors: SENSORS, digestsPerRound: SENSORS * CALLS, uncachedMedianCpuMs: Math.round(median(results.uncached)), cachedMedianCpuMs: Math.round(median(results.cached) * 10) / 10, rounds: results } }))
} finally {
  await engine.close()
  rmSync(dir, { recursive: true, force: true })
}
