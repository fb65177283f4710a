/**
 * A sensor's history in a range ([PER-53]): every page verified and every reading opened here,
 * then a chart of the numeric fields, the raw readings in a table, and CSV or JSON export.
 * Readings sealed before this user was given access (or after removal) are listed as such.
 */
import { useMemo, useState } from 'preact/hooks'
import type { HistoryReading, Session } from '../../src/client/index.ts'
import { Chart, numericSeries } from './chart.tsx'
import { ErrorMessage } from './errors.tsx'
import { valueText } from './format.ts'

const RANGES = [
  { key: 'hour', label: 'Last hour', ms: 3_600_000 },
  { key: 'day', label: 'Last day', ms: 86_400_000 },
  { key: 'week', label: 'Last week', ms: 7 * 86_400_000 }
] as const
/** Readings loaded at most for one view (a chart of more says little, and the browser holds them all). */
const MAX_READINGS = 20_000
const TABLE_ROWS = 500

type RangeKey = typeof RANGES[number]['key'] | 'custom'

function localInput (ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000)
  return d.toISOString().slice(0, 16)
}

function download (name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => { URL.revokeObjectURL(url) }, 10_000)
}

function csvCell (text: string): string {
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text
}

function toCsv (readings: HistoryReading[]): string {
  const lines = ['time,seq,collector,value,not_readable']
  for (const r of readings) lines.push([new Date(r.ts).toISOString(), String(r.seq), r.gatewayPeerId, r.notReadable === undefined ? valueText(r) : '', r.notReadable ?? ''].map(csvCell).join(','))
  return lines.join('\n') + '\n'
}

function toJson (readings: HistoryReading[]): string {
  return JSON.stringify(readings.map(r => ({
    time: new Date(r.ts).toISOString(), ts: r.ts, seq: r.seq, collector: r.gatewayPeerId,
    ...(r.notReadable !== undefined ? { notReadable: r.notReadable } : r.json !== undefined ? { value: r.json } : { text: valueText(r) })
  })), null, 2) + '\n'
}

export function HistoryPanel ({ session, id }: { session: Session, id: string }) {
  const [range, setRange] = useState<RangeKey>('hour')
  const [from, setFrom] = useState(localInput(Date.now() - 3_600_000))
  const [to, setTo] = useState(localInput(Date.now() + 60_000))
  const [readings, setReadings] = useState<HistoryReading[] | undefined>(undefined)
  const [progress, setProgress] = useState<string | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const [stats, setStats] = useState<{ notReadable: number, truncated: boolean, ms: number } | undefined>(undefined)

  const load = async (event?: Event): Promise<void> => {
    event?.preventDefault()
    setBusy(true)
    setError(undefined)
    setProgress(undefined)
    const started = performance.now()
    try {
      const now = Date.now()
      const chosen = RANGES.find(r => r.key === range)
      const bounds = chosen !== undefined ? { from: now - chosen.ms, to: now + 60_000 } : { from: new Date(from).getTime(), to: new Date(to).getTime() }
      const reader = session.history(id, { ...bounds, limit: MAX_READINGS, pageSize: 5000, onPage: p => { setProgress(`${p.readings} readings verified and opened${p.more ? ', more to come…' : ''}`) } })
      const got: HistoryReading[] = []
      for await (const r of reader) got.push(r)
      setReadings(got)
      setStats({ notReadable: reader.stats.notReadable, truncated: got.length >= MAX_READINGS, ms: performance.now() - started })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const series = useMemo(() => numericSeries((readings ?? []).filter(r => r.notReadable === undefined)), [readings])
  const newestFirst = useMemo(() => [...(readings ?? [])].reverse().slice(0, TABLE_ROWS), [readings])

  return (
    <section aria-labelledby="history-title">
      <h3 id="history-title">History</h3>
      <form onSubmit={(e) => { void load(e) }} class="range">
        <label for="history-range">Range</label>
        <select id="history-range" value={range} onChange={e => { setRange(e.currentTarget.value as RangeKey) }}>
          {RANGES.map(r => <option key={r.key} value={r.key}>{r.label}</option>)}
          <option value="custom">Custom…</option>
        </select>
        {range === 'custom' && (
          <>
            <label for="history-from">From</label>
            <input id="history-from" type="datetime-local" value={from} onInput={e => { setFrom(e.currentTarget.value) }} />
            <label for="history-to">To</label>
            <input id="history-to" type="datetime-local" value={to} onInput={e => { setTo(e.currentTarget.value) }} />
          </>
        )}
        <button type="submit" disabled={busy}>{busy ? 'Loading…' : 'Show history'}</button>
      </form>
      {progress !== undefined && busy && <p role="status" class="muted">{progress}</p>}
      <ErrorMessage error={error} />
      {readings !== undefined && stats !== undefined && (
        <div id="history-result" data-count={readings.length}>
          <p class="muted">
            {readings.length} readings{stats.truncated ? ` (the first ${MAX_READINGS}: narrow the range for more)` : ''}, verified and opened in {(stats.ms / 1000).toFixed(1)} s
            {stats.notReadable > 0 ? `; ${stats.notReadable} not readable by you (sealed while you were not on the access list)` : ''}.
          </p>
          {series.fields.length > 0
            ? <Chart series={series} label={`Numeric fields of ${id}: ${series.fields.map(f => f.name).join(', ')}`} />
            : <p class="muted">No numeric JSON field to plot.</p>}
          <p>
            <button type="button" class="secondary" onClick={() => { download(`${id}.csv`, 'text/csv', toCsv(readings)) }}>Export CSV</button>{' '}
            <button type="button" class="secondary" onClick={() => { download(`${id}.json`, 'application/json', toJson(readings)) }}>Export JSON</button>
          </p>
          <div class="table-wrap">
            <table id="history-table">
              <caption>Raw readings, newest first{readings.length > TABLE_ROWS ? ` (the newest ${TABLE_ROWS}; export for all)` : ''}</caption>
              <thead><tr><th scope="col">Time</th><th scope="col">Seq</th><th scope="col">Reading</th></tr></thead>
              <tbody>
                {newestFirst.map(r => (
                  <tr key={`${r.seq}:${r.gateway}`} data-seq={r.seq}>
                    <td><time dateTime={new Date(r.ts).toISOString()}>{new Date(r.ts).toLocaleString()}</time></td>
                    <td>{r.seq}</td>
                    <td>{r.notReadable === undefined
                      ? <code>{valueText(r)}</code>
                      : <span class="muted not-readable">{r.notReadable === 'GM_ERR_NOT_A_RECIPIENT' ? 'not readable by you: sealed while you were not on the access list' : 'could not be decrypted'} ({r.notReadable})</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  )
}
