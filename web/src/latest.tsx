/** A sensor's latest reading, opened here, with its age; the states that are not errors said as such. */
import { useEffect, useState } from 'preact/hooks'
import { isGatemeshError } from '../../src/core/index.ts'
import type { LatestReading, Session } from '../../src/client/index.ts'
import { ErrorMessage } from './errors.tsx'
import { age, latestText } from './format.ts'

export type LatestState = { kind: 'loading' } | { kind: 'reading', reading: LatestReading } | { kind: 'none' } | { kind: 'sealed-before' } | { kind: 'error', error: unknown }

export async function fetchLatest (session: Session, id: string): Promise<LatestState> {
  try {
    return { kind: 'reading', reading: await session.readLatest(id) }
  } catch (err) {
    if (isGatemeshError(err, 'GM_ERR_NO_READING')) return { kind: 'none' }
    // [ENV-5] sealed before this user was on the list: not readable by them, not an error
    if (isGatemeshError(err, 'GM_ERR_NOT_A_RECIPIENT')) return { kind: 'sealed-before' }
    return { kind: 'error', error: err }
  }
}

/** Re-renders every second, so that ages stay true. */
export function useNow (): number {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const timer = setInterval(() => { setNow(Date.now()) }, 1000)
    return () => { clearInterval(timer) }
  }, [])
  return now
}

export function LatestValue ({ state, now }: { state: LatestState, now: number }) {
  switch (state.kind) {
    case 'loading': return <span class="muted">loading…</span>
    case 'none': return <span class="muted">no reading yet</span>
    case 'sealed-before': return <span class="muted">the latest reading was sealed before you were given access: it is not readable by you (GM_ERR_NOT_A_RECIPIENT)</span>
    case 'error': return <ErrorMessage error={state.error} />
    case 'reading': return (
      <span class="latest" data-seq={state.reading.seq} data-ts={state.reading.ts}>
        <code class="value">{latestText(state.reading)}</code>{' '}
        <time dateTime={new Date(state.reading.ts).toISOString()} title={new Date(state.reading.ts).toLocaleString()}>{age(state.reading.ts, now)}</time>
      </span>
    )
  }
}
