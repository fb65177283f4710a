/** The sensors I own and those shared with me, each with its latest value and age; adding a sensor. */
import { useEffect, useState } from 'preact/hooks'
import type { NetworkInfo, Session } from '../../src/client/index.ts'
import { isSensorId } from '../../src/core/index.ts'
import { CopyButton } from './copy.tsx'
import { ErrorMessage } from './errors.tsx'
import { shellQuote } from './format.ts'
import { LatestValue, fetchLatest, useNow } from './latest.tsx'
import type { LatestState } from './latest.tsx'
import { RETENTION_CHOICES, RetentionSelect } from './retention.tsx'

interface Listing { owned: Array<{ id: string, readers: string[] }>, shared: Array<{ id: string, owner: string }> }

export function SensorsScreen ({ session, network }: { session: Session, network: NetworkInfo }) {
  const [listing, setListing] = useState<Listing | undefined>(undefined)
  const [latest, setLatest] = useState<Record<string, LatestState>>({})
  const [error, setError] = useState<unknown>(undefined)
  const [version, setVersion] = useState(0)
  const now = useNow()

  useEffect(() => {
    let live = true
    setError(undefined)
    session.listSensors().then(async list => {
      if (!live) return
      setListing(list)
      const ids = [...list.owned.map(s => s.id), ...list.shared.map(s => s.id)]
      setLatest(Object.fromEntries(ids.map(id => [id, { kind: 'loading' } as LatestState])))
      // four at a time: each is a signed request, a verification and a decryption
      let next = 0
      await Promise.all(Array.from({ length: Math.min(4, ids.length) }, async () => {
        while (live && next < ids.length) {
          const id = ids[next++] as string
          const state = await fetchLatest(session, id)
          if (live) setLatest(old => ({ ...old, [id]: state }))
        }
      }))
    }).catch((err: unknown) => { if (live) setError(err) })
    return () => { live = false }
  }, [session, version])

  const row = (id: string, extra: preact.ComponentChildren) => (
    <li key={id} class="sensor" data-sensor={id}>
      <a href={`#/sensor/${encodeURIComponent(id)}`}>{id}</a> {extra}
      <div><LatestValue state={latest[id] ?? { kind: 'loading' }} now={now} /></div>
    </li>
  )

  return (
    <div>
      <section aria-labelledby="owned-title">
        <h2 id="owned-title">My sensors</h2>
        <button type="button" class="secondary" onClick={() => { setVersion(v => v + 1) }}>Refresh</button>
        <ErrorMessage error={error} />
        {listing === undefined && error === undefined && <p class="muted">loading…</p>}
        {listing !== undefined && listing.owned.length === 0 && <p class="muted">You own no sensor yet: add one below.</p>}
        <ul id="owned-sensors" class="sensors">
          {listing?.owned.map(s => row(s.id, <span class="muted">shared with {s.readers.length === 0 ? 'nobody' : `${s.readers.length}`}</span>))}
        </ul>
      </section>
      <section aria-labelledby="shared-title">
        <h2 id="shared-title">Shared with me</h2>
        {listing !== undefined && listing.shared.length === 0 && <p class="muted">Nobody shares a sensor with you yet. Give them your pseudonym.</p>}
        <ul id="shared-sensors" class="sensors">
          {listing?.shared.map(s => row(s.id, <span class="muted">from <code>{s.owner.slice(0, 12)}…</code></span>))}
        </ul>
      </section>
      <AddSensor session={session} network={network} onAdded={() => { setVersion(v => v + 1) }} />
    </div>
  )
}

function AddSensor ({ session, network, onAdded }: { session: Session, network: NetworkInfo, onAdded: () => void }) {
  const [id, setId] = useState('')
  const [retention, setRetention] = useState(RETENTION_CHOICES.default)
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const [added, setAdded] = useState<{ id: string, credential: string } | undefined>(undefined)
  const badId = id !== '' && !isSensorId(id)
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const { credential } = await session.addSensor(id, retention === undefined ? {} : { retention })
      setAdded({ id, credential })
      setId('')
      onAdded()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section aria-labelledby="add-title">
      <h2 id="add-title">Add a sensor</h2>
      <form onSubmit={(e) => { void submit(e) }}>
        <label for="add-id">Sensor id (1 to 128 of A-Z a-z 0-9 . _ -)</label>
        <input id="add-id" required spellcheck={false} autocomplete="off" value={id} onInput={e => { setId(e.currentTarget.value) }} aria-invalid={badId} />
        {badId && <p class="error" role="alert">Only letters, digits, '.', '_' and '-', at most 128.</p>}
        <RetentionSelect id="add-retention" value={retention} onChange={setRetention} />
        <button type="submit" disabled={busy || id === '' || badId}>{busy ? 'Adding…' : 'Add sensor'}</button>
      </form>
      <ErrorMessage error={error} />
      {added !== undefined && <Credential id={added.id} credential={added.credential} network={network} />}
    </section>
  )
}

/** The credential, shown once, and the lines that send a reading to this gateway's collector. */
function Credential ({ id, credential, network }: { id: string, credential: string, network: NetworkInfo }) {
  const collector = network.collector
  const http = collector?.http ?? 'http://COLLECTOR-HOST:PORT'
  const mqtt = new URL(collector?.mqtt ?? 'mqtt://COLLECTOR-HOST:1883')
  const curl = `curl -sS -H 'Content-Type: application/json' -H ${shellQuote(`Authorization: Bearer ${credential}`)} -d '{"temperature":21.5}' ${http}/v1/sensors/${id}/readings`
  const pub = `mosquitto_pub -h ${mqtt.hostname} -p ${mqtt.port === '' ? '1883' : mqtt.port} -u ${id} -P ${shellQuote(credential)} -t sensors/${id}/readings -q 1 -m '{"temperature":22.0}'`
  return (
    <div class="credential" role="status">
      <h3>Sensor {id} added</h3>
      <p><strong>Its credential is shown this once</strong>: gatemesh keeps only a verifier of it. Put it in the sensor now.</p>
      <p><code id="credential">{credential}</code> <CopyButton text={credential} label="Copy the credential" /></p>
      {collector === undefined && <p class="muted">This gateway runs no collector: replace COLLECTOR-HOST:PORT with a collector gateway of the network.</p>}
      {/* a <label> names form controls only: these lines are figures, named by their captions */}
      <figure aria-labelledby="curl-caption">
        <figcaption id="curl-caption">Send a reading over HTTP</figcaption>
        <pre><code id="curl-line">{curl}</code></pre>
        <CopyButton text={curl} label="Copy the curl line" />
      </figure>
      <figure aria-labelledby="mqtt-caption">
        <figcaption id="mqtt-caption">or over MQTT</figcaption>
        <pre><code id="mqtt-line">{pub}</code></pre>
        <CopyButton text={pub} label="Copy the mosquitto_pub line" />
      </figure>
    </div>
  )
}
