/**
 * `gatemesh read history SENSOR [--from T] [--to T] [--limit N] [--order asc|desc]
 * [--format table|json|csv]` [PER-55]: the argument rules, the output formats and the progress
 * bar, over the client's history reader.
 */
import { GatemeshError, toBase64 } from '../core/index.ts'
import type { HistoryOptions, HistoryReading, Session } from '../client/index.ts'

export type HistoryFormat = 'table' | 'json' | 'csv'

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const RELATIVE = /^-(\d{1,9})([smhdw])$/
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/
const DEFAULT_SPAN_MS = 3_600_000

function usage (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_CLI_USAGE', detail)
}

/** A time argument: ISO 8601 (a date, or a date and time; without a zone: UTC), epoch ms, `now`, or `-N` s|m|h|d|w before now. */
export function parseTime (text: string, now: number, name: string): number {
  if (text === 'now') return now
  const relative = RELATIVE.exec(text)
  if (relative !== null) return now - Number(relative[1]) * (UNITS[relative[2] as string] as number)
  if (/^\d{1,16}$/.test(text)) return Number(text)
  if (ISO.test(text)) {
    const ms = Date.parse(/T.*(Z|[+-]\d{2}:\d{2})$/.test(text) || !text.includes('T') ? text : `${text}Z`)
    if (Number.isFinite(ms)) return ms
  }
  throw usage(`--${name} '${text}' is not a time: use ISO 8601 (2026-01-31T12:00:00Z), ms since the epoch, 'now', or -30m, -1h, -7d.`)
}

/** `--from -1h` would read as an option to node's parser: join such values to their option first. */
export function joinRelativeTimes (argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const next = argv[i + 1]
    if ((arg === '--from' || arg === '--to') && next !== undefined && RELATIVE.test(next)) {
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

export interface HistoryArgs { options: HistoryOptions, format: HistoryFormat }

/**
 * [PER-55] The reader's options from the command line. Without --from: an hour before --to (or
 * before now); without --to: a minute from now. --limit is how many readings to print in all
 * (default: every reading in the range).
 */
export function parseHistoryArgs (values: Record<string, string | boolean | undefined>, now: number): HistoryArgs {
  const text = (name: string): string | undefined => typeof values[name] === 'string' ? values[name] : undefined
  const toText = text('to')
  const fromText = text('from')
  const to = toText === undefined ? undefined : parseTime(toText, now, 'to')
  const from = fromText === undefined ? (to === undefined ? undefined : Math.max(0, to - DEFAULT_SPAN_MS)) : parseTime(fromText, now, 'from')
  if (from !== undefined && to !== undefined && from >= to) throw usage(`--from (${new Date(from).toISOString()}) must be before --to (${new Date(to).toISOString()}).`)
  const limitText = text('limit')
  const limit = limitText === undefined ? undefined : Number(limitText)
  if (limit !== undefined && (!/^\d+$/.test(limitText as string) || !Number.isSafeInteger(limit) || limit < 1)) throw usage('--limit must be a positive integer.')
  const order = text('order') ?? 'asc'
  if (order !== 'asc' && order !== 'desc') throw usage('--order is asc or desc.')
  const format = text('format') ?? 'table'
  if (format !== 'table' && format !== 'json' && format !== 'csv') throw usage('--format is table, json or csv.')
  return { options: { from, to, limit, order }, format }
}

function shown (reading: HistoryReading): string {
  if (reading.value === undefined) return ''
  return reading.text ?? toBase64(reading.value)
}

function csvField (value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

/** The header line of a format, if it has one. */
export function formatHeader (format: HistoryFormat): string | undefined {
  if (format === 'csv') return 'time,seq,collector,value,encoding,not_readable'
  if (format === 'table') return 'TIME                      SEQ               COLLECTOR                                              VALUE'
  return undefined
}

/** One reading as one line of the format (json: one object per line). */
export function formatReading (reading: HistoryReading, format: HistoryFormat): string {
  const time = new Date(reading.ts).toISOString()
  const encoding = reading.value === undefined ? '' : reading.text === undefined ? 'base64' : 'text'
  if (format === 'json') {
    return JSON.stringify({
      sensor: reading.sensor, seq: reading.seq, ts: reading.ts, time, gateway: reading.gateway, gatewayPeerId: reading.gatewayPeerId,
      ...(reading.value === undefined ? { notReadable: reading.notReadable } : encoding === 'text' ? { text: reading.text } : { base64: shown(reading) })
    })
  }
  if (format === 'csv') return [time, String(reading.seq), reading.gatewayPeerId, shown(reading), encoding, reading.notReadable ?? ''].map(csvField).join(',')
  const value = reading.value === undefined ? `(not readable: ${reading.notReadable ?? ''})` : shown(reading).replace(/[\r\n]+/g, ' ')
  return `${time.padEnd(25)} ${String(reading.seq).padEnd(17)} ${reading.gatewayPeerId.padEnd(54)} ${value}`
}

export interface HistoryOutput {
  out: (line: string) => void
  err: (text: string) => void
  /** Standard error is a terminal: a progress bar is drawn there. */
  tty: boolean
}

/** Runs the command: readings on `out`, warnings, progress and the summary on `err`. */
export async function printHistory (session: Session, sensorId: string, args: HistoryArgs, io: HistoryOutput): Promise<number> {
  let bar = false
  const reader = session.history(sensorId, {
    ...args.options,
    onReplicaMisbehaved: report => {
      if (bar) io.err('\r\x1b[K')
      io.err(`warning: replica ${report.replica} served a page that failed verification (${report.code}): ${report.detail}; reading it from another replica\n`)
    },
    onPage: progress => {
      // a bar only for a range of more than one page, and only on a terminal
      if (!io.tty || (progress.pages === 1 && !progress.more)) return
      bar = true
      const width = 30
      const done = Math.max(0, Math.min(width, Math.round(progress.fraction * width)))
      io.err(`\r[${'#'.repeat(done)}${' '.repeat(width - done)}] ${Math.round(progress.fraction * 100)}% ${progress.readings} readings`)
    }
  })
  // [PER-55] nothing on standard output before the first page is verified: the header comes with
  // the first reading (a failure before it leaves standard output empty), or, for csv, after an
  // empty range was read (a header alone: a valid CSV of no rows)
  const header = formatHeader(args.format)
  let headed = header === undefined
  for await (const reading of reader) {
    if (!headed) {
      headed = true
      io.out(header as string)
    }
    io.out(formatReading(reading, args.format))
  }
  if (!headed && args.format === 'csv') io.out(header as string)
  if (bar) io.err('\r\x1b[K')
  const { readings, notReadable, misbehaved, openEnds } = reader.stats
  const range = `from ${new Date(reader.from).toISOString()} to ${new Date(reader.to).toISOString()}`
  if (readings === 0) io.err(`${sensorId}: no readings ${range}; --from and --to read another range (e.g. --from -7d)\n`)
  else io.err(`${sensorId}: ${readings} reading(s) ${range}, each verified against its collector's checkpoints and certificate\n`)
  if (notReadable > 0) io.err(`${notReadable} reading(s) not readable by you: sealed before you were given access (or after it was taken away)\n`)
  if (misbehaved > 0) io.err(`warning: ${misbehaved} page(s) failed verification at a replica and were read from another; tell the network's operator\n`)
  if (openEnds.size > 0) io.err(`note: the newest readings of ${openEnds.size} collector(s) are not checkpointed yet, so not proven complete\n`)
  return 0
}
