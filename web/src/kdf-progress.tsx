/**
 * The password derivation (PBKDF2-SHA256, [ACC-2]: 4 000 000 iterations by default) takes
 * seconds. Chromium runs WebCrypto's deriveBits off the main thread (the page keeps painting
 * and answering while it runs: the longest pause between timer ticks is measured and shown), so
 * no Worker is needed; the bar is an estimate from a short calibration run, the clock is real.
 */
import { useEffect, useRef, useState } from 'preact/hooks'

const CALIBRATION_ITERATIONS = 50_000
const TICK_MS = 50

/** Iterations per millisecond of this browser's PBKDF2-SHA256, from one short run. */
async function measureRate (): Promise<number> {
  const key = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(16)), 'PBKDF2', false, ['deriveBits'])
  const started = performance.now()
  await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: crypto.getRandomValues(new Uint8Array(16)), iterations: CALIBRATION_ITERATIONS }, key, 256)
  return CALIBRATION_ITERATIONS / Math.max(1, performance.now() - started)
}

let calibration: Promise<number> | undefined

/**
 * The rate, measured once per page: started when a screen that derives keys appears, so a
 * log-in does not wait for it (it cost about 70 ms of each log-in when measured on submit).
 */
async function calibrate (): Promise<number> {
  calibration ??= measureRate().catch(() => 2000)
  return await calibration
}

export interface KdfRun {
  started: number
  estimateMs: number
  elapsedMs: number
  /** Longest gap between two timer ticks while it ran: what a user would feel as a freeze. */
  maxGapMs: number
  done: boolean
}

/** Runs `work` (which derives `iterations`) with a ticking clock; `run` resolves with its result. */
export function useKdf (): { state: KdfRun | undefined, run: <T>(iterations: number, work: () => Promise<T>) => Promise<T> } {
  const [state, setState] = useState<KdfRun | undefined>(undefined)
  const timer = useRef<ReturnType<typeof setInterval> | undefined>(undefined)
  useEffect(() => {
    void calibrate()
    return () => { clearInterval(timer.current) }
  }, [])
  const run = async <T,>(iterations: number, work: () => Promise<T>): Promise<T> => {
    const rate = await calibrate()
    const started = performance.now()
    let last = started
    let maxGapMs = 0
    const current: KdfRun = { started, estimateMs: iterations / rate, elapsedMs: 0, maxGapMs: 0, done: false }
    setState({ ...current })
    clearInterval(timer.current)
    timer.current = setInterval(() => {
      const now = performance.now()
      maxGapMs = Math.max(maxGapMs, now - last)
      last = now
      setState({ ...current, elapsedMs: now - started, maxGapMs })
    }, TICK_MS)
    try {
      return await work()
    } finally {
      clearInterval(timer.current)
      const now = performance.now()
      setState({ ...current, elapsedMs: now - started, maxGapMs: Math.max(maxGapMs, now - last), done: true })
    }
  }
  return { state, run }
}

export function KdfProgress ({ state, what }: { state: KdfRun | undefined, what: string }) {
  if (state === undefined) return null
  const fraction = state.done ? 1 : Math.min(0.97, state.elapsedMs / Math.max(1, state.estimateMs))
  return (
    <div class="kdf" data-max-gap-ms={Math.round(state.maxGapMs)} data-done={state.done ? 'yes' : 'no'} aria-live="polite">
      <label>
        {what} ({(state.elapsedMs / 1000).toFixed(1)} s{state.done ? '' : ` of about ${(state.estimateMs / 1000).toFixed(1)} s`})
        <progress max={1} value={fraction} />
      </label>
      {state.done && <p class="muted">The page stayed responsive throughout (longest pause {Math.round(state.maxGapMs)} ms): the browser derives the key off the main thread.</p>}
    </div>
  )
}
