/**
 * The sustainable MQTT QoS 1 rate of bench/ingest.ts: the highest offered rate whose PUBACK p99
 * stays under 50 ms over a whole phase (15 s by default), found by a short search of phases at
 * fixed offered rates (the open-loop load of `--puback-at`), beside the burst (closed-loop)
 * throughput, which a collector reaches only by letting its backlog, and so its latency, grow.
 *
 * The search: the first step offers a quarter of the burst; while steps hold, the rate doubles
 * (up to the cap); once a step fails, the rate halves until one holds; between a rate that held
 * and one that failed it bisects, until they are within 5 % (or 250/s) of each other or the
 * steps run out. A step holds when its PUBACK p99 is under the limit, no publish failed and at
 * least 95 % of the offered rate was acknowledged inside the phase (answers that come after the
 * phase are not counted, so a server falling behind could otherwise show a short tail).
 * The cap: no rate above the side's own burst throughput (it cannot hold more), nor above
 * MAX_OFFERED_RATE, about the most the one-threaded load generator can offer on the 2-core test
 * machine beside the server; a side that holds at the cap is reported as "at least" the cap.
 */

/** The PUBACK p99 a sustainable rate stays under (ms). */
export const P99_LIMIT_MS = 50
/**
 * The highest rate the search offers. The load generator is one thread on the 2 cores it shares
 * with the server it loads: in a trial it took 34 % of a core to offer raw Aedes 20 000
 * publishes/s (p99 39 ms, the machine also busy with other work), so at 40 000/s it would take
 * most of a core, and its own lateness, counted in the latency, would be measured rather than the
 * server. Raw Aedes's burst here was about 36 000/s, so in practice a side's burst is its cap.
 */
export const MAX_OFFERED_RATE = 40_000
/** The steps of one search: each is a phase of its own (15 s by default), so 8 stay near 2.5 min. */
export const MAX_STEPS = 8

/** What one phase at a fixed rate measured (a subset of the load generator's result). */
export interface StepMeasurement { perSecond: number, errors: number, p50?: number, p99?: number, sendLateP99?: number, loopDelayP99?: number }

export interface SustainStep {
  /** The offered rate (publishes/s). */
  rate: number
  /** Acknowledged inside the phase, per second. */
  perSecond: number
  errors: number
  p50?: number
  p99?: number
  sendLateP99?: number
  loopDelayP99?: number
  held: boolean
}

export interface SustainSearch {
  name: string
  burstPerSecond: number
  /** The highest rate this search could offer: min(burst, MAX_OFFERED_RATE). */
  cap: number
  /** The highest rate that held, or null when none did. */
  sustainablePerSecond: number | null
  /** The rate held at the cap: the sustainable rate is at least the cap, not known beyond. */
  heldAtCap: boolean
  steps: SustainStep[]
}

export interface SustainInit {
  burstPerSecond: number
  maxOffered?: number
  maxSteps?: number
  p99LimitMs?: number
}

/** Rates are offered in steps of 100/s (never below 100/s). */
function roundRate (rate: number): number { return Math.max(100, Math.round(rate / 100) * 100) }

export function holds (rate: number, m: StepMeasurement, p99LimitMs = P99_LIMIT_MS): boolean {
  return typeof m.p99 === 'number' && m.p99 < p99LimitMs && m.errors === 0 && m.perSecond >= 0.95 * rate
}

/** Searches the sustainable rate of one side; `measure(rate)` runs one phase at that offered rate. */
export async function searchSustainableRate (name: string, measure: (rate: number) => Promise<StepMeasurement>, init: SustainInit): Promise<SustainSearch> {
  const cap = Math.max(100, Math.floor(Math.min(init.burstPerSecond, init.maxOffered ?? MAX_OFFERED_RATE) / 100) * 100)
  const maxSteps = init.maxSteps ?? MAX_STEPS
  const steps: SustainStep[] = []
  let held = 0 // the highest rate that held (0: none yet)
  let failed = Infinity // the lowest rate that failed
  let rate = Math.min(cap, roundRate(init.burstPerSecond / 4))
  while (steps.length < maxSteps) {
    const m = await measure(rate)
    const ok = holds(rate, m, init.p99LimitMs)
    steps.push({ rate, perSecond: m.perSecond, errors: m.errors, p50: m.p50, p99: m.p99, sendLateP99: m.sendLateP99, loopDelayP99: m.loopDelayP99, held: ok })
    if (ok) held = Math.max(held, rate)
    else failed = Math.min(failed, rate)
    let next: number
    if (failed === Infinity) {
      if (held >= cap) break
      next = Math.min(cap, roundRate(held * 2))
    } else if (held === 0) {
      if (rate <= 100) break
      next = roundRate(failed / 2)
    } else {
      if (failed - held <= Math.max(250, 0.05 * held)) break
      next = roundRate((held + failed) / 2)
    }
    if (next === held || next === failed) break
    rate = next
  }
  return { name, burstPerSecond: init.burstPerSecond, cap, sustainablePerSecond: held === 0 ? null : held, heldAtCap: held >= cap, steps }
}

const f = (n: number | undefined | null, digits = 0): string => typeof n !== 'number' || Number.isNaN(n) ? '-' : n.toFixed(digits)

/** The sustainable rate as a cell: "≥ N (cap)" when it held at the cap, "< N" when nothing held. */
function rateCell (s: SustainSearch): string {
  if (s.sustainablePerSecond === null) return `none (< ${f(Math.min(...s.steps.map(step => step.rate)))})`
  return s.heldAtCap ? `≥ ${f(s.sustainablePerSecond)} (the cap)` : f(s.sustainablePerSecond)
}

/** The markdown of a search's results: the rates beside the bursts, then each step. */
export function sustainMarkdown (searches: SustainSearch[], stepSeconds: number): string[] {
  return [
    `Sustainable MQTT QoS 1 rate, 3 recipients: the highest offered rate whose PUBACK p99 stays under ${P99_LIMIT_MS} ms over a ${stepSeconds} s phase (open loop, latency from the scheduled send), ` +
      `with no failed publish and ≥ 95 % of the offered rate acknowledged in the phase. Found by a search (a quarter of the burst first, then doubling, halving and bisecting to within 5 %, at most ${MAX_STEPS} steps), ` +
      `capped at the side's burst and at ${MAX_OFFERED_RATE}/s (about the most the one-threaded load generator can offer here). Burst = the closed-loop throughput (16 connections × 64 in flight).`, '',
    '| side | burst readings/s | sustainable readings/s | sustainable ÷ burst | cap | steps |',
    '|---|---:|---:|---:|---:|---:|',
    ...searches.map(s => `| ${s.name} | ${f(s.burstPerSecond)} | ${rateCell(s)} | ${s.sustainablePerSecond === null ? '-' : f(s.sustainablePerSecond / s.burstPerSecond, 2)} | ${f(s.cap)} | ${s.steps.length} |`),
    '',
    'Each step: sender late p99 = how late the load generator itself sent (ms), counted in the PUBACK latency; where it nears the limit, the step measured a busy machine more than the server.', '',
    '| side | step | offered/s | acknowledged/s | PUBACK p50 ms | PUBACK p99 ms | sender late p99 ms | event-loop delay p99 ms | held |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...searches.flatMap(s => s.steps.map((step, i) => `| ${s.name} | ${i + 1} | ${f(step.rate)} | ${f(step.perSecond)} | ${f(step.p50, 2)} | ${f(step.p99, 2)} | ${f(step.sendLateP99, 2)} | ${f(step.loopDelayP99, 1)} | ${step.held ? 'yes' : 'no'} |`))
  ]
}
