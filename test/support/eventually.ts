/**
 * Polls `check` until it returns a value (not undefined), every `everyMs`, or throws once
 * `timeoutMs` has passed, naming `what` and the last error `check` threw. For state a test waits on
 * (a replica holding readings, a status counter), never a bare sleep.
 */
export async function eventuallyValue<T> (what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`)
}
