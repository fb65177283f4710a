/** Small presentation helpers shared by the screens. */
import type { LatestReading } from '../../src/client/index.ts'

export function age (ts: number, now: number): string {
  const s = Math.max(0, Math.round((now - ts) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

/** A reading's value as text: its UTF-8 text, else its bytes in hex. */
export function valueText (reading: { text?: string, plaintext?: Uint8Array, value?: Uint8Array }): string {
  if (reading.text !== undefined) return reading.text
  const bytes = reading.plaintext ?? reading.value
  return bytes === undefined ? '' : `0x${Array.from(bytes, b => b.toString(16).padStart(2, '0')).join('')}`
}

export function latestText (latest: LatestReading): string {
  return valueText(latest)
}

export function retentionText (seconds: number): string {
  if (seconds === 0) return 'forever'
  if (seconds % 86_400 === 0) return `${seconds / 86_400} days`
  if (seconds % 3600 === 0) return `${seconds / 3600} hours`
  if (seconds % 60 === 0) return `${seconds / 60} minutes`
  return `${seconds} s`
}

/** A single-quoted shell word. */
export function shellQuote (text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`
}
