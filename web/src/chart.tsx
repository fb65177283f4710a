/** The numeric fields of JSON readings over time, drawn by uPlot (canvas). */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

export interface Series { times: number[], fields: Array<{ name: string, values: Array<number | null> }> }

const COLORS = ['#0b6e4f', '#c2410c', '#1d4ed8', '#7c3aed', '#b91c1c', '#0e7490']

/** Top-level numeric fields of JSON readings (first 6 by first appearance). */
export function numericSeries (readings: Array<{ ts: number, json?: unknown }>): Series {
  const names: string[] = []
  for (const r of readings) {
    if (typeof r.json !== 'object' || r.json === null || Array.isArray(r.json)) continue
    for (const [name, value] of Object.entries(r.json)) if (typeof value === 'number' && Number.isFinite(value) && !names.includes(name) && names.length < COLORS.length) names.push(name)
  }
  const sorted = [...readings].sort((a, b) => a.ts - b.ts)
  return {
    times: sorted.map(r => r.ts / 1000),
    fields: names.map(name => ({
      name,
      values: sorted.map(r => {
        const v = (typeof r.json === 'object' && r.json !== null ? (r.json as Record<string, unknown>)[name] : undefined)
        return typeof v === 'number' && Number.isFinite(v) ? v : null
      })
    }))
  }
}

/** uPlot's data for a series: the times, then one array per field. */
export function chartData (series: Series): uPlot.AlignedData {
  return [series.times, ...series.fields.map(f => f.values)]
}

/** A uPlot chart of `series` in `el`, following the element's width; `destroy` removes it. */
export function drawChart (el: HTMLElement, series: Series, showPoints = series.times.length < 200): { plot: uPlot, destroy: () => void } {
  const plot = new uPlot({
    width: Math.max(280, el.clientWidth),
    height: 260,
    series: [{}, ...series.fields.map((f, i) => ({ label: f.name, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: showPoints } }))],
    axes: [{}, {}],
    scales: { x: { time: true } },
    // the legend is a key to the colours only: uPlot's click-to-hide on a legend entry cannot be
    // reached by keyboard (a table cell, no focus), so it is off for everyone
    cursor: { bind: { click: () => null } },
    // a marker for tests and bench/web.ts: how many points the canvas last drew
    hooks: { draw: [u => { el.dataset.drawn = String(u.data[0].length) }] }
  }, chartData(series), el)
  const resize = new ResizeObserver(() => { plot.setSize({ width: Math.max(280, el.clientWidth), height: 260 }) })
  resize.observe(el)
  return { plot, destroy: () => { resize.disconnect(); plot.destroy(); delete el.dataset.drawn } }
}

export function Chart ({ series, label }: { series: Series, label: string }) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const el = box.current
    if (el === null || series.fields.length === 0) return
    const { destroy } = drawChart(el, series)
    return destroy
  }, [series])
  return <div ref={box} class="chart" role="img" aria-label={label} data-points={series.times.length} />
}
