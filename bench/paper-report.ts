/**
 * The paper scenario's pure helpers for its same-run floors and its CPU cost per reading: the
 * floor phase's length, the arithmetic of CPU time per acknowledged reading, and their markdown.
 */
import type { Protocol, ProtocolSummary, SimulationReport } from '../src/sim/index.ts'

export const f = (x: number | null, digits = 2): string => x === null ? '-' : x.toFixed(digits)

/** Readings the collector refused or that got no answer. */
export function failedCount (p: ProtocolSummary): number {
  return Object.values(p.refused).reduce((a, b) => a + b, 0) + Object.values(p.errors).reduce((a, b) => a + b, 0)
}

/** Each floor phase: `--floor-seconds` if given, else a quarter of `--minutes`, at least 30 s. */
export function floorPhaseMs (minutes: number, floorSeconds?: number): number {
  return floorSeconds !== undefined ? floorSeconds * 1000 : Math.max(30_000, minutes * 60_000 / 4)
}

/**
 * The CPU time a set of processes used between two snapshots (each process's cumulative ms, in
 * the same order): a process absent from either snapshot (not started, or gone) is left out.
 */
export function cpuDelta (before: Array<number | undefined>, after: Array<number | undefined>): number {
  let sum = 0
  before.forEach((b, i) => {
    const a = after[i]
    if (b !== undefined && a !== undefined) sum += a - b
  })
  return sum
}

/** CPU time used over a wall-clock window, both ms. */
export interface CpuWindow { cpuMs: number, ms: number }

export interface CpuCost {
  /** CPU ms per second of wall time: idle, and while the readings arrived. */
  idleCpuMsPerSecond: number
  busyCpuMsPerSecond: number
  /** What the busy rate is of every core of the machine (1 = all cores busy). */
  busyShareOfCores: number
  acknowledged: number
  /** All the CPU time of the window, per acknowledged reading. */
  cpuMsPerReading: number | null
  /** The same, less what the processes would have used idle over the same window. */
  cpuMsPerReadingAboveIdle: number | null
}

/** The CPU cost per acknowledged reading of a busy window, beside the idle rate of the same processes. */
export function cpuCost (idle: CpuWindow, busy: CpuWindow & { acknowledged: number }, cores: number): CpuCost {
  const perSecond = (w: CpuWindow): number => w.ms > 0 ? w.cpuMs / (w.ms / 1000) : 0
  const idleRate = perSecond(idle)
  const busyRate = perSecond(busy)
  const per = (ms: number): number | null => busy.acknowledged > 0 ? ms / busy.acknowledged : null
  return {
    idleCpuMsPerSecond: idleRate,
    busyCpuMsPerSecond: busyRate,
    busyShareOfCores: busyRate / (cores * 1000),
    acknowledged: busy.acknowledged,
    cpuMsPerReading: per(busy.cpuMs),
    cpuMsPerReadingAboveIdle: per(busy.cpuMs - idleRate * busy.ms / 1000)
  }
}

/** A floor phase: the same simulation against the raw servers of bench/paper-floors.ts. */
export interface FloorResult {
  name: string
  /** Per protocol, what the server did. */
  servers: Record<Protocol, string>
  report: SimulationReport
  /** The floors' process's CPU over the phase. */
  cpu: CpuWindow
}

const PROTOCOLS = [['http', 'HTTP'], ['mqtt', 'MQTT QoS 1']] as const

/** The floors' table: each floor per protocol, beside gatemesh's mean and p50 as ratios. */
export function floorsMarkdown (floors: FloorResult[], gatemesh: SimulationReport, phaseMs: number): string[] {
  const ratio = (a: number | null, b: number | null): string => a === null || b === null || b === 0 ? '-' : `${(a / b).toFixed(1)}×`
  const rows = floors.flatMap(floor => PROTOCOLS.map(([p, label]) => {
    const s = floor.report.protocols[p]
    const g = gatemesh.protocols[p]
    return `| ${floor.servers[p]} | ${label} | ${s.sent} | ${s.acknowledged} | ${failedCount(s)} | **${f(s.mean)}** | ${f(s.sd)} | ${f(s.p50)} | ${f(s.p99)} | ${f(s.max)} | ${ratio(g.mean, s.mean)} | ${ratio(g.p50, s.p50)} |`
  }))
  return [
    '## Same-run floors', '',
    `The same ${gatemesh.protocols.mqtt.sensors} MQTT and ${gatemesh.protocols.http.sensors} HTTP sensors (the same credentials, periods and offsets, the same speed ${gatemesh.speed}), ` +
      `in ${floors.length} phases of ${(phaseMs / 1000).toFixed(0)} s each before gatemesh's, against raw servers on 127.0.0.1 in one child process of the benchmark ` +
      '(bench/paper-floors.ts, so they do not share the simulators\' event loop); the 7 gateways stayed up, idle, meanwhile: the same machine.',
    '- **raw Aedes** acknowledges each QoS 1 publish at once (PUBACK), the paper\'s kind of broker; **raw Fastify** (the collector\'s framework) parses each POST\'s JSON body and answers 202 at once.',
    '- **+ raw SQLite journal**: the same two, each reading first made durable: the readings of each event-loop turn inserted as one row in one transaction of a SQLite WAL (synchronous=NORMAL), the acknowledgement after the commit, as the collector\'s promise needs ([COL-7]); one journal for both.',
    '- None of them checks the sensor\'s credentials (any MQTT username/password, any Authorization header is accepted), looks up a sensor record, limits rates, builds or seals an envelope, or hands the reading to persistence or stream; all sensors go to one server per protocol (gatemesh spreads them over 7 collectors).', '',
    '| floor | protocol | sent | acknowledged | refused or failed | mean ms | sd ms | p50 ms | p99 ms | max ms | gatemesh mean ÷ this | gatemesh p50 ÷ this |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows
  ]
}

/** The CPU section: the 7 gateways' CPU per acknowledged reading beside their idle rate, and each floor's. */
export function cpuMarkdown (cost: CpuCost, cores: number, idleMs: number, floors: FloorResult[]): string[] {
  const floorRows = floors.map(floor => {
    const c = cpuCost({ cpuMs: 0, ms: 0 }, { ...floor.cpu, acknowledged: floor.report.protocols.mqtt.acknowledged + floor.report.protocols.http.acknowledged }, cores)
    return `| floors' process, ${floor.name} | ${c.acknowledged} | ${f(c.busyCpuMsPerSecond, 1)} | ${f(c.cpuMsPerReading)} | - |`
  })
  return [
    '## CPU per acknowledged reading', '',
    'CPU time (utime + stime from /proc/<pid>/stat, every thread of the process) summed over the 7 gateway processes: idle for ' +
      `${(idleMs / 1000).toFixed(0)} s just before the simulation (after the floors), then from the simulation's start (its MQTT connections included) to its end, ` +
      'divided by the readings acknowledged (both protocols); the floors\' process likewise over each of its phases (the phase\'s MQTT connections included: with few readings, its figure is mostly their cost and its own idle). ' +
      `The machine has ${cores} cores, ${cores * 1000} CPU ms per second; ` +
      `while the readings arrived the gateways used ${(cost.busyShareOfCores * 100).toFixed(1)} % of them.`, '',
    '| processes | readings acknowledged | CPU ms per second | CPU ms per reading | CPU ms per reading above idle |',
    '|---|---:|---:|---:|---:|',
    `| 7 gateways, idle | - | ${f(cost.idleCpuMsPerSecond, 1)} | - | - |`,
    `| 7 gateways, simulation | ${cost.acknowledged} | ${f(cost.busyCpuMsPerSecond, 1)} | ${f(cost.cpuMsPerReading)} | ${f(cost.cpuMsPerReadingAboveIdle)} |`,
    ...floorRows
  ]
}
