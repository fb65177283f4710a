/**
 * The replica's answers to the persistence protocol's requests ([PER-2]): store (verify every
 * envelope and checkpoint, then append the valid ones durably), range (a page with the
 * checkpoints [PER-12] needs and the certificates of their gateways), fetch, ids, digest and
 * sensors (for repair).
 */
import { GatemeshError, checkpointBucket, concat, equalBytes, isGatemeshError, openCheckpoint, uint64be, verifyEnvelope } from '../../core/index.ts'
import type { CheckpointLink, CryptoSuite, ErrorCode, OpenedCheckpoint } from '../../core/index.ts'
import type { StorageEngine, StoredCheckpoint, StoredReading, HistoryKey } from './engine/types.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import {
  MAX_FRAME_BYTES, MAX_IDS, encodeResponse,
  type DigestRequest, type DigestResponse, type FetchRequest, type FetchResponse, type IdsRequest, type IdsResponse,
  type PersistenceHandler, type PersistenceRequest, type PersistenceResponse, type RangeRequest, type RangeResponse,
  type Rejected, type SensorsRequest, type SensorsResponse, type StoreRequest, type StoreResponse, type WireKey
} from './protocol.ts'
import type { StoreVerifier} from './verify.ts';
import { hex, mayPush, peerKey } from './verify.ts'

/** [PER-2] Repair buckets (digest): one hour of seq. */
export const REPAIR_BUCKET = 3_600_000_000
/** Room left in a response frame for its envelopes once checkpoints and certificates are in. */
const FRAME_BUDGET = MAX_FRAME_BYTES - 64 * 1024
/** How far past a page the chain of one gateway is followed to prove its end ([PER-12] rule 3). */
const CHAIN_LOOKAHEAD_BUCKETS = [2, 60, 1440]
/** At most this many earlier buckets are read to find the late parts a page's run goes through ([PER-12] rule 3). */
const CHAIN_BACKFILL_BUCKETS = 64

export interface HandlerComponents {
  suite: CryptoSuite
  engine: StorageEngine
  verifier: StoreVerifier
  /** Refuses a store when storage is full (GM_ERR_PERSISTENCE_FULL). */
  assertRoom: () => Promise<void>
  onStored?: (stored: number) => void
}

/** Readers: peers running access (history) or persistence (repair). */
function assertReader (peer: VerifiedPeer): void {
  if (!peer.services.includes('access') && !peer.services.includes('persistence')) {
    throw new GatemeshError('GM_ERR_PERSISTENCE_FORBIDDEN', 'Only access and persistence peers read history.')
  }
}

function codeOf (err: unknown): ErrorCode {
  return isGatemeshError(err) ? err.code : 'GM_ERR_MALFORMED'
}

export function createHandler (components: HandlerComponents): PersistenceHandler {
  return async (request: PersistenceRequest, peer: VerifiedPeer): Promise<PersistenceResponse> => {
    switch (request.op) {
      case 'store': return await store(components, request, peer)
      case 'range': assertReader(peer); return await range(components, request)
      case 'fetch': assertReader(peer); return await fetch(components, request)
      case 'ids': assertReader(peer); return await ids(components, request)
      case 'digest': assertReader(peer); return await digest(components, request)
      case 'sensors': assertReader(peer); return await sensors(components, request)
    }
  }
}

/** [PER-2] store: verify every item; append the valid ones; name each refused one. */
async function store ({ suite, engine, verifier, assertRoom, onStored }: HandlerComponents, request: StoreRequest, peer: VerifiedPeer): Promise<StoreResponse> {
  await assertRoom()
  const pusher = hex(peerKey(peer.peerId))
  // the certificates given, by the key they are for (checked before use, per gw)
  const given = new Map<string, Uint8Array>()
  for (const der of request.certs) {
    const gw = certificateKey(der)
    if (gw !== undefined) given.set(gw, der)
  }
  const gwChecks = new Map<string, Promise<ErrorCode | undefined>>()
  const usedCerts = new Map<string, { gw: Uint8Array, der: Uint8Array }>()
  const checkGw = async (gw: Uint8Array): Promise<ErrorCode | undefined> => {
    const key = hex(gw)
    if (!mayPush(peer, pusher, key)) return 'GM_ERR_PERSISTENCE_FORBIDDEN'
    let check = gwChecks.get(key)
    if (check === undefined) {
      check = (async () => {
        let der = given.get(key)
        if (der === undefined) der = (await engine.certificates([gw]))[0]?.der
        else usedCerts.set(key, { gw, der })
        try {
          await verifier.checkCollector(gw, der)
          return undefined
        } catch (err) {
          usedCerts.delete(key)
          return codeOf(err)
        }
      })()
      gwChecks.set(key, check)
    }
    return await check
  }
  const checkSensor = async (sensor: string): Promise<ErrorCode | undefined> => await verifier.checkSensor(sensor).then(() => undefined, codeOf)

  const rejected: Rejected[] = []
  const readings: StoredReading[] = []
  // [ENV-9] one Ed25519 verification per batch signature within the request
  const verifiedBatches = new Set<string>()
  for (let i = 0; i < request.envs.length; i++) {
    const bytes = request.envs[i] as Uint8Array
    let env
    try {
      env = await verifyEnvelope(suite, bytes, { verifiedBatches })
    } catch (err) {
      rejected.push({ i, kind: 'env', code: codeOf(err) })
      continue
    }
    const code = await checkGw(env.gw) ?? await checkSensor(env.sensor)
    if (code !== undefined) { rejected.push({ i, kind: 'env', code }); continue }
    readings.push({ sensor: env.sensor, gw: env.gw, seq: env.seq, envelope: bytes })
  }
  const checkpoints: StoredCheckpoint[] = []
  for (let i = 0; i < request.cps.length; i++) {
    const bytes = request.cps[i] as Uint8Array
    let cp: OpenedCheckpoint
    try {
      cp = await openCheckpoint(suite, bytes)
    } catch (err) {
      rejected.push({ i, kind: 'cp', code: codeOf(err) })
      continue
    }
    const code = await checkGw(cp.gw) ?? await checkSensor(cp.sensor)
    if (code !== undefined) { rejected.push({ i, kind: 'cp', code }); continue }
    checkpoints.push({ sensor: cp.sensor, gw: cp.gw, bucket: cp.bucket, part: cp.part, bytes })
  }
  // certificates first: a held reading's gateway certificate is always held
  for (const { gw, der } of usedCerts.values()) await engine.putCertificate(gw, der)
  const result = readings.length === 0 ? { stored: 0, duplicates: 0 } : await engine.append(readings)
  if (checkpoints.length > 0) await engine.putCheckpoints(checkpoints)
  onStored?.(result.stored)
  return { ok: true, stored: result.stored, duplicates: result.duplicates, rejected }
}

/** The 32-byte Ed25519 key a gateway certificate certifies, read without trusting it (checked later). */
function certificateKey (der: Uint8Array): string | undefined {
  // an Ed25519 SubjectPublicKeyInfo: 30 2a 30 05 06 03 2b 65 70 03 21 00 || key(32)
  const prefix = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
  outer: for (let at = 0; at + prefix.length + 32 <= der.length; at++) {
    for (let j = 0; j < prefix.length; j++) if (der[at + j] !== prefix[j]) continue outer
    return hex(der.subarray(at + prefix.length, at + prefix.length + 32))
  }
  return undefined
}

/** [PER-2] range: a page, the checkpoints of the buckets it spans (with the chain links past its ends), the certificates. */
async function range (components: HandlerComponents, request: RangeRequest): Promise<RangeResponse> {
  const { engine } = components
  const after: HistoryKey | undefined = request.after === undefined ? undefined : { seq: request.after[0], gw: request.after[1] }
  let rows = await engine.range({ sensor: request.sensor, fromSeq: request.fromSeq, toSeq: request.toSeq, order: request.order, after, limit: request.limit })
  let more = rows.length === request.limit
  // keep the envelopes within the frame
  let size = 0
  for (let n = 0; n < rows.length; n++) {
    size += (rows[n] as StoredReading).envelope.length + 8
    if (size > FRAME_BUDGET / 2) { rows = rows.slice(0, n); more = true; break }
  }
  for (;;) {
    const page = await pageCheckpoints(components, request, rows, more)
    const certs = await certificatesOf(engine, rows.map(r => r.gw), page.gws)
    const response: RangeResponse = { ok: true, envs: rows.map(r => r.envelope), cps: page.cps, certs, more }
    if (rows.length <= 1 || encodeResponse(response).length <= MAX_FRAME_BYTES - 1024) return response
    rows = rows.slice(0, Math.ceil(rows.length / 2))
    more = true
  }
}

/** The seq interval of a page's keys ([PER-12]: lo = cursor or range start, hi = last key if more, else range end). */
function pageInterval (request: RangeRequest, rows: StoredReading[], more: boolean): { low: number, high: number } {
  const last = rows[rows.length - 1]
  if (request.order === 'asc') {
    const low = request.after?.[0] ?? request.fromSeq
    const high = more && last !== undefined ? last.seq : Math.max(low, request.toSeq - 1)
    return { low, high }
  }
  const high = request.after?.[0] ?? Math.max(request.fromSeq, request.toSeq - 1)
  const low = more && last !== undefined ? last.seq : request.fromSeq
  return { low, high }
}

async function pageCheckpoints (components: HandlerComponents, request: RangeRequest, rows: StoredReading[], more: boolean): Promise<{ cps: Uint8Array[], gws: Uint8Array[] }> {
  const { low, high } = pageInterval(request, rows, more)
  const first = checkpointBucket(low)
  const last = checkpointBucket(high)
  const inSpan = await components.engine.checkpoints(request.sensor, first, last)
  const byGw = new Map<string, StoredCheckpoint[]>()
  for (const cp of inSpan) {
    const key = hex(cp.gw)
    const list = byGw.get(key)
    if (list === undefined) byGw.set(key, [cp]); else list.push(cp)
  }
  const out: Uint8Array[] = []
  const gws: Uint8Array[] = []
  for (const list of byGw.values()) {
    gws.push((list[0] as StoredCheckpoint).gw)
    for (const cp of await chainRun(components, request.sensor, list, first, last)) out.push(cp)
  }
  return { cps: out, gws }
}

/**
 * [PER-12] rule 3: one gateway's checkpoints of the page's buckets, joined into one chain run by
 * the links between them (late parts are signed after later buckets), and followed past the
 * page's last bucket to one beyond it when held, so a reader can tell a withheld checkpoint.
 */
async function chainRun ({ suite, engine }: HandlerComponents, sensor: string, inSpan: StoredCheckpoint[], first: number, last: number): Promise<Uint8Array[]> {
  const gw = (inSpan[0] as StoredCheckpoint).gw
  const opened = new Map<string, OpenedCheckpoint>()
  const open = async (cps: StoredCheckpoint[]): Promise<void> => {
    for (const cp of cps) {
      if (!equalBytes(cp.gw, gw)) continue
      const o = await openCheckpoint(suite, cp.bytes).catch(() => undefined)
      if (o !== undefined) opened.set(hex(o.hash), o)
    }
  }
  // [PER-12] a run starts after null or a part 0 before the page: a link that is a late part of
  // an earlier bucket (signed after a restart or sealing lag) is fetched by its bucket, as is one
  // between the span's checkpoints or before one past the page
  const backFilled = new Set<number>()
  const needed = (o: OpenedCheckpoint): CheckpointLink | undefined =>
    o.prev === null || opened.has(hex(o.prev.h)) || (o.prev.part === 0 && o.prev.bucket < first) || backFilled.has(o.prev.bucket) ? undefined : o.prev
  const backFill = async (): Promise<void> => {
    for (;;) {
      const links = [...opened.values()].map(needed).filter(l => l !== undefined)
      if (links.length === 0 || backFilled.size >= CHAIN_BACKFILL_BUCKETS) return
      const bucket = (links[0] as CheckpointLink).bucket
      backFilled.add(bucket)
      await open(await engine.checkpoints(sensor, bucket, bucket))
    }
  }
  await open(inSpan)
  const wanted = new Set(opened.keys())
  await backFill()
  let fetchedTo = last
  let run: OpenedCheckpoint[] = []
  for (const ahead of CHAIN_LOOKAHEAD_BUCKETS) {
    if (last + ahead > fetchedTo) {
      await open(await engine.checkpoints(sensor, fetchedTo + 1, last + ahead))
      fetchedTo = last + ahead
      await backFill()
    }
    const next = new Map<string, OpenedCheckpoint>()
    for (const o of opened.values()) if (o.prev !== null) next.set(hex(o.prev.h), o)
    // the run starts at the earliest link back from the span's checkpoints whose predecessor is
    // null, not held here, or a part 0 before the page
    let start = [...opened.values()].find(o => wanted.has(hex(o.hash)))
    for (let guard = opened.size; start?.prev != null && guard > 0; guard--) {
      const link: CheckpointLink = start.prev
      const before = opened.get(hex(link.h))
      if (before === undefined || (link.part === 0 && link.bucket < first)) break
      start = before
    }
    run = []
    let seen = 0
    let complete = false
    for (let at = start; at !== undefined && run.length < opened.size; at = next.get(hex(at.hash))) {
      run.push(at)
      if (wanted.has(hex(at.hash))) seen++
      if (seen === wanted.size && at.bucket > last) { complete = true; break }
    }
    if (complete) break
  }
  // those of the span the run did not reach (a fork or a gap held here) are given too
  const inRun = new Set(run.map(o => hex(o.hash)))
  return [...run.map(o => o.bytes), ...[...wanted].filter(h => !inRun.has(h)).map(h => (opened.get(h) as OpenedCheckpoint).bytes)]
}

async function certificatesOf (engine: StorageEngine, ...lists: Uint8Array[][]): Promise<Uint8Array[]> {
  const gws = new Map<string, Uint8Array>()
  for (const list of lists) for (const gw of list) gws.set(hex(gw), gw)
  if (gws.size === 0) return []
  return (await engine.certificates([...gws.values()])).map(c => c.der)
}

/** [PER-2] fetch: the readings asked for that are held, the checkpoints of their buckets, the certificates. */
async function fetch ({ engine }: HandlerComponents, request: FetchRequest): Promise<FetchResponse> {
  const rows = await engine.get(request.sensor, request.ids.map(([seq, gw]) => ({ seq, gw })))
  const buckets = new Set(request.ids.map(([seq]) => checkpointBucket(seq)))
  const cps: StoredCheckpoint[] = []
  if (buckets.size > 0) {
    const sorted = [...buckets].sort((a, b) => a - b)
    for (const cp of await engine.checkpoints(request.sensor, sorted[0] as number, sorted[sorted.length - 1] as number)) if (buckets.has(cp.bucket)) cps.push(cp)
  }
  let envs = rows.map(r => r.envelope)
  let size = 0
  for (let n = 0; n < envs.length; n++) {
    size += (envs[n] as Uint8Array).length + 8
    if (size > FRAME_BUDGET / 2) { envs = envs.slice(0, n); break }
  }
  return { ok: true, envs, cps: cps.map(c => c.bytes), certs: await certificatesOf(engine, rows.map(r => r.gw), cps.map(c => c.gw)) }
}

/** [PER-2] ids: the (seq, gw) held in a range, in order; at most MAX_IDS, `more` when cut. */
async function ids ({ engine }: HandlerComponents, request: IdsRequest): Promise<IdsResponse> {
  const keys = await engine.ids(request.sensor, request.fromSeq, request.toSeq)
  const more = keys.length > MAX_IDS
  return { ok: true, ids: keys.slice(0, MAX_IDS).map((k): WireKey => [k.seq, k.gw]), more }
}

/** [PER-2] digest: per repair bucket held, its count and SHA-256 over `uint64be(seq) || gw` of its ids in order. */
async function digest ({ suite, engine }: HandlerComponents, request: DigestRequest): Promise<DigestResponse> {
  const buckets: Array<[number, number, Uint8Array]> = []
  const toSeq = Math.min(Number.MAX_SAFE_INTEGER, (request.toBucket + 1) * REPAIR_BUCKET)
  const keys = await engine.ids(request.sensor, Math.min(Number.MAX_SAFE_INTEGER, request.fromBucket * REPAIR_BUCKET), toSeq)
  let at = 0
  while (at < keys.length) {
    const bucket = Math.floor((keys[at] as HistoryKey).seq / REPAIR_BUCKET)
    let end = at
    while (end < keys.length && Math.floor((keys[end] as HistoryKey).seq / REPAIR_BUCKET) === bucket) end++
    buckets.push([bucket, end - at, await bucketHash(suite, keys.slice(at, end))])
    at = end
  }
  return { ok: true, buckets }
}

/** [PER-2] The hash of a repair bucket's ids: SHA-256 over `uint64be(seq) || gw` of each, in (seq, gw) order. */
export async function bucketHash (suite: CryptoSuite, keys: readonly HistoryKey[]): Promise<Uint8Array> {
  return await suite.sha256(concat(...keys.flatMap(k => [uint64be(k.seq), k.gw])))
}

async function sensors ({ engine }: HandlerComponents, request: SensorsRequest): Promise<SensorsResponse> {
  return { ok: true, sensors: await engine.sensors(request.after, request.limit) }
}
