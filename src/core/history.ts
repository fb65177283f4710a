/**
 * Page verification: whether a replica's page of history is what the collectors sealed. Each
 * envelope is signed by its collector ([ENV-6]), so an altered or injected reading shows at once;
 * a dropped one shows against the collectors' signed checkpoints ([PER-10]). [PER-12] in
 * docs/PROTOCOL.md; what one page cannot prove is [PER-13].
 */
import type { CryptoSuite } from './suite.ts'
import { GatemeshError, isGatemeshError } from './errors.ts'
import { toHex } from './bytes.ts'
import { verifyEnvelope, type Envelope } from './envelope.ts'
import { checkpointBucket, openCheckpoint, type OpenedCheckpoint } from './checkpoint.ts'

export type HistoryOrder = 'asc' | 'desc'

/** [PER-12] Where a reading stands in a sensor's history: ordered by seq, then gw bytewise. */
export interface HistoryKey {
  seq: number
  /** The collecting gateway's 32-byte Ed25519 key. */
  gw: Uint8Array
}

/** [PER-12] One page of a replica's answer and what the reader asked for. */
export interface HistoryPageInput {
  /** The sensor asked for. */
  sensor: string
  /** The range asked for, in seq: from inclusive, to exclusive (times in ms · 1000). */
  fromSeq: number
  toSeq: number
  /** The order asked for: the page's envelopes come in it. */
  order: HistoryOrder
  /**
   * Where the page starts, exclusive, in the page's order: the key of the previous page's last
   * reading (the reader's own cursor, never the replica's word). Absent or null for the first
   * page. In `desc` order it is the page's upper bound.
   */
  lo?: HistoryKey | null
  /**
   * Where the page ends, inclusive, in the page's order: the page's last key when more pages
   * follow (the last envelope must then have it). Absent or null when the page runs to the end
   * of the range. In `desc` order it is the page's lower bound.
   */
  hi?: HistoryKey | null
  /** The page's envelopes as the replica gave them. */
  envelopes: readonly Uint8Array[]
  /** The checkpoints the replica gave with the page, in any order. */
  checkpoints: readonly Uint8Array[]
}

/** [PER-12] An accepted page. */
export interface HistoryPageVerdict {
  /** The page's envelopes, signatures verified, in the page's order. */
  envelopes: Envelope[]
  /**
   * Collectors whose newest readings in the page are not proven complete: no checkpoint given
   * for them, or their chain run ends before a part 0 after the page ([PER-13]). Sorted bytewise.
   */
  openEnds: Uint8Array[]
  /** The checkpoints given, opened, each once. */
  checkpoints: OpenedCheckpoint[]
}

/** [PER-12] Orders keys by seq, then gw bytewise. */
export function compareHistoryKeys (a: HistoryKey, b: HistoryKey): number {
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  const length = Math.min(a.gw.length, b.gw.length)
  for (let i = 0; i < length; i++) {
    const d = (a.gw[i] as number) - (b.gw[i] as number)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return a.gw.length - b.gw.length
}

function tampered (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_HISTORY_TAMPERED', detail)
}

function incomplete (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_HISTORY_INCOMPLETE', detail)
}

/** A gw as people read it in a detail: its first 8 bytes in hex. */
function gwName (gw: Uint8Array): string {
  return `gw ${toHex(gw.subarray(0, 8))}`
}

function keyName (key: HistoryKey): string {
  return `(seq ${key.seq}, ${gwName(key.gw)})`
}

function checkInput (page: HistoryPageInput): void {
  const seqOk = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
  const keyOk = (k: HistoryKey | null | undefined): boolean => k == null || (seqOk(k.seq) && k.gw instanceof Uint8Array && k.gw.length === 32)
  if (!seqOk(page.fromSeq) || !seqOk(page.toSeq) || page.fromSeq >= page.toSeq) throw new GatemeshError('GM_ERR_MALFORMED', 'A history range is fromSeq < toSeq, non-negative integers.')
  if (page.order !== 'asc' && page.order !== 'desc') throw new GatemeshError('GM_ERR_MALFORMED', 'A history order is asc or desc.')
  if (!keyOk(page.lo) || !keyOk(page.hi)) throw new GatemeshError('GM_ERR_MALFORMED', 'A page bound is a seq and a 32-byte gw.')
  if (!Array.isArray(page.envelopes) || !Array.isArray(page.checkpoints)) throw new GatemeshError('GM_ERR_MALFORMED', 'A page lists envelopes and checkpoints.')
}

/** The page's interval, in key order (whatever the page's order), and its buckets. */
interface PageInterval {
  /** Where a key stands against the page: 'range' (outside the range asked), 'page' (outside the page's bounds) or undefined (inside). */
  outside (key: HistoryKey): 'range' | 'page' | undefined
  firstBucket: number
  lastBucket: number
}

function pageInterval (page: HistoryPageInput): PageInterval {
  const lo = page.lo ?? null
  const hi = page.hi ?? null
  const asc = page.order === 'asc'
  const outside = (key: HistoryKey): 'range' | 'page' | undefined => {
    if (key.seq < page.fromSeq || key.seq >= page.toSeq) return 'range'
    if (lo !== null && (asc ? compareHistoryKeys(key, lo) <= 0 : compareHistoryKeys(key, lo) >= 0)) return 'page'
    if (hi !== null && (asc ? compareHistoryKeys(key, hi) > 0 : compareHistoryKeys(key, hi) < 0)) return 'page'
    return undefined
  }
  const lowSeq = Math.max(page.fromSeq, (asc ? lo?.seq : hi?.seq) ?? page.fromSeq)
  const highSeq = Math.min(page.toSeq - 1, (asc ? hi?.seq : lo?.seq) ?? page.toSeq - 1)
  return { outside, firstBucket: checkpointBucket(lowSeq), lastBucket: checkpointBucket(Math.max(lowSeq, highSeq)) }
}

/** Envelopes of a page verified at once (their suite calls in flight together). */
const VERIFY_WINDOW = 64

/** [PER-12] rule 1: every envelope verifies, is of the sensor, in the range and the page, in order. */
async function checkEnvelopes (suite: CryptoSuite, page: HistoryPageInput, interval: PageInterval): Promise<Envelope[]> {
  const envelopes: Envelope[] = []
  const direction = page.order === 'asc' ? 1 : -1
  let previous: Envelope | undefined
  // [ENV-9] a batch signature that several of the page's readings share is verified once; every
  // envelope's own inclusion proof is still checked. Verified VERIFY_WINDOW at a time (an async
  // suite's calls overlap), each window checked in order, so the first failure is the one named.
  const verifiedBatches = new Set<string>()
  const verdicts: Array<Promise<Envelope | { error: unknown }>> = []
  const verify = async (bytes: Uint8Array): Promise<Envelope | { error: unknown }> => await verifyEnvelope(suite, bytes, { verifiedBatches }).catch((error: unknown) => ({ error }))
  for (let i = 0; i < page.envelopes.length; i++) {
    if (i % VERIFY_WINDOW === 0) {
      verdicts.length = 0
      for (const next of page.envelopes.slice(i, i + VERIFY_WINDOW)) verdicts.push(verify(next))
    }
    const verdict = await (verdicts[i % VERIFY_WINDOW] as Promise<Envelope | { error: unknown }>)
    if ('error' in verdict) {
      const err = verdict.error
      if (!isGatemeshError(err)) throw err
      throw tampered(`Envelope ${i}: ${err.code === 'GM_ERR_BAD_SIGNATURE' ? 'bad signature' : 'malformed'} (${err.code}).`)
    }
    const envelope = verdict
    if (envelope.sensor !== page.sensor) throw tampered(`Envelope ${i}: of another sensor (${JSON.stringify(envelope.sensor)}).`)
    const where = interval.outside(envelope)
    if (where === 'range') throw tampered(`Envelope ${i}: out of range: ${keyName(envelope)} is outside [${page.fromSeq}, ${page.toSeq}).`)
    if (where === 'page') throw tampered(`Envelope ${i}: out of range: ${keyName(envelope)} is outside the page's bounds.`)
    if (previous !== undefined) {
      const step = compareHistoryKeys(envelope, previous) * direction
      if (step === 0) throw tampered(`Envelope ${i}: a duplicate of envelope ${i - 1} ${keyName(envelope)}.`)
      if (step < 0) throw tampered(`Envelope ${i}: out of order: ${keyName(envelope)} comes after ${keyName(previous)} in ${page.order} order.`)
    }
    envelopes.push(envelope)
    previous = envelope
  }
  const hi = page.hi ?? null
  if (hi !== null && (previous === undefined || compareHistoryKeys(previous, hi) !== 0)) {
    throw incomplete(`The page's last reading ${keyName(hi)} is missing (a reading dropped).`)
  }
  return envelopes
}

/** [PER-12] rule 2: every checkpoint opens and is of the sensor; each counted once. */
async function openCheckpoints (suite: CryptoSuite, page: HistoryPageInput): Promise<OpenedCheckpoint[]> {
  const opened = new Map<string, OpenedCheckpoint>()
  for (const [i, bytes] of page.checkpoints.entries()) {
    let checkpoint: OpenedCheckpoint
    try {
      checkpoint = await openCheckpoint(suite, bytes)
    } catch (err) {
      if (!isGatemeshError(err)) throw err
      throw tampered(`Checkpoint ${i}: ${err.code === 'GM_ERR_BAD_SIGNATURE' ? 'bad signature' : 'malformed'} (${err.code}).`)
    }
    if (checkpoint.sensor !== page.sensor) throw tampered(`Checkpoint ${i}: of another sensor (${JSON.stringify(checkpoint.sensor)}).`)
    const id = toHex(checkpoint.hash)
    if (!opened.has(id)) opened.set(id, checkpoint)
  }
  return [...opened.values()]
}

function name (cp: Pick<OpenedCheckpoint, 'bucket' | 'part'>): string {
  return `bucket ${cp.bucket} part ${cp.part}`
}

/**
 * [PER-12] rule 3 for one gw: its checkpoints are one run of its chain, starting before the page.
 * Returns the run in chain order and whether it reaches a part 0 after the page.
 */
function chainRun (checkpoints: readonly OpenedCheckpoint[], interval: PageInterval): { run: OpenedCheckpoint[], closed: boolean } {
  const first = checkpoints[0] as OpenedCheckpoint
  const who = gwName(first.gw)
  const byHash = new Map(checkpoints.map(cp => [toHex(cp.hash), cp]))
  const next = new Map<string, OpenedCheckpoint>()
  const roots: OpenedCheckpoint[] = []
  for (const cp of checkpoints) {
    const prev = cp.prev === null ? undefined : byHash.get(toHex(cp.prev.h))
    if (cp.prev === null || prev === undefined) {
      roots.push(cp)
      continue
    }
    if (prev.bucket !== cp.prev.bucket || prev.part !== cp.prev.part) {
      throw tampered(`${who}: ${name(cp)} names its prev as ${name(cp.prev)} but hashes ${name(prev)}.`)
    }
    const id = toHex(prev.hash)
    if (next.has(id)) throw incomplete(`${who}: two checkpoints follow ${name(prev)} (a fork, not one chain).`)
    next.set(id, cp)
  }
  if (roots.length !== 1) {
    throw incomplete(`${who}: the checkpoints given are ${roots.length} runs of its chain, not one (a checkpoint withheld before ${roots.map(name).slice(1).join(', ')}).`)
  }
  const root = roots[0] as OpenedCheckpoint
  if (root.prev !== null && (root.prev.part !== 0 || root.prev.bucket >= interval.firstBucket)) {
    throw incomplete(`${who}: the run starts at ${name(root)}, whose prev ${name(root.prev)} is not a part 0 before the page's bucket ${interval.firstBucket} (a checkpoint withheld before it).`)
  }
  const run: OpenedCheckpoint[] = []
  let part0 = root.prev !== null && root.prev.part === 0 ? root.prev.bucket : -1
  for (let cp: OpenedCheckpoint | undefined = root; cp !== undefined; cp = next.get(toHex(cp.hash))) {
    if (cp.part === 0) {
      if (cp.bucket <= part0) throw tampered(`${who}: ${name(cp)} follows a part 0 of bucket ${part0}: the chain's part-0 buckets must increase.`)
      part0 = cp.bucket
    }
    run.push(cp)
  }
  // one root, no fork: the run holds every checkpoint unless some formed a cycle (a hash collision)
  if (run.length !== checkpoints.length) throw incomplete(`${who}: the checkpoints given are not one run of its chain.`)
  return { run, closed: part0 > interval.lastBucket }
}

/**
 * [PER-12] Verifies a page of history against the collectors' checkpoints: throws
 * GM_ERR_HISTORY_TAMPERED or GM_ERR_HISTORY_INCOMPLETE (the message names the rule and the
 * envelope, checkpoint, gw or seq), GM_ERR_MALFORMED for a malformed input (a caller's error).
 * Collectors' certificates ([ENV-10]) are the caller's to check. What one page cannot prove:
 * [PER-13] (the verdict's `openEnds`).
 */
export async function verifyHistoryPage (suite: CryptoSuite, page: HistoryPageInput): Promise<HistoryPageVerdict> {
  checkInput(page)
  const interval = pageInterval(page)
  const envelopes = await checkEnvelopes(suite, page, interval)
  const checkpoints = await openCheckpoints(suite, page)

  const byGw = new Map<string, OpenedCheckpoint[]>()
  for (const cp of checkpoints) {
    const id = toHex(cp.gw)
    const list = byGw.get(id)
    if (list === undefined) byGw.set(id, [cp]); else list.push(cp)
  }
  const openEnds = new Map<string, Uint8Array>()
  for (const envelope of envelopes) {
    const id = toHex(envelope.gw)
    if (!byGw.has(id)) openEnds.set(id, envelope.gw)
  }
  const present = new Set(envelopes.map(e => `${e.seq}:${toHex(e.gw)}`))
  for (const [id, list] of byGw) {
    const { run, closed } = chainRun(list, interval)
    if (!closed) openEnds.set(id, (run[0] as OpenedCheckpoint).gw)
    // [PER-12] rule 4: what the checkpoints name in the page is in the page
    for (const cp of run) {
      if (cp.bucket < interval.firstBucket || cp.bucket > interval.lastBucket) continue
      for (const seq of cp.seqs) {
        if (interval.outside({ seq, gw: cp.gw }) !== undefined || present.has(`${seq}:${id}`)) continue
        throw incomplete(`${gwName(cp.gw)}: seq ${seq}, named by its checkpoint ${name(cp)}, is missing from the page (a reading dropped).`)
      }
    }
  }
  return {
    envelopes,
    openEnds: [...openEnds.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([, gw]) => gw),
    checkpoints
  }
}
