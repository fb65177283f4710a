/**
 * Durations on the command line: `90s`, `30m`, `24h`, `30d` (one number, one unit). Isomorphic:
 * the CA's validity periods and a sensor's retention ([SEN-2]) are both written this way.
 */

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Milliseconds of a duration, or undefined when `text` is not one. */
export function parseDuration (text: string): number | undefined {
  const match = /^(\d{1,6})([smhd])$/.exec(text.trim())
  if (match === null) return undefined
  const ms = Number(match[1]) * (UNITS[match[2] ?? ''] ?? 0)
  return ms > 0 ? ms : undefined
}

export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's']) {
    const size = UNITS[unit] ?? 1
    if (ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}
