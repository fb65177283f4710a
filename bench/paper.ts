/**
 * Scenario "paper": the evaluation of *Secure Decentralized IoT Infrastructure* reproduced. The
 * paper ran 7 peers (4 small: collector and access; 3 full: also persistence and stream), 66 MQTT
 * and 77 HTTP simulated sensors reporting every 20 to 150 s (each its own period) for 7 days, and
 * reported the mean response time: 116.2 ms (sd 101.1) over HTTP, 0.58 ms (sd 0.7) over MQTT.
 * Here the same peers run as real processes on 127.0.0.1 (src/demo/network.ts), the same sensors
 * (src/sim) for `--minutes` of wall time at the paper's periods divided by `--speed`; every
 * gateway's CPU and RSS are sampled each second. At the end every acknowledged reading must be
 * readable: each sensor's latest reading, and its history holding every acknowledged reading.
 * Beside gatemesh, in the same run: the same simulation against raw floors (bench/paper-floors.ts:
 * raw Aedes and raw Fastify acknowledging at once, then behind a raw SQLite journal), in phases
 * of `--floor-seconds` (default a quarter of `--minutes`, at least 30 s) while the 7 gateways are
 * up and idle; and the gateways' CPU time per acknowledged reading beside their idle CPU rate.
 * Writes bench/results/paper.json, paper.md and paper-resources.svg.
 *
 *   npm run bench -- paper [--minutes 4] [--speed 1] [--floor-seconds N] [--keep-alive] [--quick]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '../src/client/index.ts'
import type { Session } from '../src/client/index.ts'
import { MIN_KDF_ITERATIONS } from '../src/core/index.ts'
import { startNetwork } from '../src/demo/network.ts'
import type { GatewaySpec, RunningGateway } from '../src/demo/network.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createSimulation, formatDuration, formatProgress, formatTable, registerSensors, sensorIds } from '../src/sim/index.ts'
import type { Protocol, ProtocolSummary, SimulationInit, SimulationReport, Simulation, TimeSummary } from '../src/sim/index.ts'
import { numberOption, v8PoolSize } from './harness.ts'
import { startFloors } from './paper-floors.ts'
import { cpuCost, cpuDelta, cpuMarkdown, f, failedCount, floorPhaseMs, floorsMarkdown } from './paper-report.ts'
import type { CpuCost, FloorResult } from './paper-report.ts'
import { ResourceSampler, cpuMs } from './resources.ts'

/** The paper's figures (mean and standard deviation of the response time, ms). */
export const PAPER = { http: { mean: 116.2, sd: 101.1 }, mqtt: { mean: 0.58, sd: 0.7 } } as const
const SENSORS = { mqtt: 66, http: 77 }

const SMALL = ['collector', 'access'] as const
const FULL = ['collector', 'access', 'persistence', 'stream'] as const
const EVERY_ROLE = ['collector', 'access', 'persistence', 'stream'] as const
const PEERS: GatewaySpec[] = [
  ...[1, 2, 3, 4].map(i => ({ name: `small-${i}`, services: [...SMALL] })),
  ...[1, 2, 3].map(i => ({ name: `full-${i}`, services: [...FULL], roles: [...EVERY_ROLE] }))
]

/** The machine's CPU pressure (PSI, Linux): % of time some runnable task waited for a CPU, over 10 s and 60 s. */
function cpuPressure (): string {
  try {
    const some = /^some avg10=([\d.]+) avg60=([\d.]+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))
    return some === null ? 'unknown' : `${some[1]}% (10 s) ${some[2]}% (60 s)`
  } catch {
    return 'unknown'
  }
}

export interface PaperOptions { minutes?: number, speed?: number, floorSeconds?: number, keepAlive?: boolean, quick?: boolean }

/** The gateways' idle CPU is measured over this window, just before the simulation. */
const IDLE_MS = 10_000

/**
 * Defaults: 4 minutes at speed 1, the paper's own load (its 143 sensors send about 2.4 readings/s):
 * response times are compared under the load the paper measured them under. The whole command
 * takes about 8 minutes on the 2-core machine (network start, registering, floors, readability
 * check). --speed compresses the paper's time and multiplies its load: at speed 10 (ten times
 * the rate) the 7 gateways on 2 cores saturate, at 100 seconds-long acknowledgements
 * (docs/PERFORMANCE.md). --quick: 1 minute.
 */
export function options (argv: string[]): PaperOptions {
  const quick = argv.includes('--quick')
  return { quick, minutes: numberOption(argv, '--minutes', false) ?? (quick ? 1 : 4), speed: numberOption(argv, '--speed', false) ?? 1, floorSeconds: numberOption(argv, '--floor-seconds', false), keepAlive: argv.includes('--keep-alive') }
}

export interface Readability {
  /** Sensors whose latest reading was at least the newest acknowledged one. */
  latestOk: number
  /** Sensors whose latest reading was older or not readable, with the last failure's code. */
  latestMissing: Record<string, string>
  /** Acknowledged readings found in their sensor's history. */
  historyFound: number
  historyExpected: number
  /** Per sensor, the `n` of acknowledged readings not in its history. */
  historyMissing: Record<string, number[]>
  /** The last failure reading a sensor's history, if any. */
  historyErrors: Record<string, string>
  /** Of the missing readings, how many each persistence peer lacks when asked itself ([PER-50] `replica`). */
  missingByReplica: Record<string, number>
  ms: number
}

/** [ACS-9] [PER-53] Every acknowledged reading readable: the latest of each sensor, and each one in its sensor's history. */
async function checkReadable (session: Session, sim: Simulation, startedAt: number, deadlineMs: number, replicas: Array<{ name: string, peerId: string }>): Promise<Readability> {
  const started = performance.now()
  const deadline = started + deadlineMs
  const devices = sim.devices.map(d => d.device).filter(d => d.acknowledged.length > 0)
  const latestMissing = new Map(devices.map(d => [d.sensor.id, 'not asked']))
  const historyMissing = new Map(devices.map(d => [d.sensor.id, new Set(d.acknowledged)]))
  const expected = devices.reduce((a, d) => a + d.acknowledged.length, 0)
  const historyErrors: Record<string, string> = {}
  const readHistory = async (id: string, found: (n: number) => void, replica?: string): Promise<void> => {
    try {
      for await (const reading of session.history(id, { from: startedAt - 60_000, to: Date.now() + 60_000, pageSize: 5000, ...(replica === undefined ? {} : { replica }) })) {
        const n = (reading.json as { n?: number } | undefined)?.n
        if (typeof n === 'number') found(n)
      }
    } catch (err) {
      // a replica not reached: asked again in the next round
      historyErrors[id] = (err as { code?: string }).code ?? String(err)
    }
  }
  let rounds = 0
  const pool = async <T>(items: T[], each: (item: T) => Promise<void>): Promise<void> => {
    let next = 0
    await Promise.all(Array.from({ length: 4 }, async () => { while (next < items.length) await each(items[next++] as T) }))
  }
  do {
    await pool(devices.filter(d => latestMissing.has(d.sensor.id)), async d => {
      const newest = Math.max(...d.acknowledged)
      try {
        const n = ((await session.readLatest(d.sensor.id)).json as { n?: number } | undefined)?.n
        if (typeof n === 'number' && n >= newest) latestMissing.delete(d.sensor.id)
        else latestMissing.set(d.sensor.id, `n ${String(n)} < ${newest}`)
      } catch (err) {
        // not there yet: asked again in the next round
        latestMissing.set(d.sensor.id, (err as { code?: string }).code ?? String(err))
      }
    })
    await pool(devices.filter(d => (historyMissing.get(d.sensor.id)?.size ?? 0) > 0), async d => {
      const missing = historyMissing.get(d.sensor.id) as Set<number>
      await readHistory(d.sensor.id, n => { missing.delete(n) })
    })
    const left = latestMissing.size + [...historyMissing.values()].reduce((a, s) => a + s.size, 0)
    if (left === 0) break
    rounds++
    console.log(`${stamp()} readability: ${latestMissing.size} latest and ${left - latestMissing.size} history readings not there yet; asking again`)
    await new Promise(resolve => setTimeout(resolve, 2000))
  } while (performance.now() < deadline || rounds < 3) // at least 3 rounds: one round may outlast the deadline on a loaded machine
  const missing = Object.fromEntries([...historyMissing].filter(([, s]) => s.size > 0).map(([id, s]) => [id, [...s].sort((a, b) => a - b)]))
  // what is missing: on every replica (lost), or on the one the gateway asked (a replica behind)?
  const missingByReplica: Record<string, number> = {}
  for (const { name, peerId } of replicas) {
    let lacks = 0
    for (const [id, ns] of Object.entries(missing)) {
      const held = new Set<number>()
      await readHistory(id, n => { held.add(n) }, peerId)
      lacks += ns.filter(n => !held.has(n)).length
    }
    missingByReplica[name] = lacks
  }
  const missingCount = Object.values(missing).reduce((a, l) => a + l.length, 0)
  return { latestOk: devices.length - latestMissing.size, latestMissing: Object.fromEntries(latestMissing), historyFound: expected - missingCount, historyExpected: expected, historyMissing: missing, historyErrors, missingByReplica, ms: Math.round(performance.now() - started) }
}

/**
 * Waits until the gateway each sensor will report to finds its record (a signed GET of the
 * sensor at that gateway's Data Access, a DHT lookup there), so that the run measures readings,
 * not the record's propagation; resolves with how long that took and the sensors still unknown.
 */
async function awaitRecords (gws: RunningGateway[], bundle: Uint8Array, password: string, ca: Uint8Array, ids: string[], deadlineMs: number): Promise<{ ms: number, unknown: string[] }> {
  const started = performance.now()
  const suite = createNodeCryptoSuite()
  const sessions = await Promise.all(gws.map(async g => await createClient({ gateway: g.ready.access as string, caCertificate: ca, suite }).resume(bundle, password)))
  // sensor i of a protocol reports to gateway i mod 7 (src/sim/simulation.ts)
  const at = (id: string): Session => sessions[(Number(/-(\d+)$/.exec(id)?.[1]) - 1) % sessions.length] as Session
  let left = [...ids]
  while (left.length > 0 && performance.now() - started < deadlineMs) {
    const still: string[] = []
    let next = 0
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < left.length) {
        const id = left[next++] as string
        try { await at(id).sensor(id) } catch { still.push(id) }
      }
    }))
    left = still
    if (left.length > 0) {
      console.log(`${stamp()} paper: ${left.length} sensor records not yet found by their collector's gateway; asking again`)
      await new Promise(resolve => setTimeout(resolve, 2000))
    }
  }
  return { ms: Math.round(performance.now() - started), unknown: left }
}

function progress (sim: Simulation, elapsedMs: number, last: { at: number, acked: Record<Protocol, number> }): void {
  const seconds = Math.max(0.001, (elapsedMs - last.at) / 1000)
  const protocols = {} as Record<Protocol, { summary: ProtocolSummary, window: TimeSummary, ratePerSecond: number }>
  for (const p of ['mqtt', 'http'] as const) {
    const r = sim.recorders[p]
    protocols[p] = { summary: r.summary(), window: r.takeWindow(), ratePerSecond: (r.acknowledged - last.acked[p]) / seconds }
    last.acked[p] = r.acknowledged
  }
  last.at = elapsedMs
  for (const line of formatProgress({ elapsedMs, protocols })) console.log(line)
}

const stamp = (): string => new Date().toISOString().slice(11, 19)
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Baselines { floors: FloorResult[], floorMs: number, cpu: CpuCost, idleMs: number }

function markdown (report: SimulationReport, readable: Readability, resources: ReturnType<ResourceSampler['summary']>, setup: Record<string, unknown>, baselines: Baselines): string {
  const row = (p: Protocol, name: string): string => {
    const s = report.protocols[p]
    return `| ${name} | ${s.sensors} | ${s.sent} | ${s.acknowledged} | ${failedCount(s)} | **${f(s.mean)}** | ${f(s.sd)} | ${f(s.p50)} | ${f(s.p99)} | ${f(s.max)} | ${PAPER[p].mean} | ${PAPER[p].sd} |`
  }
  const missing = Object.entries(readable.historyMissing)
  const latestMissing = Object.entries(readable.latestMissing)
  const records = setup.records as { ms: number, unknown: string[] }
  return [
    '# The paper\'s evaluation, reproduced', '',
    `Node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), V8 pool ${v8PoolSize()}; load average ${setup.loadBefore} before the run, ${setup.loadAfter} after it;`,
    `CPU pressure (time some runnable task waited for a core, /proc/pressure/cpu) ${setup.pressureBefore} before, ${setup.pressureAfter} after: other work on the machine shares its 2 cores when this is high.`,
    `7 gateways as processes on 127.0.0.1 (4 small: collector + access; 3 full: collector + access + persistence on SQLite + stream), a CA.`,
    `${report.protocols.mqtt.sensors} MQTT sensors (mqtt.js, one connection each, QoS ${report.qos}) and ${report.protocols.http.sensors} HTTP sensors (one POST per reading, ${report.keepAlive ? 'keep-alive' : 'a new connection each'}), spread over the 7 collectors,`,
    `each reading every 20-150 s (its own period, uniform, as the paper) divided by a speed of ${report.speed}: ${(report.durationMs / 60_000).toFixed(1)} minutes of wall time, ${formatDuration(report.durationMs * report.speed)} of the paper's time (the paper ran 7 days).`,
    `The simulators ran in the benchmark's process, on the same 2 cores as the gateways. Response time: publish to PUBACK (MQTT), request to response (HTTP), ms.`,
    `The sensors were registered through small-1; the run started once each sensor's collector gateway found its record in the DHT (${records.unknown.length === 0 ? `all found ${(records.ms / 1000).toFixed(1)} s after registering` : `${records.unknown.length} still not found after ${(records.ms / 1000).toFixed(0)} s: ${records.unknown.join(', ')}`}).`, '',
    '| protocol | sensors | sent | acknowledged | refused or failed | mean ms | sd ms | p50 ms | p99 ms | max ms | paper mean ms | paper sd ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    row('http', 'HTTP'),
    row('mqtt', report.qos === 1 ? 'MQTT QoS 1' : 'MQTT QoS 0'),
    '',
    `Readable afterwards (read through small-3, decrypted here): latest reading of ${readable.latestOk} of ${readable.latestOk + latestMissing.length} sensors at least their newest acknowledged one` +
      `${latestMissing.length > 0 ? ` (not: ${latestMissing.map(([id, why]) => `${id} ${why}`).join(', ')})` : ''}; ` +
      `${readable.historyFound} of ${readable.historyExpected} acknowledged readings in their sensor's verified history` +
      `${missing.length > 0 ? ` (missing: ${missing.map(([id, ns]) => `${id} n=${ns.slice(0, 10).join(',')}${ns.length > 10 ? ',...' : ''}`).join('; ')})` : ''} (checked in ${(readable.ms / 1000).toFixed(1)} s).` +
      (missing.length === 0 ? '' : ` Of the missing readings, each persistence peer asked itself lacks: ${Object.entries(readable.missingByReplica).map(([name, n]) => `${name} ${n}`).join(', ')}` +
        `${Object.keys(readable.historyErrors).length > 0 ? `; last history errors: ${Object.entries(readable.historyErrors).map(([id, code]) => `${id} ${code}`).join(', ')}` : ''}.`),
    '',
    ...floorsMarkdown(baselines.floors, report, baselines.floorMs),
    '',
    ...cpuMarkdown(baselines.cpu, cpus().length, baselines.idleMs, baselines.floors),
    '',
    '## Resources', '',
    'CPU (% of one core) and resident memory of each gateway process and of the benchmark\'s process (the 143 simulated sensors), sampled every second from /proc',
    '(the dashed lines: sensors registered, simulation started, simulation stopped):', '',
    '![CPU and memory of each peer](paper-resources.svg)', '',
    '| process | CPU mean % | CPU max % | RSS max MiB | RSS at the end MiB |',
    '|---|---:|---:|---:|---:|',
    ...resources.map(r => `| ${r.process} | ${r.cpuMean.toFixed(1)} | ${r.cpuMax.toFixed(1)} | ${r.rssMaxMiB.toFixed(1)} | ${r.rssLastMiB.toFixed(1)} |`),
    '',
    '```', formatTable(report), '```', ''
  ].join('\n')
}

/**
 * The floors: the same simulation (same sensors, speed and seed: the same periods and offsets)
 * against the raw servers of bench/paper-floors.ts, one phase of `phaseMs` each, acknowledging at
 * once, then behind the raw journal; the floors' process's CPU over each phase.
 */
async function runFloors (dir: string, init: { sensors: SimulationInit['sensors'], speed: number, keepAlive: boolean }, phaseMs: number): Promise<FloorResult[]> {
  console.log(`${stamp()} paper: the same-run floors, ${phaseMs / 1000} s each, the 7 gateways idle ...`)
  const floors = await startFloors(dir)
  const phases = [
    { name: 'acknowledging at once', servers: floors.servers.raw, labels: { mqtt: 'raw Aedes', http: 'raw Fastify' } },
    { name: 'journal before the acknowledgement', servers: floors.servers.journal, labels: { mqtt: 'raw Aedes + raw SQLite journal', http: 'raw Fastify + raw SQLite journal' } }
  ]
  const results: FloorResult[] = []
  try {
    for (const phase of phases) {
      const sim = createSimulation({ ...init, collectors: { mqtt: [`mqtt://127.0.0.1:${phase.servers.mqtt}`], http: [`http://127.0.0.1:${phase.servers.http}`] } })
      const from = { cpu: [cpuMs(floors.pid)], at: performance.now() }
      await sim.start()
      await sleep(phaseMs)
      const report = await sim.stop()
      results.push({ name: phase.name, servers: phase.labels, report, cpu: { cpuMs: cpuDelta(from.cpu, [cpuMs(floors.pid)]), ms: performance.now() - from.at } })
      console.log(`${stamp()} paper: floor ${phase.labels.mqtt} / ${phase.labels.http}`)
      console.log(formatTable(report))
    }
  } finally {
    await floors.stop()
  }
  return results
}

export async function run (opts: PaperOptions = {}): Promise<{ report: SimulationReport, readable: Readability }> {
  const minutes = opts.minutes ?? 4
  const speed = opts.speed ?? 1
  const loadBefore = loadavg().map(x => x.toFixed(2)).join(' ')
  const pressureBefore = cpuPressure()
  const dir = await mkdtemp(join(tmpdir(), 'gm-bench-paper-'))
  let keep = false
  console.log(`${stamp()} paper: starting the CA and 7 gateways in ${dir} ...`)
  const net = await startNetwork({ dir, gateways: PEERS, env: { GATEMESH_LOG_LEVEL: 'warn' } })
  const sampler = new ResourceSampler([...net.gateways.map(g => ({ name: g.name, pid: g.child.pid as number })), { name: 'simulators', pid: process.pid }])
  const marks: Array<{ t: number, label: string }> = []
  const mark = (label: string): void => { marks.push({ t: Math.round((performance.now() - samplerStarted) / 100) / 10, label }) }
  const samplerStarted = performance.now()
  sampler.start()
  try {
    const gws = net.gateways as RunningGateway[]
    const suite = createNodeCryptoSuite()
    const password = 'paper bench password'
    const owner = createClient({ gateway: gws[0]?.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS, suite })
    const signup = await owner.signup(password)
    const session = await owner.resume(signup.bundle, password)
    const ids = { mqtt: sensorIds('paper', 'mqtt', SENSORS.mqtt), http: sensorIds('paper', 'http', SENSORS.http) }
    console.log(`${stamp()} paper: registering ${SENSORS.mqtt + SENSORS.http} sensors ...`)
    const bound = await registerSensors(session, [...ids.mqtt, ...ids.http], { concurrency: 8 })
    mark('registered')
    // each sensor's record as its collector's gateway finds it in the DHT (the lookup its collector makes, [COL-10])
    const known = await awaitRecords(gws, signup.bundle, password, signup.caCertificate, bound.map(b => b.id), 120_000)
    const sensors = { mqtt: bound.slice(0, SENSORS.mqtt), http: bound.slice(SENSORS.mqtt) }
    const floorMs = floorPhaseMs(minutes, opts.floorSeconds)
    const floors = await runFloors(dir, { sensors, speed, keepAlive: opts.keepAlive === true }, floorMs)
    // the gateways' CPU: idle, then while the readings arrive
    const gatewaysCpu = (): Array<number | undefined> => gws.map(g => cpuMs(g.child.pid as number))
    console.log(`${stamp()} paper: the 7 gateways' idle CPU over ${IDLE_MS / 1000} s ...`)
    const idleFrom = { cpu: gatewaysCpu(), at: performance.now() }
    await sleep(IDLE_MS)
    const idle = { cpuMs: cpuDelta(idleFrom.cpu, gatewaysCpu()), ms: performance.now() - idleFrom.at }
    const sim = createSimulation({
      sensors,
      collectors: { mqtt: gws.map(g => g.ready.collector?.mqtt as string), http: gws.map(g => g.ready.collector?.http as string) },
      speed,
      keepAlive: opts.keepAlive === true
    })
    const startedAt = Date.now()
    console.log(`${stamp()} paper: ${SENSORS.mqtt} MQTT + ${SENSORS.http} HTTP sensors for ${minutes} min at speed ${speed} (${formatDuration(minutes * 60_000 * speed)} of the paper's time)`)
    const busyFrom = { cpu: gatewaysCpu(), at: performance.now() }
    await sim.start()
    mark('started')
    const t0 = performance.now()
    const last = { at: 0, acked: { mqtt: 0, http: 0 } }
    const ticker = setInterval(() => { progress(sim, performance.now() - t0, last) }, 15_000)
    await sleep(minutes * 60_000)
    clearInterval(ticker)
    const report = await sim.stop()
    const busy = { cpuMs: cpuDelta(busyFrom.cpu, gatewaysCpu()), ms: performance.now() - busyFrom.at, acknowledged: report.protocols.mqtt.acknowledged + report.protocols.http.acknowledged }
    const baselines: Baselines = { floors, floorMs, cpu: cpuCost(idle, busy, cpus().length), idleMs: idle.ms }
    mark('stopped')
    console.log(formatTable(report))
    console.log(`${stamp()} paper: checking that every acknowledged reading is readable ...`)
    const reader = await createClient({ gateway: gws[2]?.ready.access as string, caCertificate: signup.caCertificate, suite }).resume(signup.bundle, password)
    const replicas = gws.filter(g => g.services.includes('persistence')).map(g => ({ name: g.name, peerId: g.ready.peerId }))
    const readable = await checkReadable(reader, sim, startedAt, 180_000, replicas)
    sampler.stop()
    const loadAfter = loadavg().map(x => x.toFixed(2)).join(' ')
    const pressureAfter = cpuPressure()
    const resources = sampler.summary()
    const out = new URL('./results/', import.meta.url)
    mkdirSync(out, { recursive: true })
    const setup = { peers: PEERS.map(p => ({ name: p.name, services: p.services })), minutes, speed, simulatedMs: report.durationMs * speed, loadBefore, loadAfter, pressureBefore, pressureAfter, records: known }
    const environment = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, v8PoolSize: v8PoolSize(), date: new Date().toISOString() }
    writeFileSync(new URL('paper-resources.svg', out), await sampler.svg(`gatemesh, the paper's 7 peers: ${SENSORS.mqtt} MQTT + ${SENSORS.http} HTTP sensors at speed ${speed}`, marks))
    const md = markdown(report, readable, resources, setup, baselines)
    writeFileSync(new URL('paper.md', out), md)
    writeFileSync(new URL('paper.json', out), JSON.stringify({
      title: 'The paper\'s evaluation, reproduced', environment, setup, paper: PAPER, report, floors: floors.map(fl => ({ ...fl, phaseMs: floorMs })), cpu: { gateways: baselines.cpu, idle, busy }, readable, resources, samples: sampler.samples, marks
    }, null, 2) + '\n')
    console.log(md)
    keep = failedCount(report.protocols.mqtt) + failedCount(report.protocols.http) > 0 || readable.historyFound < readable.historyExpected || Object.keys(readable.latestMissing).length > 0
    return { report, readable }
  } finally {
    sampler.stop()
    await net.stop()
    // the gateways' logs are kept when a reading was refused or not found again
    if (keep) console.log(`paper: the network's data and logs are kept in ${dir}`)
    else await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  await run(options(process.argv.slice(2)))
}
