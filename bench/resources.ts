/**
 * Each process's CPU and memory over a run: sampled every second from /proc/<pid>/stat (utime +
 * stime, in clock ticks) and /proc/<pid>/status (VmRSS), and drawn as an SVG chart by vega-lite
 * and vega (no hand-made SVG). Linux only: elsewhere `sample` finds nothing and the chart is empty.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile } from 'vega-lite'
import type { TopLevelSpec } from 'vega-lite'

export interface ResourceSample {
  /** Seconds since the sampler started. */
  t: number
  process: string
  /** CPU over the last interval, percent of one core (100 = one core busy). */
  cpu: number
  /** Resident set size, MiB. */
  rssMiB: number
}

export interface ResourceSummary { process: string, cpuMean: number, cpuMax: number, rssMaxMiB: number, rssLastMiB: number }

function clockTicks (): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}

/** utime + stime of `pid` in clock ticks, and its RSS in KiB; undefined once it is gone. */
function read (pid: number): { ticks: number, rssKiB: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // fields after the command name (which may hold spaces), from field 3 on
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12]) // fields 14 and 15: utime, stime
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return { ticks, rssKiB: rss === null ? 0 : Number(rss[1]) }
  } catch {
    return undefined
  }
}

let hz: number | undefined

/** The CPU time (utime + stime) `pid` has used so far, in ms; undefined once it is gone (or off Linux). */
export function cpuMs (pid: number): number | undefined {
  const r = read(pid)
  if (r === undefined) return undefined
  hz ??= clockTicks()
  return r.ticks * 1000 / hz
}

export class ResourceSampler {
  readonly samples: ResourceSample[] = []
  private readonly processes: Array<{ name: string, pid: number, last?: { ticks: number, at: number } }>
  private readonly hz = clockTicks()
  private timer: NodeJS.Timeout | undefined
  private readonly started = performance.now()

  constructor (processes: Array<{ name: string, pid: number }>) {
    this.processes = processes.map(p => ({ ...p }))
  }

  start (everyMs = 1000): void {
    this.sample()
    this.timer = setInterval(() => { this.sample() }, everyMs)
  }

  stop (): void {
    clearInterval(this.timer)
  }

  private sample (): void {
    const now = performance.now()
    for (const p of this.processes) {
      const r = read(p.pid)
      if (r === undefined) continue
      if (p.last !== undefined) {
        const seconds = (now - p.last.at) / 1000
        this.samples.push({ t: Math.round((now - this.started) / 100) / 10, process: p.name, cpu: Math.round((r.ticks - p.last.ticks) / this.hz / seconds * 1000) / 10, rssMiB: Math.round(r.rssKiB / 102.4) / 10 })
      }
      p.last = { ticks: r.ticks, at: now }
    }
  }

  summary (): ResourceSummary[] {
    return this.processes.map(({ name }) => {
      const mine = this.samples.filter(s => s.process === name)
      const cpu = mine.map(s => s.cpu)
      return {
        process: name,
        cpuMean: cpu.length === 0 ? 0 : Math.round(cpu.reduce((a, b) => a + b, 0) / cpu.length * 10) / 10,
        cpuMax: cpu.length === 0 ? 0 : Math.max(...cpu),
        rssMaxMiB: mine.length === 0 ? 0 : Math.max(...mine.map(s => s.rssMiB)),
        rssLastMiB: mine.at(-1)?.rssMiB ?? 0
      }
    })
  }

  /** CPU and RSS of every process over time, one line each, as SVG (vega-lite compiled, vega rendered headless). */
  async svg (title: string, marks: Array<{ t: number, label: string }> = []): Promise<string> {
    const color = { field: 'process', type: 'nominal', title: 'process' } as const
    const x = { field: 't', type: 'quantitative', title: 'seconds' } as const
    const rules = marks.length === 0
      ? []
      : [{ data: { values: marks }, mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { x: { field: 't', type: 'quantitative' } } }]
    const panel = (field: 'cpu' | 'rssMiB', axis: string): Record<string, unknown> => ({
      width: 720,
      height: 220,
      layer: [
        { mark: { type: 'line', strokeWidth: 1.2 }, encoding: { x, y: { field, type: 'quantitative', title: axis }, color } },
        ...rules
      ]
    })
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title,
      data: { values: this.samples },
      vconcat: [panel('cpu', 'CPU, % of one core'), panel('rssMiB', 'RSS, MiB')]
    } as unknown as TopLevelSpec
    const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
    const svg = await view.toSVG()
    view.finalize()
    return svg
  }
}
