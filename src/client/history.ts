/**
 * Reading a sensor's history [PER-53]..[PER-55]: pages fetched from any access gateway
 * ([PER-50]), each verified against its collectors' checkpoints ([PER-12]) and certificates
 * ([ENV-10]) before a reading of it is opened; a page that fails is asked again from another of
 * the sensor's replicas, and the one that served it is reported.
 */
import type { CryptoSuite, Envelope, OpenedReading } from '../core/index.ts'
import { GatemeshError, fromBase64Url, fromUtf8, isGatemeshError, readEnvelopeHeader, toHex } from '../core/index.ts'
import { inThreadPages, type Opening, type PageProcessor, type ReadingHead } from './history-pages.ts'
import type { HistoryPageVerifier } from './history-verify.ts'
import type { CertifiedCollector } from './trust.ts'
/** [PER-53] Pages asked for ahead of the one being verified, each once the page before it answered (its cursor). */
export const READ_AHEAD_PAGES = 2
/** Readings asked for per page unless told ([PER-53]). */
const DEFAULT_PAGE_SIZE = 1000
/** [PER-50] Largest page an access gateway serves. */
export const HISTORY_PAGE_MAX = 5000
/** An answer of 5 000 envelopes with their checkpoints and certificates, as base64url JSON (a replica's frame is at most 8 MiB). */
const MAX_PAGE_ANSWER_BYTES = 12 * 1024 * 1024
/** Without `to`: now plus a minute; without `from`: an hour before now (the route's defaults, [PER-50]). */
const DEFAULT_AHEAD_MS = 60_000
const DEFAULT_SPAN_MS = 3_600_000
const MAX_TIME_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1000)
/** The failures of a page that its replica answers for ([PER-54]). */
const REPLICA_FAULTS = new Set(['GM_ERR_HISTORY_TAMPERED', 'GM_ERR_HISTORY_INCOMPLETE', 'GM_ERR_CLIENT_READING_UNAUTHENTIC', 'GM_ERR_CLIENT_READING_MISMATCH'])

export interface HistoryOptions {
  /** Start of the range, inclusive: ms since the epoch or a Date (default: an hour ago). */
  from?: number | Date
  /** End of the range, exclusive (default: a minute from now). */
  to?: number | Date
  /** Readings to yield at most (default: every reading in the range). */
  limit?: number
  order?: 'asc' | 'desc'
  /** Readings per page, 1 to 5 000 (default 1 000). */
  pageSize?: number
  /**
   * Peer id of the replica to ask first ([PER-50] `replica`, one of the sensor's replicas), for
   * every page until one of its pages fails verification ([PER-54]). Default: the gateway picks.
   */
  replica?: string
  /** Told of every replica that served a page failing verification ([PER-54]). */
  onReplicaMisbehaved?: (report: ReplicaMisbehaviour) => void
  /** Told after every verified page. */
  onPage?: (progress: HistoryProgress) => void
}

export interface ReplicaMisbehaviour {
  /** Peer id of the replica that served the page. */
  replica: string
  /** GM_ERR_HISTORY_TAMPERED, GM_ERR_HISTORY_INCOMPLETE, GM_ERR_CLIENT_READING_UNAUTHENTIC or GM_ERR_CLIENT_READING_MISMATCH. */
  code: string
  detail: string
}

export interface HistoryProgress {
  pages: number
  readings: number
  /** Peer id of the replica whose page was verified. */
  replica: string
  /** How far the range has been read, 0..1 (by seq). */
  fraction: number
  /** More pages follow. */
  more: boolean
}

export interface HistoryReading {
  sensor: string
  seq: number
  /** ms since the epoch (authenticated). */
  ts: number
  /** Hex Ed25519 key of the collector that sealed it. */
  gateway: string
  /** Its peer id; its certificate was verified against the pinned CA at `ts` [ENV-10]. */
  gatewayPeerId: string
  /** The plaintext; undefined when the reading is not readable by this user (see notReadable). */
  value: Uint8Array | undefined
  text?: string
  json?: unknown
  /**
   * Why `value` is undefined: GM_ERR_NOT_A_RECIPIENT (sealed before this user was given access,
   * or after it was taken away, [ENV-5]) or GM_ERR_DECRYPT_FAILED.
   */
  notReadable?: 'GM_ERR_NOT_A_RECIPIENT' | 'GM_ERR_DECRYPT_FAILED'
}

export interface HistoryStats {
  pages: number
  readings: number
  notReadable: number
  /** Pages asked again from another replica. */
  retries: number
  /** Pages that failed verification. */
  misbehaved: number
  /** Collectors (hex) whose newest readings no checkpoint proved complete ([PER-12] open ends). */
  openEnds: Set<string>
}

/** What reading history needs from the session. */
export interface HistoryComponents {
  suite: CryptoSuite
  /**
   * One signed GET of the history route with this query: its answer as JSON ([PER-52]) or as
   * CBOR ([PER-56]; byte strings for readings, checkpoints and certificates).
   */
  fetchPage: (query: Record<string, string | undefined>, maxBytes: number) => Promise<Record<string, unknown>>
  verifyPage: HistoryPageVerifier
  /**
   * [ENV-10] Whether `certificate` certifies `gw` as a collector under the pinned CA at `ts`. For
   * one (gw, certificate) the times it accepts must form one interval (the certificate's validity
   * within the CA's): the reader asks once per collector at a page's earliest and latest reading
   * of it and takes the times between as checked.
   */
  verifyCollector: (gw: Uint8Array, certificate: Uint8Array, ts: number) => Promise<CertifiedCollector>
  open: (envelope: Envelope) => Promise<OpenedReading>
  /**
   * Where pages are verified and opened (history-pages.ts), asked for only by a read of more than
   * one page: by default this thread, with verifyPage and open; a worker thread's takes that
   * work off the thread that reads.
   */
  pages?: () => PageProcessor
  now?: () => number
}

/** A page verified, certified and opened: its readings ready to yield. */
interface ReadyPage { page: Page, heads: ReadingHead[], collectors: CertifiedCollector[], gateways: string[], openings: Opening[], hi?: { seq: number, gw: Uint8Array } }

interface Page { replica: string, replicas: string[], readings: Uint8Array[], checkpoints: Uint8Array[], certificates: Uint8Array[], next?: string }
/** The query of the page after `page` (and the readings left to yield after it), given those left before it; undefined at the end. */
type FollowingPage = (page: PageHead, before: number) => { query: PageQuery, left: number } | undefined
/** What a page's answer says of the page after it, read without decoding its readings. */
interface PageHead { replica: string, count: number, next?: string }
/** A page asked for ahead of its turn ([PER-53]): its query's key, the readings left after it, the answer; `extended` once the page after it is being asked for. */
interface ReadAhead { key: string, left: number, answer: Promise<Record<string, unknown>>, extended: boolean }

function badResponse (detail: string, cause?: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', detail, cause === undefined ? undefined : { cause })
}

function strings (answer: Record<string, unknown>, name: string): string[] {
  const value = answer[name]
  if (!Array.isArray(value) || !value.every(item => typeof item === 'string')) throw badResponse(`Field '${name}' is not a list of strings.`)
  return value as string[]
}

/** Envelopes, checkpoints or certificates: byte strings in the CBOR answer [PER-56], base64url text in JSON [PER-52]. */
function binaries (answer: Record<string, unknown>, name: string): Uint8Array[] {
  const value = answer[name]
  if (Array.isArray(value) && value.length > 0 && value.every(item => item instanceof Uint8Array)) return value as Uint8Array[]
  return strings(answer, name).map(text => {
    try {
      return fromBase64Url(text)
    } catch (err) {
      throw badResponse(`Field '${name}' holds something other than base64url.`, err)
    }
  })
}

function parsePage (answer: Record<string, unknown>): Page {
  if (typeof answer.replica !== 'string') throw badResponse('Field \'replica\' is missing.')
  if (answer.next !== undefined && typeof answer.next !== 'string') throw badResponse('Field \'next\' is not a string.')
  return {
    replica: answer.replica,
    replicas: strings(answer, 'replicas'),
    readings: binaries(answer, 'readings'),
    checkpoints: binaries(answer, 'checkpoints'),
    certificates: binaries(answer, 'certificates'),
    ...(answer.next === undefined ? {} : { next: answer.next })
  }
}

function pageHead (answer: Record<string, unknown>): PageHead {
  if (typeof answer.replica !== 'string' || !Array.isArray(answer.readings) || (answer.next !== undefined && typeof answer.next !== 'string')) throw badResponse('Not a page of history.')
  return { replica: answer.replica, count: answer.readings.length, ...(answer.next === undefined ? {} : { next: answer.next }) }
}

function time (value: number | Date | undefined, fallback: number, name: string): number {
  const ms = value instanceof Date ? value.getTime() : value ?? fallback
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_TIME_MS) throw new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', `'${name}' must be a time from 1970 to ${new Date(MAX_TIME_MS).toISOString()}.`)
  return ms
}

/** The query of a history page ([PER-50]). */
type PageQuery = Record<string, string | undefined>

function pageKey (query: PageQuery): string {
  return JSON.stringify(Object.entries(query).filter(([, v]) => v !== undefined).sort(([a], [b]) => a < b ? -1 : 1))
}

/**
 * [PER-53] An async iterable of a sensor's readings in the range, in order, across pages. Each
 * page is verified before any of its readings is yielded. Iterating twice reads twice.
 */
export class HistoryReader implements AsyncIterable<HistoryReading> {
  readonly sensorId: string
  readonly from: number
  readonly to: number
  readonly order: 'asc' | 'desc'
  readonly stats: HistoryStats = { pages: 0, readings: 0, notReadable: 0, retries: 0, misbehaved: 0, openEnds: new Set() }
  private readonly components: HistoryComponents
  private readonly options: HistoryOptions
  private readonly pages: PageProcessor

  constructor (components: HistoryComponents, sensorId: string, options: HistoryOptions = {}) {
    this.components = components
    // a read of one page stays in this thread: a worker's two hops and copies cost more than
    // they overlap (one page of 1 000 in one process: p50 41.5 ms here, 48.8 on a worker)
    const onePage = options.limit !== undefined && options.limit <= (options.pageSize ?? DEFAULT_PAGE_SIZE)
    this.pages = components.pages !== undefined && !onePage ? components.pages() : inThreadPages(components)
    this.sensorId = sensorId
    this.options = options
    const now = (components.now ?? Date.now)()
    this.to = time(options.to, Math.min(now + DEFAULT_AHEAD_MS, MAX_TIME_MS), 'to')
    this.from = time(options.from, Math.max(0, now - DEFAULT_SPAN_MS), 'from')
    if (this.from >= this.to) throw new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', `'from' (${new Date(this.from).toISOString()}) must be before 'to' (${new Date(this.to).toISOString()}).`)
    this.order = options.order ?? 'asc'
    if (this.order !== 'asc' && this.order !== 'desc') throw new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', 'The order is asc or desc.')
    const { limit, pageSize } = options
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', 'The limit is a positive integer.')
    if (pageSize !== undefined && (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > HISTORY_PAGE_MAX)) throw new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', `The page size is 1 to ${HISTORY_PAGE_MAX}.`)
    if (options.replica !== undefined && (typeof options.replica !== 'string' || !/^[1-9A-HJ-NP-Za-km-z]{1,128}$/.test(options.replica))) throw new GatemeshError('GM_ERR_HISTORY_BAD_RANGE', 'The replica is a peer id.')
  }

  async * [Symbol.asyncIterator] (): AsyncIterator<HistoryReading> {
    const fromSeq = this.from * 1000
    const toSeq = this.to * 1000
    let remaining = this.options.limit ?? Infinity
    let preferred = this.options.replica
    // [PER-53] the next pages are asked for while this one is verified and opened: each one's
    // query once the page before it answered (a page that fails verification is asked again
    // elsewhere and what was read ahead is dropped; a page read ahead is verified in its turn
    // all the same)
    const follow: FollowingPage = (fetched, before) => {
      const left = before - Math.min(fetched.count, before)
      if (fetched.next === undefined || left <= 0) return undefined
      return { query: { cursor: fetched.next, limit: String(this.pageLimit(left)), replica: this.stats.misbehaved > 0 ? fetched.replica : preferred }, left }
    }
    // [PER-53] each page is verified and opened while the page before it is yielded
    let coming: Promise<ReadyPage> | undefined = this.readyPage(undefined, undefined, remaining, preferred, follow)
    while (coming !== undefined) {
      const { page, heads, collectors, gateways, openings, hi } = await coming
      coming = undefined
      this.stats.pages++
      // after a misbehaving replica, keep to the one that answered honestly
      if (this.stats.misbehaved > 0) preferred = page.replica
      const count = Math.min(heads.length, remaining)
      const left = remaining - count
      if (page.next !== undefined && hi !== undefined && left > 0) {
        coming = this.readyPage(page.next, hi, left, preferred, follow)
        coming.catch(() => {}) // its failure is thrown in its turn
      }
      for (let index = 0; index < count; index++) {
        remaining--
        this.stats.readings++
        yield this.reading(heads[index] as ReadingHead, collectors[index] as CertifiedCollector, gateways[index] as string, openings[index] as Opening)
      }
      const last = hi?.seq
      const fraction = last === undefined ? 1 : this.order === 'asc' ? (last - fromSeq) / (toSeq - fromSeq) : (toSeq - last) / (toSeq - fromSeq)
      this.options.onPage?.({ pages: this.stats.pages, readings: this.stats.readings, replica: page.replica, fraction, more: page.next !== undefined })
    }
  }

  /** The page after `lo` (at `cursor`; the range's first without them), with `remaining` readings left to yield: verified, certified, opened. */
  private async readyPage (cursor: string | undefined, lo: { seq: number, gw: Uint8Array } | undefined, remaining: number, preferred: string | undefined, follow: FollowingPage): Promise<ReadyPage> {
    const { id, ...verified } = await this.verifiedPage(cursor, lo, this.pageLimit(remaining), preferred, remaining, follow)
    return { ...verified, openings: await this.pages.open(id) }
  }

  /** [PER-54] A page that verifies: from the replica the gateway picks, else from the others in turn. */
  private async verifiedPage (cursor: string | undefined, lo: { seq: number, gw: Uint8Array } | undefined, size: number, preferred: string | undefined, remaining: number, follow: FollowingPage): Promise<{ id: number, page: Page, heads: ReadingHead[], collectors: CertifiedCollector[], gateways: string[], hi?: { seq: number, gw: Uint8Array } }> {
    const tried = new Set<string>()
    let replica = preferred
    let fault: GatemeshError | undefined
    for (;;) {
      const query = cursor === undefined
        ? { from: String(this.from), to: String(this.to), order: this.order, limit: String(size), replica }
        : { cursor, limit: String(size), replica }
      let page: Page
      try {
        page = parsePage(await this.fetchPage(query))
      } catch (err) {
        // the replica asked for by name could not be reached: the next one, if any is left
        if (replica === undefined || !isGatemeshError(err, 'GM_ERR_HISTORY_NO_REPLICA')) throw err
        tried.add(replica)
        replica = this.nextReplica(tried, undefined)
        if (replica === undefined) throw fault ?? err
        continue
      }
      tried.add(page.replica)
      this.lastReplicas = page.replicas
      this.readAhead(page, remaining, follow)
      try {
        return { page, ...await this.verify(page, lo) }
      } catch (err) {
        if (!isGatemeshError(err) || !REPLICA_FAULTS.has(err.code)) throw err
        fault = err
        this.stats.misbehaved++
        const report = { replica: page.replica, code: err.code, detail: err.message }
        try {
          this.options.onReplicaMisbehaved?.(report)
        } catch {
          // a listener's failure is not the page's
        }
        replica = this.nextReplica(tried, page.replicas)
        if (replica === undefined) throw err
        this.stats.retries++
      }
    }
  }

  private lastReplicas: string[] = []

  /** The readings to ask for in a page when `remaining` are left to yield. */
  private pageLimit (remaining: number): number {
    return Math.min(this.options.pageSize ?? DEFAULT_PAGE_SIZE, remaining)
  }
  /** The pages asked for ahead of their turn, in order, by their query. */
  private ahead: ReadAhead[] = []

  /** The answer to `query`: the one read ahead when it was asked for, else asked now (and what was read ahead is dropped). */
  private async fetchPage (query: PageQuery): Promise<Record<string, unknown>> {
    const key = pageKey(query)
    const at = this.ahead.findIndex(entry => entry.key === key)
    const ahead = this.ahead[at]
    this.ahead = at < 0 ? [] : this.ahead.slice(at + 1)
    if (ahead !== undefined) return await ahead.answer
    return await this.components.fetchPage(query, MAX_PAGE_ANSWER_BYTES)
  }

  /**
   * [PER-53] Once `page` (with `before` readings left to yield before it) is in hand: the page after
   * it asked for now unless it was already, and each later one once the one before it answers,
   * up to READ_AHEAD_PAGES ahead. A page read ahead that fails is that fetchPage's failure.
   */
  private readAhead (page: Page, before: number, follow: FollowingPage): void {
    if (this.ahead.length === 0) {
      const next = follow({ replica: page.replica, count: page.readings.length, ...(page.next === undefined ? {} : { next: page.next }) }, before)
      if (next === undefined) return
      this.ask(next)
    }
    this.extend(follow)
  }

  private ask (next: { query: PageQuery, left: number }): void {
    const answer = this.components.fetchPage(next.query, MAX_PAGE_ANSWER_BYTES)
    answer.catch(() => {})
    this.ahead.push({ key: pageKey(next.query), left: next.left, answer, extended: false })
  }

  /** The page after the last one read ahead, once that one answers, while fewer than READ_AHEAD_PAGES are ahead. */
  private extend (follow: FollowingPage): void {
    const last = this.ahead.at(-1)
    if (last === undefined || last.extended || this.ahead.length >= READ_AHEAD_PAGES) return
    last.extended = true
    last.answer.then(answer => {
      // dropped meanwhile (a retry elsewhere), or the reader moved past it: nothing more to ask
      if (!this.ahead.includes(last)) return
      const next = follow(pageHead(answer), last.left)
      if (next === undefined) return
      this.ask(next)
      this.extend(follow)
    }).catch(() => {
      // a page that does not parse is refused in its turn; none is asked after it
    })
  }

  private nextReplica (tried: Set<string>, replicas: string[] | undefined): string | undefined {
    return (replicas ?? this.lastReplicas).find(peer => !tried.has(peer))
  }

  /** [PER-12] then [ENV-10] for every reading's collector; the page is dropped when one does not certify. */
  private async verify (page: Page, lo: { seq: number, gw: Uint8Array } | undefined): Promise<{ id: number, heads: ReadingHead[], collectors: CertifiedCollector[], gateways: string[], hi?: { seq: number, gw: Uint8Array } }> {
    let hi: { seq: number, gw: Uint8Array } | undefined
    if (page.next !== undefined) {
      const last = page.readings.at(-1)
      if (last === undefined) throw new GatemeshError('GM_ERR_HISTORY_INCOMPLETE', 'A page with no readings says more follow.')
      try {
        const header = readEnvelopeHeader(last)
        hi = { seq: header.seq, gw: header.gw }
      } catch (err) {
        throw new GatemeshError('GM_ERR_HISTORY_TAMPERED', 'The page\'s last reading is not an envelope.', { cause: err })
      }
    }
    const verdict = await this.pages.verify({
      sensor: this.sensorId,
      fromSeq: this.from * 1000,
      toSeq: this.to * 1000,
      order: this.order,
      ...(lo === undefined ? {} : { lo }),
      ...(hi === undefined ? {} : { hi }),
      envelopes: page.readings,
      checkpoints: page.checkpoints
    })
    for (const gw of verdict.openEnds) this.stats.openEnds.add(toHex(gw))
    try {
      return { id: verdict.id, ...await this.certifyPage(page, verdict.heads), hi }
    } catch (err) {
      this.pages.drop(verdict.id)
      throw err
    }
  }

  /** [ENV-10] The certified collector of every reading of a verified page, and its key in hex. */
  private async certifyPage (page: Page, heads: ReadingHead[]): Promise<{ heads: ReadingHead[], collectors: CertifiedCollector[], gateways: string[] }> {
    const collectors: CertifiedCollector[] = []
    const chosen = new Map<string, Uint8Array>()
    // [ENV-10] per collector of the page: the certificate that held and the span of reading times
    // it was verified at. Its validity, and the CA's, are intervals, so a reading whose ts lies
    // within a span verified with the same certificate and CA is certified by it too.
    const spans = new Map<string, { certificate: Uint8Array, collector: CertifiedCollector, lo: number, hi: number }>()
    const certified = async (envelope: ReadingHead, key: string): Promise<CertifiedCollector> => {
      const span = spans.get(key)
      if (span !== undefined && envelope.ts >= span.lo && envelope.ts <= span.hi) return span.collector
      const { collector, certificate } = await this.certify(envelope, page.certificates, chosen)
      if (span !== undefined && span.certificate === certificate) {
        span.lo = Math.min(span.lo, envelope.ts)
        span.hi = Math.max(span.hi, envelope.ts)
      } else {
        spans.set(key, { certificate, collector, lo: envelope.ts, hi: envelope.ts })
      }
      return collector
    }
    // each collector's earliest and latest reading of the page first: one certificate that holds
    // at both holds at every time between them
    const ends = new Map<string, [ReadingHead, ReadingHead]>()
    // each reading's collector key in hex, once: the key of the spans and the reading's `gateway`
    const gateways: string[] = []
    for (const envelope of heads) {
      const key = toHex(envelope.gw)
      gateways.push(key)
      const end = ends.get(key)
      if (end === undefined) ends.set(key, [envelope, envelope])
      else if (envelope.ts < end[0].ts) end[0] = envelope
      else if (envelope.ts > end[1].ts) end[1] = envelope
    }
    for (const [key, [earliest, latest]] of ends) {
      try {
        await certified(earliest, key)
        await certified(latest, key)
      } catch {
        // the loop below names the first reading of the page that fails, in page order
      }
    }
    for (const [i, envelope] of heads.entries()) {
      // [ENV-10] 1: verifyPage held every envelope to the sensor; 2: a certificate from the page
      collectors.push(await certified(envelope, gateways[i] as string))
    }
    return { heads, collectors, gateways }
  }

  /** [ENV-10] The page's certificate that certifies `gw` as a collector at the reading's time. */
  private async certify (envelope: ReadingHead, certificates: Uint8Array[], chosen: Map<string, Uint8Array>): Promise<{ collector: CertifiedCollector, certificate: Uint8Array }> {
    const key = toHex(envelope.gw)
    const known = chosen.get(key)
    const candidates = known === undefined ? certificates : [known, ...certificates.filter(c => c !== known)]
    let failure: unknown
    for (const certificate of candidates) {
      try {
        const collector = await this.components.verifyCollector(envelope.gw, certificate, envelope.ts)
        chosen.set(key, certificate)
        return { collector, certificate }
      } catch (err) {
        failure = err
      }
    }
    throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', `Reading ${envelope.seq} came with no certificate that certifies its collector ${key} under the pinned CA at ${new Date(envelope.ts).toISOString()}.`, failure === undefined ? undefined : { cause: failure })
  }

  /** [PER-53] A reading to yield: opened ([ENV-7]), or without a value when this user holds no wrap for it. */
  private reading (head: ReadingHead, collector: CertifiedCollector, gateway: string, opening: Opening): HistoryReading {
    const reading: HistoryReading = { sensor: this.sensorId, seq: head.seq, ts: head.ts, gateway, gatewayPeerId: collector.peerId, value: undefined }
    if (typeof opening === 'string') {
      reading.notReadable = opening
      this.stats.notReadable++
      return reading
    }
    reading.value = opening
    try {
      reading.text = fromUtf8(opening)
      try {
        reading.json = JSON.parse(reading.text)
      } catch {
        // not JSON: text only
      }
    } catch {
      // not UTF-8: bytes only
    }
    return reading
  }
}
