/** The simulator's output: the live progress lines and the final table per protocol. */
import type { Protocol, ProtocolSummary, TimeSummary } from './stats.ts'
import type { SimulationReport } from './simulation.ts'

const NAMES: Record<Protocol, string> = { mqtt: 'MQTT', http: 'HTTP' }

function ms (x: number | null): string {
  if (x === null) return '-'
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)
}

function total (counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0)
}

function byCode (counts: Record<string, number>): string {
  return Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(', ')
}

/** The protocols that had sensors, in a fixed order. */
function shown (report: Pick<SimulationReport, 'protocols'>): Protocol[] {
  return (['mqtt', 'http'] as const).filter(p => report.protocols[p].sensors > 0)
}

export function formatTable (report: SimulationReport): string {
  const header = ['protocol', 'sensors', 'sent', 'acked', 'refused', 'errors', 'pending', 'mean ms', 'sd ms', 'p50 ms', 'p99 ms', 'max ms']
  const rows = shown(report).map(p => {
    const s = report.protocols[p]
    const name = p === 'mqtt' && report.qos === 0 ? 'MQTT QoS 0' : NAMES[p]
    return [name, s.sensors, s.sent, s.acknowledged, total(s.refused), total(s.errors), s.pending, ms(s.mean), ms(s.sd), ms(s.p50), ms(s.p99), ms(s.max)].map(String)
  })
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] as string).length)))
  const line = (cells: string[]): string => cells.map((c, i) => i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join('  ')
  const lines = [line(header), ...rows.map(line)]
  for (const p of shown(report)) {
    const s = report.protocols[p]
    if (total(s.refused) > 0) lines.push(`refused (${NAMES[p]}): ${byCode(s.refused)}`)
    if (total(s.errors) > 0) lines.push(`errors (${NAMES[p]}): ${byCode(s.errors)}`)
    if (s.unacknowledged !== undefined) lines.push(`${NAMES[p]} QoS 0: ${s.unacknowledged} readings written, never acknowledged (their time is the write to the socket)`)
  }
  const simulated = report.durationMs * report.speed
  lines.push(`${(report.durationMs / 1000).toFixed(1)} s run at speed ${report.speed} (${formatDuration(simulated)} simulated), periods ${report.periodSeconds.min}-${report.periodSeconds.max} s`)
  return lines.join('\n')
}

export function formatDuration (ms: number): string {
  const s = ms / 1000
  if (s < 120) return `${s.toFixed(0)} s`
  if (s < 7200) return `${(s / 60).toFixed(1)} min`
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86_400).toFixed(1)} days`
}

export interface ProgressSnapshot {
  elapsedMs: number
  protocols: Record<Protocol, { summary: ProtocolSummary, window: TimeSummary, ratePerSecond: number }>
}

/** One line per protocol that has sensors. */
export function formatProgress (snapshot: ProgressSnapshot): string[] {
  const elapsed = `${(snapshot.elapsedMs / 1000).toFixed(0).padStart(4)}s`
  return (['mqtt', 'http'] as const).filter(p => snapshot.protocols[p].summary.sensors > 0).map(p => {
    const { summary: s, window: w, ratePerSecond } = snapshot.protocols[p]
    const failed = total(s.refused) + total(s.errors)
    return `[${elapsed}] ${NAMES[p]}  sent ${s.sent}  acked ${s.acknowledged}  errors ${failed}  ${ratePerSecond.toFixed(1)}/s  p50 ${ms(w.p50)} ms  p99 ${ms(w.p99)} ms`
  })
}
