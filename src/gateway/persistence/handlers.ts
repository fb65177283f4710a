/**
 * The replica's answers to the persistence protocol's requests ([PER-2]): store (verify every
 * envelope and checkpoint, then append the valid ones durably), range (a page with the
 * checkpoints [PER-12] needs and the certificates of their gateways), fetch, ids, digest and
 * sensors (for repair).
 */
import { GatemeshError, checkpointBucket, equalBytes, isGatemeshError, openCheckpoint, verifyEnvelopes } from '../../core/index.ts'
import type { CheckpointLink, CryptoSuite, ErrorCode, OpenedCheckpoint, VerifyOutcome } from '../../core/index.ts'
import type { StorageEngine, StoredCheckpoint, StoredReading, HistoryKey } from './engine/types.ts'
import { MAX_CERTIFICATES_PER_GW } from './engine/input.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import {
  MAX_CHECKPOINT_IDS, MAX_FRAME_BYTES, MAX_IDS, encodeResponse,
  type DigestRequest, type DigestResponse, type FetchRequest, type FetchResponse, type IdsRequest, type IdsResponse,
  type PersistenceHandler, type PersistenceRequest, type PersistenceResponse, type RangeRequest, type RangeResponse,
  type Rejected, type SensorsRequest, type SensorsResponse, type StoreRequest, type StoreResponse, type WireCheckpointId, type WireKey
} from './protocol.ts'
import type { StoreVerifier} from './verify.ts';
import { hex, mayPush, peerKey } from './verify.ts'
import { bucketDigests, checkpointIdKey, checkpointsById, repairItems, type BucketDigestTuple } from './repair-digest.ts'

export { REPAIR_BUCKET, bucketHash } from './repair-digest.ts'
/** Room left in a response frame for its envelopes once checkpoints and certificates are in. */
const FRAME_BUDGET = MAX_FRAME_BYTES - 64 * 1024
/** How far past a page one gateway's chain is searched for a part 0 to prove its end ([PER-12] rule 3): up to a day. */
const CHAIN_LOOKAHEAD_BUCKETS = [2, 60, 1440]
/** Checkpoints one range answer opens at most while following chain links ([PER-2]). */
const MAX_CHAIN_LINKS = 4096

export interface HandlerComponents {
  suite: CryptoSuite
  engine: StorageEngine
  verifier: StoreVerifier
  /** Refuses a store when storage is full (GM_ERR_PERSISTENCE_FULL). */
  assertRoom: () => Promise<void>
  onStored?: (stored: number) => void
  /** [PER-2] `digest`'s buckets (the service's digest-cache.ts); default: bucketDigests on `engine`. */
  digests?: (sensor: string, fromBucket: number, toBucket: number) => Promise<BucketDigestTuple[]>
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
  // the certificates given, by the key they are for (checked before use, per gw), in the order given:
  // a renewed collector's come several for one key (repair gives every one held, newest first)
  const given = new Map<string, Uint8Array[]>()
  for (const der of request.certs) {
    const gw = certificateKey(der)
    if (gw === undefined) continue
    const list = given.get(gw)
    if (list === undefined) given.set(gw, [der])
    else if (list.length < MAX_CERTIFICATES_PER_GW && !list.some(d => equalBytes(d, der))) list.push(der)
  }
  const gwChecks = new Map<string, Promise<ErrorCode | undefined>>()
  const usedCerts = new Map<string, { gw: Uint8Array, der: Uint8Array, notBefore: number }>()
  const checkGw = async (gw: Uint8Array): Promise<ErrorCode | undefined> => {
    const key = hex(gw)
    if (!mayPush(peer, pusher, key)) return 'GM_ERR_PERSISTENCE_FORBIDDEN'
    let check = gwChecks.get(key)
    if (check === undefined) {
      check = checkCertificates(verifier, engine, gw, given.get(key) ?? [], usedCerts)
      gwChecks.set(key, check)
    }
    return await check
  }
  const checkSensor = async (sensor: string): Promise<ErrorCode | undefined> => await verifier.checkSensor(sensor).then(() => undefined, codeOf)

  const rejected: Rejected[] = []
  const readings: StoredReading[] = []
  // [ENV-9] one Ed25519 verification per batch signature within the request, no await per envelope
  const verifiedBatches = new Set<string>()
  // a request's envelopes are its own (decoded from its frame, or given in-process and never changed after)
  const outcomes = await verifyEnvelopes(suite, request.envs, { verifiedBatches, inputOwned: true })
  // the gateway's checks once per gw (consecutive envelopes mostly share one)
  let lastGw: Uint8Array | undefined
  let lastGwCode: ErrorCode | undefined
  const gwCodes: Array<ErrorCode | undefined> = new Array(outcomes.length)
  const sensors = new Set<string>()
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i] as VerifyOutcome
    if ('error' in outcome) continue
    const env = outcome.envelope
    if (lastGw === undefined || !equalBytes(lastGw, env.gw)) {
      lastGwCode = await checkGw(env.gw)
      lastGw = env.gw
    }
    gwCodes[i] = lastGwCode
    if (lastGwCode === undefined) sensors.add(env.sensor)
  }
  // the sensor's once per sensor and request, SENSOR_CHECKS_AT_ONCE at a time: a replica that does
  // not know a push's sensors yet (started again, new sensors) looks them up side by side, not
  // one after the other (64 in a row took up to 10.8 s, past a push's 10 s time-out)
  const sensorCodes = await checkAll([...sensors], checkSensor, SENSOR_CHECKS_AT_ONCE)
  for (let i = 0; i < outcomes.length; i++) {
    const outcome = outcomes[i] as VerifyOutcome
    if ('error' in outcome) { rejected.push({ i, kind: 'env', code: codeOf(outcome.error) }); continue }
    const env = outcome.envelope
    const code = gwCodes[i] ?? sensorCodes.get(env.sensor)
    if (code !== undefined) { rejected.push({ i, kind: 'env', code }); continue }
    readings.push({ sensor: env.sensor, gw: env.gw, seq: env.seq, envelope: request.envs[i] as Uint8Array })
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
    const code = await checkGw(cp.gw) ?? (sensorCodes.has(cp.sensor) ? sensorCodes.get(cp.sensor) : await checkSensor(cp.sensor))
    if (code !== undefined) { rejected.push({ i, kind: 'cp', code }); continue }
    checkpoints.push({ sensor: cp.sensor, gw: cp.gw, bucket: cp.bucket, part: cp.part, bytes })
  }
  // certificates first: a held reading's gateway certificate is always held ([PER-20]: each kept beside the older ones)
  for (const { gw, der, notBefore } of usedCerts.values()) await engine.putCertificate(gw, der, Math.max(0, notBefore))
  const result = readings.length === 0 ? { stored: 0, duplicates: 0 } : await engine.append(readings)
  if (checkpoints.length > 0) await engine.putCheckpoints(checkpoints)
  onStored?.(result.stored)
  return { ok: true, stored: result.stored, duplicates: result.duplicates, rejected }
}

/** Sensors a store request looks up at once. */
const SENSOR_CHECKS_AT_ONCE = 16

/** `check` of every key, at most `atOnce` running at a time. */
async function checkAll (keys: readonly string[], check: (key: string) => Promise<ErrorCode | undefined>, atOnce: number): Promise<Map<string, ErrorCode | undefined>> {
  const codes = new Map<string, ErrorCode | undefined>()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++] as string
      codes.set(key, await check(key))
    }
  }
  await Promise.all(Array.from({ length: Math.min(atOnce, keys.length) }, worker))
  return codes
}

/**
 * [PER-2] gw's certificates: each one given (valid now, collector, not revoked by the current CRL)
 * is kept in `used`, to be stored beside the others held; when none given passes, those held
 * (newest first) are tried. One must pass; else the last failure's code.
 */
async function checkCertificates (verifier: StoreVerifier, engine: StorageEngine, gw: Uint8Array, given: Uint8Array[], used: Map<string, { gw: Uint8Array, der: Uint8Array, notBefore: number }>): Promise<ErrorCode | undefined> {
  let failure: unknown
  let passed = false
  for (const der of given) {
    try {
      const { notBefore } = await verifier.checkCollector(gw, der)
      used.set(hex(der), { gw, der, notBefore: notBefore.getTime() })
      passed = true
    } catch (err) {
      failure = err
    }
  }
  if (passed) return undefined
  const held = given.length > 0 ? [] : (await engine.certificates([gw])).map(c => c.der)
  for (const der of held.length === 0 && given.length === 0 ? [undefined] : held) {
    try {
      await verifier.checkCollector(gw, der)
      return undefined
    } catch (err) {
      failure = err
    }
  }
  return codeOf(failure)
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
  const chains = new ChainReader(components, request.sensor)
  const byGw = new Map<string, StoredCheckpoint[]>()
  for (const cp of await chains.fetch(first, last)) {
    const key = hex(cp.gw)
    const list = byGw.get(key)
    if (list === undefined) byGw.set(key, [cp]); else list.push(cp)
  }
  const out: Uint8Array[] = []
  const gws: Uint8Array[] = []
  for (const list of byGw.values()) {
    const run = await chainRun(chains, list, first, last)
    if (run.length === 0) continue
    gws.push((list[0] as StoredCheckpoint).gw)
    out.push(...run)
  }
  return { cps: out, gws }
}

/**
 * The checkpoints of one sensor as one answer reads them: fetched by bucket windows, remembered,
 * opened (hash and links) once each, and looked up by identity to follow a `prev` link.
 */
class ChainReader {
  private readonly components: HandlerComponents
  private readonly sensor: string
  private readonly held = new Map<string, StoredCheckpoint>()
  private readonly opened = new Map<string, OpenedCheckpoint | null>()
  private readonly fetched: Array<[number, number]> = []
  /** Checkpoints opened so far; past MAX_CHAIN_LINKS no more links are followed. */
  links = 0

  constructor (components: HandlerComponents, sensor: string) {
    this.components = components
    this.sensor = sensor
  }

  /** The checkpoints of buckets from..to (all gateways), remembered for lookups. */
  async fetch (from: number, to: number): Promise<StoredCheckpoint[]> {
    const cps = await this.components.engine.checkpoints(this.sensor, from, to)
    this.fetched.push([from, to])
    for (const cp of cps) this.held.set(`${hex(cp.gw)}|${cp.bucket}|${cp.part}`, cp)
    return cps
  }

  /** Opens a stored checkpoint once (undefined when it does not open: never given). */
  async open (cp: StoredCheckpoint): Promise<OpenedCheckpoint | undefined> {
    const id = `${hex(cp.gw)}|${cp.bucket}|${cp.part}`
    let o = this.opened.get(id)
    if (o === undefined) {
      this.links++
      // verified when it was stored ([PER-2] store): read back for its links; the reader verifies it
      o = await openCheckpoint(this.components.suite, cp.bytes, { signatureVerified: true }).catch(() => null)
      if (o !== null && (!equalBytes(o.gw, cp.gw) || o.bucket !== cp.bucket || o.part !== cp.part)) o = null
      this.opened.set(id, o)
    }
    return o ?? undefined
  }

  /** The checkpoint (gw, bucket, part) when held, fetching its bucket (and the hour before it) once. */
  async get (gw: Uint8Array, bucket: number, part: number): Promise<OpenedCheckpoint | undefined> {
    if (!this.fetched.some(([from, to]) => from <= bucket && bucket <= to)) await this.fetch(Math.max(0, bucket - 59), bucket)
    const cp = this.held.get(`${hex(gw)}|${bucket}|${part}`)
    return cp === undefined ? undefined : await this.open(cp)
  }
}

/**
 * [PER-12] rule 3: the run of one gateway's chain a page needs. Every checkpoint of the page's
 * buckets (late parts included, wherever the chain put them) and the first part 0 after the page
 * are targets; from each, `prev` links are followed back (each link looked up by the bucket and
 * part it names, however far) until a checkpoint whose `prev` is null or a part 0 before the page.
 * For an honest chain these walks all end at the same checkpoint, so their union is one run. A
 * walk that meets a link not held (retention deleted it, or it never reached this replica) or
 * passes MAX_CHAIN_LINKS leaves its target out: the run given still verifies, and the reader sees
 * an open end where it stops short of a part 0 after the page.
 */
async function chainRun (chains: ChainReader, inSpan: StoredCheckpoint[], first: number, last: number): Promise<Uint8Array[]> {
  const gw = (inSpan[0] as StoredCheckpoint).gw
  const run = new Map<string, OpenedCheckpoint>()
  const startsRun = (cp: OpenedCheckpoint): boolean => cp.prev === null || (cp.prev.part === 0 && cp.prev.bucket < first)
  const walk = async (target: OpenedCheckpoint): Promise<void> => {
    const path: OpenedCheckpoint[] = []
    for (let at = target; !run.has(hex(at.hash)); ) {
      path.push(at)
      if (startsRun(at)) break
      if (chains.links >= MAX_CHAIN_LINKS || path.length > MAX_CHAIN_LINKS) return
      const link = at.prev as CheckpointLink
      const prev = await chains.get(gw, link.bucket, link.part)
      if (prev === undefined || !equalBytes(prev.hash, link.h)) return
      at = prev
    }
    for (const cp of path) run.set(hex(cp.hash), cp)
  }
  const targets: OpenedCheckpoint[] = []
  for (const cp of inSpan) {
    const o = await chains.open(cp)
    if (o !== undefined) targets.push(o)
  }
  // part 0s first, in chain order; late parts after them
  targets.sort((a, b) => (a.part === 0 ? 0 : 1) - (b.part === 0 ? 0 : 1) || a.bucket - b.bucket || a.part - b.part)
  for (const target of targets) await walk(target)
  const closed = (): boolean => [...run.values()].some(cp => cp.part === 0 && cp.bucket > last)
  // forward: the first part 0 after the page (part-0 buckets increase along the chain), looking up to a day ahead
  let from = last + 1
  for (const ahead of CHAIN_LOOKAHEAD_BUCKETS) {
    if (closed() || run.size === 0) break
    const found = (await chains.fetch(from, last + ahead)).filter(cp => cp.part === 0 && equalBytes(cp.gw, gw))
    from = last + ahead + 1
    if (found.length === 0) continue
    const next = await chains.open(found.reduce((a, b) => b.bucket < a.bucket ? b : a))
    if (next !== undefined) await walk(next)
    break
  }
  return [...run.values()].map(cp => cp.bytes)
}

async function certificatesOf (engine: StorageEngine, ...lists: Uint8Array[][]): Promise<Uint8Array[]> {
  const gws = new Map<string, Uint8Array>()
  // a page's readings mostly share few collectors: a key like the one before it is not hexed again
  for (const list of lists) {
    let previous: Uint8Array | undefined
    for (const gw of list) {
      if (previous !== undefined && equalBytes(previous, gw)) continue
      gws.set(hex(gw), gw)
      previous = gw
    }
  }
  if (gws.size === 0) return []
  return (await engine.certificates([...gws.values()])).map(c => c.der)
}

/** [PER-2] fetch: the readings asked for that are held, the checkpoints of their buckets, the certificates. */
async function fetch ({ engine }: HandlerComponents, request: FetchRequest): Promise<FetchResponse> {
  const rows = await engine.get(request.sensor, request.ids.map(([seq, gw]) => ({ seq, gw })))
  // the checkpoints of the ids' buckets, one query per run of adjacent buckets: never those of the
  // span between two far ids (ids a year apart would read the sensor's whole year of checkpoints)
  const cps: StoredCheckpoint[] = []
  const sorted = [...new Set(request.ids.map(([seq]) => checkpointBucket(seq)))].sort((a, b) => a - b)
  for (let i = 0; i < sorted.length;) {
    let j = i
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j++
    cps.push(...await engine.checkpoints(request.sensor, sorted[i] as number, sorted[j] as number))
    i = j + 1
  }
  // [PER-33] checkpoints asked for by identity (repair of a bucket whose readings agree)
  if (request.cps !== undefined && request.cps.length > 0) {
    const given = new Set(cps.map(checkpointIdKey))
    for (const cp of await checkpointsById(engine, request.sensor, request.cps.map(([bucket, part, gw]) => ({ bucket, part, gw })))) {
      if (!given.has(checkpointIdKey(cp))) cps.push(cp)
    }
  }
  let envs = rows.map(r => r.envelope)
  let size = 0
  for (let n = 0; n < envs.length; n++) {
    size += (envs[n] as Uint8Array).length + 8
    if (size > FRAME_BUDGET / 2) { envs = envs.slice(0, n); break }
  }
  return { ok: true, envs, cps: cps.map(c => c.bytes), certs: await certificatesOf(engine, rows.map(r => r.gw), cps.map(c => c.gw)) }
}

/**
 * [PER-2] ids: the (seq, gw) held in a range, in order, at most MAX_IDS; and the checkpoints
 * held whose bucket starts in it, (bucket, part, gw) in order, at most MAX_CHECKPOINT_IDS;
 * `more` when either was cut.
 */
async function ids ({ engine }: HandlerComponents, request: IdsRequest): Promise<IdsResponse> {
  const held = await repairItems(engine, request.sensor, request.fromSeq, request.toSeq)
  const more = held.ids.length > MAX_IDS || held.cps.length > MAX_CHECKPOINT_IDS
  return {
    ok: true,
    ids: held.ids.slice(0, MAX_IDS).map((k): WireKey => [k.seq, k.gw]),
    cps: held.cps.slice(0, MAX_CHECKPOINT_IDS).map((c): WireCheckpointId => [c.bucket, c.part, c.gw]),
    more
  }
}

/** [PER-2] digest: per repair bucket holding readings or checkpoints, their count and hash (repair-digest.ts). */
async function digest ({ suite, engine, digests }: HandlerComponents, request: DigestRequest): Promise<DigestResponse> {
  const { sensor, fromBucket, toBucket } = request
  return { ok: true, buckets: digests === undefined ? await bucketDigests(suite, engine, sensor, fromBucket, toBucket) : await digests(sensor, fromBucket, toBucket) }
}

async function sensors ({ engine }: HandlerComponents, request: SensorsRequest): Promise<SensorsResponse> {
  return { ok: true, sensors: await engine.sensors(request.after, request.limit) }
}
