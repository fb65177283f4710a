/**
 * Scenario "dht": DHT put and get latency (p50, p99) and the number of peers a lookup contacts,
 * at 7, 25 and 50 gateways in one run. Every gateway is its own process on 127.0.0.1 (the real
 * `gatemesh gateway start`, certificates from an in-run CA); operations go through each
 * gateway's local admin HTTP, so latencies include one loopback HTTP round trip.
 * Writes bench/results/dht.json and bench/results/dht.md.
 *
 *   node bench/dht.ts [--quick] [--sizes 7,25,50] [--ops N]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { accountRecord, newIdentity } from '../test/overlay/records.ts'
import { createTestCa, dialable, getRecord, putRecord, removeAll, seedGateway, startGateway, status, tempDir } from '../test/overlay/helpers.ts'
import type { Proc } from '../test/overlay/helpers.ts'

export interface Stats { n: number, p50: number, p99: number, mean: number, max: number }

export interface SizeResult {
  peers: number
  startupSeconds: number
  routingTableMean: number
  put: { latencyMs: Stats, contacted: Stats, accepted: Stats }
  get: { latencyMs: Stats, contacted: Stats }
  failures: number
}

function stats (values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), mean, max: sorted[sorted.length - 1] ?? NaN }
}

async function measureSize (peers: number, ops: number): Promise<SizeResult> {
  const ca = await createTestCa()
  const dirs: string[] = []
  const gws: Proc[] = []
  const started = performance.now()
  try {
    for (let i = 0; i < peers; i++) {
      const d = await tempDir('gm-bench-')
      dirs.push(d)
      await seedGateway(d, ca)
    }
    gws.push(await startGateway({ data: dirs[0] as string, fast: false }))
    const boot = [dialable(gws[0]!.ready)]
    // start in small batches: two cores cannot start fifty Node processes at once
    for (let i = 1; i < peers; i += 4) {
      const batch = dirs.slice(i, i + 4)
      gws.push(...await Promise.all(batch.map(async d => await startGateway({ data: d, bootstrap: boot, fast: false }))))
      if (gws.length === 4) boot.push(...gws.slice(1, 4).map(g => dialable(g.ready)))
    }
    const want = Math.min(peers - 1, 20)
    const deadline = Date.now() + 90_000
    let tables: number[] = []
    while (Date.now() < deadline) {
      tables = await Promise.all(gws.map(async g => (await status(g.ready.admin as string)).routingTable.length))
      if (tables.every(n => n >= want)) break
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    const startupSeconds = (performance.now() - started) / 1000

    const putLatency: number[] = []; const putContacted: number[] = []; const putAccepted: number[] = []
    const getLatency: number[] = []; const getContacted: number[] = []
    let failures = 0
    for (let op = 0; op < ops; op++) {
      const who = await newIdentity()
      const key = `/gm-account/${who.pseudonym}`
      const value = await accountRecord(who, 1)
      const writer = gws[op % peers] as Proc
      const reader = gws[(op * 7 + 3) % peers === op % peers ? (op + 1) % peers : (op * 7 + 3) % peers] as Proc
      let t = performance.now()
      const put = await putRecord(writer.ready.admin as string, key, value)
      if (put.status !== 200) { failures++; continue }
      putLatency.push(performance.now() - t)
      putContacted.push(put.body.contacted as number)
      putAccepted.push(put.body.accepted as number)
      t = performance.now()
      const got = await getRecord(reader.ready.admin as string, key)
      if (got.status !== 200) { failures++; continue }
      getLatency.push(performance.now() - t)
      getContacted.push(got.contacted as number)
    }
    return {
      peers,
      startupSeconds,
      routingTableMean: tables.reduce((a, b) => a + b, 0) / Math.max(1, tables.length),
      put: { latencyMs: stats(putLatency), contacted: stats(putContacted), accepted: stats(putAccepted) },
      get: { latencyMs: stats(getLatency), contacted: stats(getContacted) },
      failures
    }
  } finally {
    await Promise.all(gws.map(async g => await g.stop()))
    await removeAll(dirs)
  }
}

function markdown (results: SizeResult[], ops: number): string {
  const f = (x: number): string => Number.isFinite(x) ? x.toFixed(1) : '-'
  return [
    '# DHT put and get', '',
    `Node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB. Every gateway a separate process on 127.0.0.1;`,
    `${ops} puts (each at a different gateway) and ${ops} gets (at another gateway) per size; latency includes one loopback HTTP round trip to the admin surface.`,
    'Contacted = distinct peers the lookup sent a DHT query to.', '',
    '| peers | put p50 ms | put p99 ms | get p50 ms | get p99 ms | put contacted (mean / max) | get contacted (mean / max) | stored at (mean) | mean routing table | failures |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(r => `| ${r.peers} | ${f(r.put.latencyMs.p50)} | ${f(r.put.latencyMs.p99)} | ${f(r.get.latencyMs.p50)} | ${f(r.get.latencyMs.p99)} | ${f(r.put.contacted.mean)} / ${r.put.contacted.max} | ${f(r.get.contacted.mean)} / ${r.get.contacted.max} | ${f(r.put.accepted.mean)} | ${f(r.routingTableMean)} | ${r.failures} |`),
    ''
  ].join('\n')
}

export async function run (options: { quick?: boolean, sizes?: number[], ops?: number } = {}): Promise<SizeResult[]> {
  const sizes = options.sizes ?? [7, 25, 50]
  const ops = options.ops ?? (options.quick === true ? 10 : 50)
  const results: SizeResult[] = []
  for (const peers of sizes) {
    console.log(`dht: ${peers} peers ...`)
    results.push(await measureSize(peers, ops))
  }
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  const environment = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() }
  writeFileSync(new URL('dht.json', dir), JSON.stringify({ title: 'DHT put and get', environment, ops, results }, null, 2) + '\n')
  const md = markdown(results, ops)
  writeFileSync(new URL('dht.md', dir), md)
  console.log(md)
  return results
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, sizes: { type: 'string' }, ops: { type: 'string' } } })
  await run({
    quick: values.quick,
    sizes: values.sizes?.split(',').map(Number),
    ops: values.ops === undefined ? undefined : Number(values.ops)
  })
}
