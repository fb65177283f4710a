/** Every failure shown in plain words with its stable code (docs/ERRORS.md). */
import { isGatemeshError } from '../../src/core/index.ts'

export interface Shown { message: string, code: string }

export function describeError (err: unknown): Shown {
  if (isGatemeshError(err)) return { message: err.message, code: err.code }
  // a failure outside the library (a browser API): its words, and no invented code
  return { message: err instanceof Error ? err.message : String(err), code: 'unexpected' }
}

export function ErrorMessage ({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null
  const { message, code } = describeError(error)
  return (
    <p class="error" role="alert">
      {message} <code class="code">({code})</code>
    </p>
  )
}
