/** One sensor: latest value, access list and retention (owner), live readings, history chart and table. */
import { useEffect, useState } from 'preact/hooks'
import type { SensorInfo } from '../../src/core/index.ts'
import type { Session } from '../../src/client/index.ts'
import { ErrorMessage } from './errors.tsx'
import { retentionText } from './format.ts'
import { HistoryPanel } from './history-panel.tsx'
import { LatestValue, fetchLatest, useNow } from './latest.tsx'
import type { LatestState } from './latest.tsx'
import { LivePanel } from './live-panel.tsx'
import type { StreamPeers } from './live-panel.tsx'
import { RetentionSelect } from './retention.tsx'

/** `streams`: the stream peers' WebSocket URLs, this gateway's first when it runs stream ([ACS-18], [STR-49]). */
export function SensorScreen ({ session, id, streams }: { session: Session, id: string, streams: StreamPeers }) {
  const [latest, setLatest] = useState<LatestState>({ kind: 'loading' })
  const [info, setInfo] = useState<SensorInfo | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [version, setVersion] = useState(0)
  const now = useNow()
  useEffect(() => {
    let live = true
    setLatest({ kind: 'loading' })
    setError(undefined)
    void fetchLatest(session, id).then(state => { if (live) setLatest(state) })
    session.sensor(id).then(value => { if (live) setInfo(value) }, (err: unknown) => { if (live) setError(err) })
    return () => { live = false }
  }, [session, id, version])
  const owner = info?.owner.pseudonym === session.pseudonym
  return (
    <div>
      <p><a href="#/">← All sensors</a></p>
      <h2>Sensor <code id="sensor-id">{id}</code></h2>
      <section aria-labelledby="latest-title">
        <h3 id="latest-title">Latest reading</h3>
        <div id="sensor-latest"><LatestValue state={latest} now={now} /></div>
        <button type="button" class="secondary" onClick={() => { setVersion(v => v + 1) }}>Refresh</button>
      </section>
      <ErrorMessage error={error} />
      {info !== undefined && (owner
        ? <AccessPanel session={session} id={id} info={info} onChanged={() => { setVersion(v => v + 1) }} />
        : <p>Owner: <code>{info.owner.pseudonym}</code>. Readings are kept for {retentionText(info.retentionSeconds)}.</p>)}
      <LivePanel session={session} id={id} streams={streams} />
      <HistoryPanel session={session} id={id} />
    </div>
  )
}

function AccessPanel ({ session, id, info, onChanged }: { session: Session, id: string, info: SensorInfo, onChanged: () => void }) {
  const [pseudonym, setPseudonym] = useState('')
  const [retention, setRetention] = useState<number | undefined>(info.retentionSeconds)
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const [done, setDone] = useState<string | undefined>(undefined)
  const act = async (what: () => Promise<string>): Promise<void> => {
    setBusy(true)
    setError(undefined)
    setDone(undefined)
    try {
      setDone(await what())
      onChanged()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const share = async (event: Event): Promise<void> => {
    event.preventDefault()
    const who = pseudonym.trim()
    await act(async () => { await session.share(id, who); setPseudonym(''); return `Shared with ${who}: readings sealed from now on are readable by them.` })
  }
  return (
    <section aria-labelledby="access-title">
      <h3 id="access-title">Who can read it</h3>
      <p class="muted">Readings are sealed for the people on this list when they arrive; someone added later cannot read older readings, someone removed cannot read newer ones.</p>
      <ul id="readers">
        {info.readers.length === 0 && <li class="muted">only you</li>}
        {info.readers.map(r => (
          <li key={r.pseudonym} data-reader={r.pseudonym}>
            <code>{r.pseudonym}</code>{' '}
            <button type="button" class="secondary" disabled={busy} aria-label={`Revoke access of ${r.pseudonym}`}
              onClick={() => { void act(async () => { await session.revoke(id, r.pseudonym); return `Revoked ${r.pseudonym}.` }) }}>Revoke</button>
          </li>
        ))}
      </ul>
      <form onSubmit={(e) => { void share(e) }}>
        <label for="share-pseudonym">Share with (pseudonym)</label>
        <input id="share-pseudonym" required spellcheck={false} autocomplete="off" value={pseudonym} onInput={e => { setPseudonym(e.currentTarget.value) }} />
        <button type="submit" disabled={busy || pseudonym.trim() === ''}>Share</button>
      </form>
      <form onSubmit={(e) => { e.preventDefault(); void act(async () => { const r = await session.setRetention(id, retention ?? 30 * 86_400); return `Readings are now kept for ${retentionText(r.retentionSeconds)}.` }) }}>
        <RetentionSelect id="retention" value={retention} onChange={setRetention} withDefault={false} />
        <button type="submit" disabled={busy}>Set retention</button>
        <span class="muted"> now: {retentionText(info.retentionSeconds)}</span>
      </form>
      {done !== undefined && <p role="status" id="access-status">{done}</p>}
      <ErrorMessage error={error} />
    </section>
  )
}
