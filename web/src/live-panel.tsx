/**
 * A sensor's live readings from a stream peer ([STR-40] .. [STR-45]): one subscription over a
 * stream broker's WebSocket, this gateway's own when it runs stream, else another gateway's
 * (the `streams` GET /v1/network gave, [ACS-18], [STR-49]; the page's CSP allows exactly their
 * origins, [ACS-23]); when a connection ends the client moves on to the next peer, round robin
 * ([STR-45]). Every reading is verified and opened here like any other; the connection's state,
 * and which peer, shown as they change. The newest readings are kept in a ring buffer and drawn
 * (table and chart, uPlot `setData`) at most once per animation frame, however fast they come.
 * The subscription ends when the page is left or the user logs out (the component unmounts).
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

/** The stream peers' WebSocket URLs to try in turn, and this gateway's own (first of them) when it runs stream. */
export interface StreamPeers { urls: string[], own?: string }

type Shown = { state: 'connecting' | 'live' | 'reconnecting' | 'closed', url: string, delayMs?: number }

function shown (state: StreamState, info: StreamStateInfo): Shown {
  return { state: state === 'connected' ? 'live' : state, url: info.url, delayMs: info.delayMs }
}

function peerText (url: string, own: string | undefined): string {
  return `${url === own ? 'this gateway\'s stream peer' : 'the stream peer of another gateway'}, ${url}`
}

function stateText ({ state, url, delayMs }: Shown, own: string | undefined): string {
  switch (state) {
    case 'connecting': return `connecting to ${peerText(url, own)}…`
    case 'live': return `live: readings appear here as they arrive (from ${peerText(url, own)})`
    case 'reconnecting': return `reconnecting to ${peerText(url, own)}${delayMs === undefined ? '' : ` in ${(delayMs / 1000).toFixed(1)} s`}…`
    case 'closed': return 'closed'
  }
}

export function LivePanel ({ session, id, streams }: { session: Session, id: string, streams: StreamPeers }) {
  return (
    <section aria-labelledby="live-title" id="live-panel">
      <h3 id="live-title">Live</h3>
      {streams.urls.length === 0
        ? (
          <p id="live-state" data-state="none">
            This gateway knows no stream peer in the network, so it cannot show live readings.
            Refresh the latest reading or show the history below, or reload the page later.
          </p>
          )
        : <LiveView session={session} id={id} streams={streams} key={`${id} ${streams.urls.join(' ')}`} />}
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

function LiveView ({ session, id, streams }: { session: Session, id: string, streams: StreamPeers }) {
  const first = streams.urls[0] as string
  // the same peers (the parent makes a new list on each render) keep the same subscription
  const urls = streams.urls.join(' ')
  const [conn, setConn] = useState<Shown>({ state: 'connecting', url: first })
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
        urls: urls.split(' '),
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
      setConn({ state: 'closed', url: first })
    }
    return () => {
      active = false
      draw.stop()
      chart?.destroy()
      void subscription?.close()
    }
  }, [session, id, urls])

  return (
    <div>
      <p id="live-state" data-state={conn.state} data-url={conn.url} data-peer={conn.url === streams.own ? 'own' : 'other'} role="status" aria-live="polite">
        <span class={`dot ${conn.state}`} aria-hidden="true" /> {stateText(conn, streams.own)}
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
