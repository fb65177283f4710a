/**
 * A sensor's live readings from this gateway's stream broker ([STR-40] .. [STR-45]): one
 * subscription over its WebSocket (the URL GET /v1/network gave, [ACS-18]), every reading
 * verified and opened here like any other; the connection's state shown as it changes. The
 * newest readings are kept in a ring buffer and drawn (table and chart, uPlot `setData`) at most
 * once per animation frame, however fast they come. The subscription ends when the page is left
 * or the user logs out (the component unmounts).
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { Session, StreamReading, StreamState, StreamStateInfo } from '../../src/client/index.ts'
import { chartData, drawChart, numericSeries } from './chart.tsx'
import type { Series } from './chart.tsx'
import { ErrorMessage } from './errors.tsx'
import { batchPerFrame } from './frame-batch.ts'
import { valueText } from './format.ts'
import { RingBuffer } from './ring-buffer.ts'

/** Readings a live view keeps (chart and table). */
const KEEP = 1000
const TABLE_ROWS = 50

type Shown = { state: 'connecting' | 'live' | 'reconnecting' | 'closed', url: string, delayMs?: number }

function shown (state: StreamState, info: StreamStateInfo): Shown {
  return { state: state === 'connected' ? 'live' : state, url: info.url, delayMs: info.delayMs }
}

function stateText ({ state, url, delayMs }: Shown): string {
  switch (state) {
    case 'connecting': return `connecting to ${url}…`
    case 'live': return `live: readings appear here as they arrive (${url})`
    case 'reconnecting': return `reconnecting to ${url}${delayMs === undefined ? '' : ` in ${(delayMs / 1000).toFixed(1)} s`}…`
    case 'closed': return 'closed'
  }
}

export function LivePanel ({ session, id, ws }: { session: Session, id: string, ws: string | undefined }) {
  return (
    <section aria-labelledby="live-title" id="live-panel">
      <h3 id="live-title">Live</h3>
      {ws === undefined
        ? (
          <p id="live-state" data-state="none">
            This gateway runs no stream peer, so it cannot show live readings. Refresh the latest
            reading or show the history below, or log in at a gateway of the network that runs one.
          </p>
          )
        : <LiveView session={session} id={id} ws={ws} key={`${id} ${ws}`} />}
    </section>
  )
}

/** uPlot over the kept readings: made when the first numeric field arrives, made again when the set of fields changes, else `setData`. */
class LiveChart {
  private readonly el: HTMLElement
  private current?: { plot: ReturnType<typeof drawChart>['plot'], destroy: () => void, fields: string }

  constructor (el: HTMLElement) {
    this.el = el
  }

  update (series: Series): void {
    const fields = series.fields.map(f => f.name).join('\n')
    this.el.dataset.points = String(series.times.length)
    if (this.current !== undefined && this.current.fields === fields) {
      this.current.plot.setData(chartData(series))
      return
    }
    this.destroy()
    if (series.fields.length > 0) this.current = { ...drawChart(this.el, series, true), fields }
  }

  destroy (): void {
    this.current?.destroy()
    this.current = undefined
  }
}

function LiveView ({ session, id, ws }: { session: Session, id: string, ws: string }) {
  const [conn, setConn] = useState<Shown>({ state: 'connecting', url: ws })
  const [error, setError] = useState<unknown>(undefined)
  const [rows, setRows] = useState<StreamReading[]>([])
  const [received, setReceived] = useState(0)
  const [fields, setFields] = useState<string[]>([])
  const box = useRef<HTMLDivElement>(null)

  useEffect(() => {
    let active = true
    const ring = new RingBuffer<StreamReading>(KEEP)
    const chart = box.current === null ? undefined : new LiveChart(box.current)
    let count = 0
    // one draw per animation frame: the readings that came meanwhile go in together
    const draw = batchPerFrame(() => {
      const kept = ring.toArray()
      const series = numericSeries(kept)
      chart?.update(series)
      setFields(series.fields.map(f => f.name))
      setRows(kept.slice(-TABLE_ROWS).reverse())
      setReceived(count)
    })
    let subscription: { close: () => Promise<void> } | undefined
    try {
      subscription = session.subscribe([id], reading => {
        ring.push(reading)
        count++
        draw.request()
      }, {
        urls: [ws],
        onState: (state, info) => {
          if (!active) return
          setConn(shown(state, info))
          // a failure is shown until a connection is live again
          if (state === 'connected') setError(undefined)
        },
        onError: err => { if (active) setError(err) }
      })
    } catch (err) {
      setError(err)
      setConn({ state: 'closed', url: ws })
    }
    return () => {
      active = false
      draw.stop()
      chart?.destroy()
      void subscription?.close()
    }
  }, [session, id, ws])

  return (
    <div>
      <p id="live-state" data-state={conn.state} role="status" aria-live="polite">
        <span class={`dot ${conn.state}`} aria-hidden="true" /> {stateText(conn)}
      </p>
      <ErrorMessage error={error} />
      <p class="muted" id="live-count" data-count={received}>
        {received === 0 ? 'No live reading yet: one appears here as soon as the sensor sends it (the newest one kept by the stream peer comes at once).' : `${received} live readings received${received > KEEP ? ` (the newest ${KEEP} kept)` : ''}.`}
      </p>
      <div ref={box} class="live-chart" role="img" aria-label={fields.length === 0 ? `Live numeric fields of ${id}: none yet` : `Live numeric fields of ${id}: ${fields.join(', ')}`} />
      {rows.length > 0 && (
        <div class="table-wrap">
          <table id="live-table">
            <caption>Live readings, newest first{received > TABLE_ROWS ? ` (the newest ${TABLE_ROWS})` : ''}</caption>
            <thead><tr><th scope="col">Time</th><th scope="col">Seq</th><th scope="col">Reading</th></tr></thead>
            <tbody>
              {rows.map(r => (
                <tr key={`${r.seq}:${r.gateway}`} data-seq={r.seq}>
                  <td><time dateTime={new Date(r.ts).toISOString()}>{new Date(r.ts).toLocaleString()}</time></td>
                  <td>{r.seq}</td>
                  <td><code>{valueText(r)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
