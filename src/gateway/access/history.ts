/**
 * History through Data Access [PER-50]..[PER-52]: the query of `GET /v1/sensors/:id/history`, its
 * opaque cursor, and the page a replica answered turned into the route's answer. The replicas
 * are asked through an injected `HistorySource` (the composition root wires it to the
 * persistence protocol's `range` op [PER-2]; tests pass a fake).
 */
import { GatemeshError, decodeCanonical, encodeCanonical, fromBase64Url, readEnvelopeHeader, toBase64Url } from '../../core/index.ts'

/** [PER-1] A reading's place in history: by seq, then gw bytewise. */
export interface HistoryKey { seq: number, gw: Uint8Array }

/** What the access service asks a replica for ([PER-2] `range`). */
export interface HistoryQuery {
  /** Inclusive, = from · 1000 [PER-1]. */
  fromSeq: number
  /** Exclusive, = to · 1000. */
  toSeq: number
  order: 'asc' | 'desc'
  /** Resume strictly after this key (in `order`). */
  after?: HistoryKey
  /** 1..5 000 */
  limit: number
}

/** A replica's answer to a `range` request, and who answered it. */
export interface ReplicaPage {
  /** Peer id of the replica that answered. */
  replica: string
  /** Peer ids of the sensor's replicas ([PER-3]), nearest first. */
  replicas: string[]
  envs: Uint8Array[]
  cps: Uint8Array[]
  certs: Uint8Array[]
  /** More readings follow this page in the range. */
  more: boolean
}

/**
 * Asks the sensor's replicas for a page: the one named by `replica`, else the nearest reachable.
 * Fails with GM_ERR_HISTORY_NO_REPLICA (none reachable, or the named one not), or
 * GM_ERR_HISTORY_REPLICA_UNKNOWN (`replica` is not one of the sensor's replicas).
 */
export type HistorySource = (sensorId: string, query: HistoryQuery, replica?: string) => Promise<ReplicaPage>

/** [PER-50] Page size bounds and default. */
export const HISTORY_MAX_LIMIT = 5000
export const HISTORY_DEFAULT_LIMIT = 1000
/** [PER-50] Without `to`: now plus this (readings stamped by a collector whose clock runs a little ahead). */
export const HISTORY_DEFAULT_AHEAD_MS = 60_000
/** [PER-50] Without `from`: one hour before now. */
export const HISTORY_DEFAULT_SPAN_MS = 3_600_000
/** [COL-6] seq = ms · 1000 + c stays below 2^53: the latest time a range may name. */
export const HISTORY_MAX_TIME_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1000)
const CURSOR_VERSION = 1
const MAX_CURSOR_BYTES = 256

interface Cursor { sensor: string, fromSeq: number, toSeq: number, order: 'asc' | 'desc', after: HistoryKey }

/**
 * [PER-51] The cursor: base64url of the canonical CBOR array
 * `[1, seq, gw, order, fromSeq, toSeq, sensor]`: the last key of the page it follows, and the query
 * it belongs to (a cursor used with another sensor, range or order is refused).
 */
export function encodeCursor (cursor: Cursor): string {
  return toBase64Url(encodeCanonical([CURSOR_VERSION, cursor.after.seq, cursor.after.gw, cursor.order, cursor.fromSeq, cursor.toSeq, cursor.sensor]))
}

function badCursor (detail: string, cause?: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_HISTORY_BAD_CURSOR', `The cursor ${detail}.`, cause === undefined ? undefined : { cause })
}

function isSeq (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

export function decodeCursor (text: string): Cursor {
  let value: unknown
  try {
    value = decodeCanonical(fromBase64Url(text), { maxBytes: MAX_CURSOR_BYTES })
  } catch (err) {
    throw badCursor('is not one this service made', err)
  }
  if (!Array.isArray(value) || value.length !== 7 || value[0] !== CURSOR_VERSION) throw badCursor('is not one this service made')
  const [, seq, gw, order, fromSeq, toSeq, sensor] = value as unknown[]
  if (!isSeq(seq) || !(gw instanceof Uint8Array) || gw.length !== 32 || (order !== 'asc' && order !== 'desc') ||
    !isSeq(fromSeq) || !isSeq(toSeq) || typeof sensor !== 'string' || fromSeq >= toSeq || seq < fromSeq || seq >= toSeq) {
    throw badCursor('is not one this service made')
  }
  return { sensor, fromSeq, toSeq, order, after: { seq, gw } }
}

/** The route's query string, as its schema lets it through (decimal strings). */
export interface HistoryQueryString {
  from?: string
  to?: string
  limit?: string
  order?: 'asc' | 'desc'
  cursor?: string
  replica?: string
}

function badRange (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', detail)
}

/** A time in ms, as the schema admits it (digits), within what a seq can hold. */
function time (text: string, name: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value > HISTORY_MAX_TIME_MS) throw badRange(`'${name}' is ms since the epoch, at most ${HISTORY_MAX_TIME_MS}.`)
  return value
}

/**
 * [PER-50] [PER-51] The replica query a request asks for. With a cursor, `from`, `to` and `order`
 * may be left out (the cursor's are taken); given, they must be the cursor's.
 */
export function parseHistoryQuery (sensorId: string, qs: HistoryQueryString, now: number): HistoryQuery {
  const limit = qs.limit === undefined ? HISTORY_DEFAULT_LIMIT : Number(qs.limit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > HISTORY_MAX_LIMIT) throw new GatemeshError('GM_ERR_ACCESS_REQUEST_MALFORMED', `'limit' is 1 to ${HISTORY_MAX_LIMIT}.`)
  const from = qs.from === undefined ? undefined : time(qs.from, 'from')
  const to = qs.to === undefined ? undefined : time(qs.to, 'to')
  if (qs.cursor !== undefined) {
    const cursor = decodeCursor(qs.cursor)
    if (cursor.sensor !== sensorId) throw badCursor('belongs to another sensor')
    if ((from !== undefined && from * 1000 !== cursor.fromSeq) || (to !== undefined && to * 1000 !== cursor.toSeq)) throw badCursor('belongs to another range')
    if (qs.order !== undefined && qs.order !== cursor.order) throw badCursor('belongs to the other order')
    return { fromSeq: cursor.fromSeq, toSeq: cursor.toSeq, order: cursor.order, after: cursor.after, limit }
  }
  const end = to ?? Math.min(now + HISTORY_DEFAULT_AHEAD_MS, HISTORY_MAX_TIME_MS)
  const start = from ?? Math.max(0, now - HISTORY_DEFAULT_SPAN_MS)
  if (start >= end) throw badRange(`'from' (${start}) must be before 'to' (${end}).`)
  return { fromSeq: start * 1000, toSeq: end * 1000, order: qs.order ?? 'asc', limit }
}

/** A bound of a page's key interval as the route answers it: a key, or a bound of the range (no gw). */
export interface PageBound { seq: number, gw?: string }

export interface HistoryAnswer {
  sensor: string
  replica: string
  replicas: string[]
  readings: string[]
  checkpoints: string[]
  certificates: string[]
  lo: PageBound
  hi: PageBound
  next?: string
}

function pageFailure (replica: string, detail: string, cause?: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_HISTORY_NO_REPLICA', `Replica ${replica} answered an unusable page: ${detail}.`, cause === undefined ? undefined : { cause })
}

/** [PER-52] The page's bounds and cursor, shared by both representations of the answer. */
function pageFrame (sensorId: string, query: HistoryQuery, page: ReplicaPage): { lo: PageBound, hi: PageBound, next?: string } {
  if (page.envs.length > query.limit) throw pageFailure(page.replica, `${page.envs.length} readings for a limit of ${query.limit}`)
  const asc = query.order === 'asc'
  const lo: PageBound = query.after === undefined
    ? { seq: asc ? query.fromSeq : query.toSeq }
    : { seq: query.after.seq, gw: toBase64Url(query.after.gw) }
  let hi: PageBound = { seq: asc ? query.toSeq : query.fromSeq }
  let next: string | undefined
  if (page.more) {
    const last = page.envs.at(-1)
    if (last === undefined) throw pageFailure(page.replica, 'no readings, yet more to follow')
    let key: HistoryKey
    try {
      const header = readEnvelopeHeader(last)
      key = { seq: header.seq, gw: header.gw }
    } catch (err) {
      throw pageFailure(page.replica, 'its last reading is not an envelope', err)
    }
    if (key.seq < query.fromSeq || key.seq >= query.toSeq) throw pageFailure(page.replica, 'its last reading is outside the range')
    hi = { seq: key.seq, gw: toBase64Url(key.gw) }
    next = encodeCursor({ sensor: sensorId, fromSeq: query.fromSeq, toSeq: query.toSeq, order: query.order, after: key })
  }
  return { lo, hi, ...(next === undefined ? {} : { next }) }
}

/**
 * [PER-52] The route's answer. `lo` is where the page starts (exclusive when it is a key: the
 * cursor's; else the range's start: `fromSeq` ascending, `toSeq` descending); `hi` where it ends:
 * the last reading's key when `next` follows, else the range's end (`toSeq` ascending, `fromSeq`
 * descending). The envelopes are not verified here: the client verifies the page [PER-12].
 */
export function historyAnswer (sensorId: string, query: HistoryQuery, page: ReplicaPage): HistoryAnswer {
  const { lo, hi, next } = pageFrame(sensorId, query, page)
  return {
    sensor: sensorId,
    replica: page.replica,
    replicas: page.replicas,
    readings: page.envs.map(toBase64Url),
    checkpoints: page.cps.map(toBase64Url),
    certificates: page.certs.map(toBase64Url),
    lo,
    hi,
    ...(next === undefined ? {} : { next })
  }
}

/** [PER-56] The media type of the binary answer. */
export const HISTORY_CBOR_TYPE = 'application/cbor'

/**
 * [PER-56] The same answer as canonical CBOR ([ENC-1]): the map of [PER-52] with `readings`,
 * `checkpoints` and `certificates` as byte strings instead of base64url text; every other field
 * as in JSON.
 */
export function historyAnswerCbor (sensorId: string, query: HistoryQuery, page: ReplicaPage): Uint8Array {
  const { lo, hi, next } = pageFrame(sensorId, query, page)
  return encodeCanonical({
    sensor: sensorId,
    replica: page.replica,
    replicas: page.replicas,
    readings: page.envs,
    checkpoints: page.cps,
    certificates: page.certs,
    lo,
    hi,
    ...(next === undefined ? {} : { next })
  })
}

/**
 * [PER-56] Whether an Accept header asks for the CBOR answer: `application/cbor` listed with a
 * q above 0 and not below that of JSON (`application/json`, else `application/*`, else `*\/*`,
 * as RFC 9110 §12.5.1 ranks them). Anything else, an absent header included, gets JSON.
 */
export function acceptsHistoryCbor (accept: string | undefined): boolean {
  if (accept === undefined) return false
  const q = new Map<string, number>()
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map(s => s.trim().toLowerCase())
    if (range === undefined || range === '') continue
    let weight = 1
    for (const param of params) {
      const match = /^q=([01](?:\.[0-9]{0,3})?)$/.exec(param)
      if (match !== null) weight = Number(match[1])
    }
    if (!q.has(range)) q.set(range, weight)
  }
  const cbor = q.get(HISTORY_CBOR_TYPE)
  if (cbor === undefined || cbor <= 0) return false
  const json = q.get('application/json') ?? q.get('application/*') ?? q.get('*/*') ?? 0
  return cbor >= json
}

/**
 * [PER-50] The (sensor, caller) pairs whose last history request this gateway answered, for
 * `ttlMs`: for them the route asks the replica while it checks the caller against the sensor's
 * current record, instead of after. It only saves time: the check is made on every request
 * and nothing of the page is sent unless it passes; a pair that fails it is forgotten, and a
 * caller never answered here gets no replica asked before the check passes.
 */
export class RecentReaders {
  private readonly held = new Map<string, number>()
  private readonly ttlMs: number
  private readonly max: number

  constructor (init: { ttlMs?: number, max?: number } = {}) {
    this.ttlMs = init.ttlMs ?? 60_000
    this.max = init.max ?? 4096
  }

  has (sensorId: string, caller: string, now: number): boolean {
    return (this.held.get(`${sensorId}\n${caller}`) ?? 0) > now
  }

  remember (sensorId: string, caller: string, now: number): void {
    const key = `${sensorId}\n${caller}`
    this.held.delete(key)
    if (this.held.size >= this.max) this.held.delete(this.held.keys().next().value as string)
    this.held.set(key, now + this.ttlMs)
  }

  forget (sensorId: string, caller: string): void {
    this.held.delete(`${sensorId}\n${caller}`)
  }
}
