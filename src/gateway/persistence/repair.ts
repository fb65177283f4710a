/**
 * Anti-entropy repair between persistence peers ([PER-30]..[PER-35]). Every `intervalMs` (and
 * soon after a persistence peer joins or leaves), a replica walks the sensors it holds and those
 * the other persistence peers hold (`sensors`), finds each one's replica set ([PER-3]) and, with
 * every other replica in it, compares digests of repair buckets (one hour of seq) over the last
 * 48 hours and a rotating slice of older ones; for a bucket that differs it compares the ids,
 * fetches what it lacks (stored through the very checks of a `store`, [PER-33]) and pushes with
 * `store` what the other lacks. Work per round is bounded; errors are counted, never thrown.
 */
import { checkpointBucket, isGatemeshError, readEnvelopeHeader } from '../../core/index.ts'
import { NAMESPACES, recordKey } from '../../overlay/index.ts'
import { createLogger, type Logger } from '../../platform/logger.ts'
import { REPAIR_BUCKET, bucketDigests, checkpointIdKey, checkpointsById, repairItems, type BucketDigestTuple, type CheckpointId } from './repair-digest.ts'
import {
  MAX_DIGEST_BUCKETS, MAX_FETCH_IDS, MAX_FRAME_BYTES, MAX_SENSORS_LIMIT, MAX_STORE_CHECKPOINTS, MAX_STORE_ENVELOPES,
  type PersistenceRequest, type ResponseOf, type StoreRequest, type StoreResponse, type WireCheckpointId, type WireKey
} from './protocol.ts'
import { hex } from './verify.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { OverlayNode, VerifiedPeer } from '../../overlay/index.ts'
import type { HistoryKey, StorageEngine } from './engine/types.ts'

export interface RepairComponents {
  overlay: Pick<OverlayNode, 'peerId' | 'findPeersByRole' | 'verifiedPeers' | 'addEventListener' | 'removeEventListener'>
  suite: CryptoSuite
  engine: StorageEngine
  /** Sends one persistence request to a peer ([PER-2] `request`). */
  send: <R extends PersistenceRequest>(peerId: string, request: R) => Promise<ResponseOf[R['op']]>
  /** [PER-33] Stores what a pull fetched, through the `store` handler's checks, as if `from` had pushed it. */
  storeLocal: (request: StoreRequest, from: VerifiedPeer) => Promise<StoreResponse>
  /** [PER-42] True while this peer's storage is full: pulls stop. */
  full: () => boolean
  /** [PER-31] This peer's own digests (the service's digest-cache.ts); default: localDigest on `engine`. */
  digests?: (sensor: string, fromBucket: number, toBucket: number) => Promise<BucketDigestTuple[]>
  now?: () => number
  logger?: Logger
}

export interface RepairInit {
  /** A round every this often (60 s). */
  intervalMs?: number
  /** R, as the collectors use it ([PER-3]). */
  replicas?: number
  /** Repair buckets always compared, ending at the current one (48: two days). */
  recentBuckets?: number
  /** Older buckets compared per round and sensor pair, walking back to the oldest held (168: a week). */
  olderSliceBuckets?: number
  /** Sensors compared per round at most; the next round goes on from where this one stopped. */
  maxSensorsPerRound?: number
  /** Differing buckets repaired per round at most (over all sensors). */
  maxBucketsPerRound?: number
  /** Delay of the round a membership change asks for (lets the overlay settle). */
  settleMs?: number
  /** How often the set of verified persistence peers is looked at for a change. */
  membershipCheckMs?: number
  /** How long a sensor's replica set found by a DHT look-up is reused while the persistence peers stay the same (10 min). */
  replicaSetTtlMs?: number
}

export const REPAIR_DEFAULTS = {
  intervalMs: 60_000,
  replicas: 3,
  recentBuckets: 48,
  olderSliceBuckets: 168,
  maxSensorsPerRound: 1000,
  maxBucketsPerRound: 2000,
  settleMs: 1000,
  membershipCheckMs: 5000,
  replicaSetTtlMs: 600_000
} as const

/** Sensors listed from one peer (or held here) at most, per round. */
const MAX_LISTED_SENSORS = 100_000
/** What one push or pull request carries at most, in envelope bytes (the frame is 8 MiB). */
const PUSH_BYTES = MAX_FRAME_BYTES / 2
/** A learned sensor not held here is compared this far back (the default retention, 30 days). */
const UNHELD_LOOKBACK_BUCKETS = 30 * 24

export interface Repair {
  start: () => void
  stop: () => Promise<void>
  /** Runs a round now (or waits for the one running and runs another); resolves when it ends. */
  runRound: () => Promise<void>
  status: () => Record<string, unknown>
}

export type { BucketDigestTuple } from './repair-digest.ts'

/** [PER-31] The buckets whose count or hash differ, or that one side has and the other not, ascending. */
export function differingBuckets (local: readonly BucketDigestTuple[], remote: readonly BucketDigestTuple[]): number[] {
  const theirs = new Map(remote.map(([bucket, count, hash]) => [bucket, { count, hash: hex(hash) }]))
  const out = new Set<number>()
  for (const [bucket, count, hash] of local) {
    const other = theirs.get(bucket)
    if (count === 0 && other === undefined) continue
    if (other === undefined || other.count !== count || other.hash !== hex(hash)) out.add(bucket)
    theirs.delete(bucket)
  }
  for (const [bucket, { count }] of theirs) if (count > 0) out.add(bucket)
  return [...out].sort((a, b) => a - b)
}

/** [PER-32] The ids one side holds and the other not: `missingHere` (to fetch), `missingThere` (to push). */
export function diffIds (local: readonly HistoryKey[], remote: readonly HistoryKey[]): { missingHere: HistoryKey[], missingThere: HistoryKey[] } {
  const id = (k: HistoryKey): string => `${k.seq}:${hex(k.gw)}`
  const mine = new Set(local.map(id))
  const theirs = new Set(remote.map(id))
  return {
    missingHere: remote.filter(k => !mine.has(id(k))),
    missingThere: local.filter(k => !theirs.has(id(k)))
  }
}

/** [PER-32] The checkpoint identities one side holds and the other not. */
export function diffCheckpointIds (local: readonly CheckpointId[], remote: readonly CheckpointId[]): { missingHere: CheckpointId[], missingThere: CheckpointId[] } {
  const mine = new Set(local.map(checkpointIdKey))
  const theirs = new Set(remote.map(checkpointIdKey))
  return {
    missingHere: remote.filter(c => !mine.has(checkpointIdKey(c))),
    missingThere: local.filter(c => !theirs.has(checkpointIdKey(c)))
  }
}

/** [PER-31] Digests of the repair buckets held in [fromBucket, toBucket] (readings and checkpoints), as the `digest` op answers them. */
export async function localDigest (suite: CryptoSuite, engine: StorageEngine, sensor: string, fromBucket: number, toBucket: number): Promise<BucketDigestTuple[]> {
  return await bucketDigests(suite, engine, sensor, fromBucket, toBucket)
}

export function repairBucket (seq: number): number {
  return Math.floor(seq / REPAIR_BUCKET)
}

function bucketStart (bucket: number): number {
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, bucket) * REPAIR_BUCKET)
}

/**
 * [PER-30] The bucket windows compared in a round: the recent ones (the last `recent` buckets up
 * to the current one and the next, for clocks ahead), then one slice of `slice` older buckets
 * ending at `cursor` (or just before the recent ones), not below `oldest`. Returns the windows and
 * where the next round's slice ends (undefined: back to the recent edge).
 */
export function repairWindows (nowMs: number, oldest: number, cursor: number | undefined, recent: number, slice: number): { windows: Array<[number, number]>, nextCursor: number | undefined } {
  const current = repairBucket(Math.max(0, nowMs) * 1000)
  const recentFrom = Math.max(0, current - recent + 1)
  const windows: Array<[number, number]> = [[recentFrom, current + 1]]
  const end = Math.min(cursor ?? recentFrom - 1, recentFrom - 1)
  if (end < 0 || end < oldest) return { windows, nextCursor: undefined }
  const start = Math.max(oldest, end - slice + 1, 0)
  windows.push([start, end])
  return { windows, nextCursor: start <= oldest || start === 0 ? undefined : start - 1 }
}

function toKey ([seq, gw]: WireKey): HistoryKey {
  return { seq, gw }
}

function toWire (k: HistoryKey): WireKey {
  return [k.seq, k.gw]
}

function cpToWire (c: CheckpointId): WireCheckpointId {
  return [c.bucket, c.part, c.gw]
}

function codeOf (err: unknown): string {
  return isGatemeshError(err) ? err.code : 'GM_ERR_PERSISTENCE_INTERNAL'
}

/** The round's budget of buckets ran out. */
class BudgetSpent extends Error {}

export function createRepair (components: RepairComponents, init: RepairInit = {}): Repair {
  const cfg = { ...REPAIR_DEFAULTS, ...Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined)) } as Required<RepairInit>
  const { overlay, suite, engine, send } = components
  const digests = components.digests ?? (async (sensor: string, from: number, to: number) => await localDigest(suite, engine, sensor, from, to))
  const now = components.now ?? Date.now
  const log = components.logger ?? createLogger('gatemesh:persistence-repair')
  /** Per (sensor, peer): where the next older slice ends ([PER-30]). */
  const cursors = new Map<string, number>()
  let sensorCursor: string | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let timerDue = Infinity
  let membershipTimer: ReturnType<typeof setInterval> | undefined
  let membership = ''
  let running = false
  let stopped = false
  let current: Promise<void> | undefined
  let budget = 0
  const counts = { rounds: 0, sensorsCompared: 0, pairsCompared: 0, bucketsRepaired: 0, pulled: 0, pushed: 0, checkpointsPulled: 0, checkpointsPushed: 0, rejected: 0, errors: 0 }
  const errorCodes: Record<string, number> = {}
  /**
   * [PER-30] Each sensor's replica set as last looked up, with the persistence peers verified at
   * the time: reused while they stay the same (and for replicaSetTtlMs at most), so a round of N
   * sensors is not N DHT look-ups (each a FIND_NODE stream to every near peer) when nothing moved.
   */
  const replicaSets = new Map<string, { peers: string[], membership: string, at: number }>()
  /** This peer as the look-up of each sensor's set returned it (it is not among its own verified peers). */
  const selfOf = new Map<string, VerifiedPeer>()
  let lastRoundMs: number | null = null
  let lastRoundAt: number | null = null

  const failed = (err: unknown, what: Record<string, unknown>): void => {
    const code = codeOf(err)
    counts.errors++
    errorCodes[code] = (errorCodes[code] ?? 0) + 1
    log.warn({ ...what, code, err: isGatemeshError(err) ? undefined : err }, 'repair step failed')
  }

  const persistencePeers = (): VerifiedPeer[] => overlay.verifiedPeers().filter(p => p.services.includes('persistence') && p.roles.includes('persistence'))

  const schedule = (delayMs: number): void => {
    if (!running) return
    const due = Date.now() + delayMs
    if (timer !== undefined && timerDue <= due) return
    if (timer !== undefined) clearTimeout(timer)
    timerDue = due
    timer = setTimeout(() => {
      timer = undefined
      timerDue = Infinity
      void runRound().catch(err => { failed(err, { step: 'round' }) })
    }, delayMs)
    timer.unref?.()
  }

  // [PER-30] a persistence peer joining, or one leaving (it drops from the verified peers), asks for a round soon
  const onVerified = (evt: CustomEvent<VerifiedPeer>): void => {
    if (evt.detail.services.includes('persistence')) schedule(cfg.settleMs)
  }
  const checkMembership = (): void => {
    const ids = persistencePeers().map(p => p.peerId).sort().join(',')
    if (ids !== membership) {
      membership = ids
      replicaSets.clear()
      schedule(cfg.settleMs)
    }
  }

  async function listSensors (): Promise<{ held: Set<string>, all: string[] }> {
    const held = new Set<string>()
    for (let after: string | undefined; held.size < MAX_LISTED_SENSORS;) {
      const page = await engine.sensors(after, MAX_SENSORS_LIMIT)
      for (const s of page) held.add(s)
      if (page.length < MAX_SENSORS_LIMIT) break
      after = page[page.length - 1]
    }
    const all = new Set(held)
    for (const peer of persistencePeers()) {
      try {
        let listed = 0
        for (let after: string | undefined; listed < MAX_LISTED_SENSORS;) {
          const request: PersistenceRequest = after === undefined ? { op: 'sensors', limit: MAX_SENSORS_LIMIT } : { op: 'sensors', after, limit: MAX_SENSORS_LIMIT }
          const { sensors } = await send(peer.peerId, request as { op: 'sensors', limit: number })
          for (const s of sensors) all.add(s)
          listed += sensors.length
          if (sensors.length < MAX_SENSORS_LIMIT) break
          after = sensors[sensors.length - 1]
        }
      } catch (err) {
        failed(err, { step: 'sensors', peer: peer.peerId })
      }
    }
    return { held, all: [...all].sort() }
  }

  /** Up to maxSensorsPerRound sensors after the cursor, wrapping around. */
  function thisRound (all: string[]): string[] {
    if (all.length <= cfg.maxSensorsPerRound) { sensorCursor = undefined; return all }
    const from = sensorCursor === undefined ? 0 : all.findIndex(s => s > (sensorCursor as string))
    const start = from < 0 ? 0 : from
    const picked = all.slice(start, start + cfg.maxSensorsPerRound)
    if (picked.length < cfg.maxSensorsPerRound) picked.push(...all.slice(0, cfg.maxSensorsPerRound - picked.length))
    sensorCursor = picked[picked.length - 1]
    return picked
  }

  async function oldestBucket (sensor: string, held: boolean, nowMs: number): Promise<number> {
    const first = held ? (await engine.range({ sensor, fromSeq: 0, toSeq: Number.MAX_SAFE_INTEGER, order: 'asc', limit: 1 }))[0] : undefined
    if (first !== undefined) return repairBucket(first.seq)
    return Math.max(0, repairBucket(nowMs * 1000) - UNHELD_LOOKBACK_BUCKETS)
  }

  /** [PER-32] All ids and checkpoint identities a peer holds in a seq range, following `more`. */
  async function remoteItems (peer: VerifiedPeer, sensor: string, fromSeq: number, toSeq: number): Promise<{ ids: HistoryKey[], cps: CheckpointId[] }> {
    const out = new Map<string, HistoryKey>()
    const cps = new Map<string, CheckpointId>()
    for (let from = fromSeq; ;) {
      const answer = await send(peer.peerId, { op: 'ids', sensor, fromSeq: from, toSeq })
      for (const k of answer.ids) out.set(`${k[0]}:${hex(k[1])}`, toKey(k))
      for (const [bucket, part, gw] of answer.cps) { const c = { bucket, part, gw }; cps.set(checkpointIdKey(c), c) }
      const last = answer.ids[answer.ids.length - 1]
      if (!answer.more || last === undefined || last[0] <= from) break
      from = last[0]
    }
    return { ids: [...out.values()], cps: [...cps.values()] }
  }

  /** Stores what a fetch answered through the store handler's checks; the readings and checkpoints newly held. */
  async function storePulled (peer: VerifiedPeer, sensor: string, answer: ResponseOf['fetch']): Promise<void> {
    const result = await components.storeLocal({ op: 'store', certs: answer.certs, envs: answer.envs, cps: answer.cps }, peer)
    counts.pulled += result.stored
    counts.checkpointsPulled += answer.cps.length - result.rejected.filter(r => r.kind === 'cp').length
    counts.rejected += result.rejected.length
    if (result.rejected.length > 0) log.warn({ peer: peer.peerId, sensor, rejected: result.rejected.length, code: result.rejected[0]?.code }, 'repair pull: items refused')
  }

  /** [PER-33] Fetches what this peer lacks (readings, then checkpoints by identity) and stores it through the store handler's checks. */
  async function pull (peer: VerifiedPeer, sensor: string, keys: HistoryKey[], missingCps: CheckpointId[]): Promise<void> {
    let left = keys
    while (left.length > 0 && !components.full()) {
      const chunk = left.slice(0, MAX_FETCH_IDS)
      const answer = await send(peer.peerId, { op: 'fetch', sensor, ids: chunk.map(toWire) })
      if (answer.envs.length === 0) break
      await storePulled(peer, sensor, answer)
      // the fetch may be cut to its frame: what came back is done, the rest asked again
      const got = new Set<string>()
      for (const env of answer.envs) {
        try {
          const h = readEnvelopeHeader(env)
          got.add(`${h.seq}:${hex(h.gw)}`)
        } catch { /* refused above */ }
      }
      const rest = chunk.filter(k => !got.has(`${k.seq}:${hex(k.gw)}`))
      if (rest.length === chunk.length) break
      left = [...rest, ...left.slice(chunk.length)]
    }
    // the checkpoints still missing (those of the buckets fetched above came with them)
    if (missingCps.length === 0 || components.full()) return
    const held = new Set((await heldCheckpoints(sensor, missingCps)).map(checkpointIdKey))
    const still = missingCps.filter(c => !held.has(checkpointIdKey(c)))
    for (let at = 0; at < still.length && !components.full(); at += MAX_STORE_CHECKPOINTS) {
      const answer = await send(peer.peerId, { op: 'fetch', sensor, ids: [], cps: still.slice(at, at + MAX_STORE_CHECKPOINTS).map(cpToWire) })
      if (answer.cps.length === 0) continue
      await storePulled(peer, sensor, answer)
    }
  }

  /** The checkpoint identities held here among these. */
  async function heldCheckpoints (sensor: string, wanted: CheckpointId[]): Promise<CheckpointId[]> {
    return await checkpointsById(engine, sensor, wanted)
  }

  /** [PER-34] Pushes with `store` what the other replica lacks: readings with the checkpoints of their buckets, the checkpoints it lacks, the certificates. */
  async function push (peer: VerifiedPeer, sensor: string, keys: HistoryKey[], missingCps: CheckpointId[]): Promise<void> {
    const cpBuckets = [...new Set(keys.map(k => checkpointBucket(k.seq)))].sort((a, b) => a - b)
    const cps = cpBuckets.length === 0 ? [] : (await engine.checkpoints(sensor, cpBuckets[0] as number, cpBuckets[cpBuckets.length - 1] as number)).filter(c => cpBuckets.includes(c.bucket))
    const listed = new Set(cps.map(checkpointIdKey))
    for (const cp of await checkpointsById(engine, sensor, missingCps.filter(c => !listed.has(checkpointIdKey(c))))) cps.push(cp)
    let cpAt = 0
    const sendStore = async (envs: Uint8Array[], gws: Map<string, Uint8Array>, bytes: number): Promise<void> => {
      const cpChunk: Uint8Array[] = []
      while (cpAt < cps.length && cpChunk.length < MAX_STORE_CHECKPOINTS && (cpChunk.length === 0 || bytes < PUSH_BYTES)) {
        const cp = cps[cpAt++] as (typeof cps)[number]
        cpChunk.push(cp.bytes)
        bytes += cp.bytes.length
        gws.set(hex(cp.gw), cp.gw)
      }
      const certs = (await engine.certificates([...gws.values()])).map(c => c.der)
      const answer = await send(peer.peerId, { op: 'store', certs, envs, cps: cpChunk })
      counts.pushed += answer.stored
      counts.checkpointsPushed += cpChunk.length - answer.rejected.filter(r => r.kind === 'cp').length
      counts.rejected += answer.rejected.length
      if (answer.rejected.length > 0) log.warn({ peer: peer.peerId, sensor, rejected: answer.rejected.length, code: answer.rejected[0]?.code }, 'repair push: items refused')
    }
    for (let at = 0; at < keys.length; at += MAX_STORE_ENVELOPES) {
      const rows = await engine.get(sensor, keys.slice(at, at + MAX_STORE_ENVELOPES))
      for (let i = 0; i < rows.length;) {
        const envs: Uint8Array[] = []
        const gws = new Map<string, Uint8Array>()
        let bytes = 0
        for (let row = rows[i]; row !== undefined && (envs.length === 0 || bytes + row.envelope.length <= PUSH_BYTES); row = rows[++i]) {
          envs.push(row.envelope)
          bytes += row.envelope.length
          gws.set(hex(row.gw), row.gw)
        }
        await sendStore(envs, gws, bytes)
      }
    }
    while (cpAt < cps.length) await sendStore([], new Map(), 0)
  }

  async function repairOneBucket (peer: VerifiedPeer, sensor: string, bucket: number, mayPull: boolean): Promise<void> {
    if (budget <= 0) throw new BudgetSpent()
    budget--
    const fromSeq = bucketStart(bucket)
    const toSeq = bucketStart(bucket + 1)
    const [local, remote] = await Promise.all([repairItems(engine, sensor, fromSeq, toSeq), remoteItems(peer, sensor, fromSeq, toSeq)])
    const { missingHere, missingThere } = diffIds(local.ids, remote.ids)
    const cps = diffCheckpointIds(local.cps, remote.cps)
    if (mayPull && missingHere.length + cps.missingHere.length > 0) await pull(peer, sensor, missingHere, cps.missingHere)
    if (missingThere.length + cps.missingThere.length > 0) await push(peer, sensor, missingThere, cps.missingThere)
    counts.bucketsRepaired++
  }

  /** [PER-31] Compares one sensor with one other replica over this round's windows. */
  async function repairPair (peer: VerifiedPeer, sensor: string, held: boolean, mayPull: boolean, nowMs: number): Promise<void> {
    counts.pairsCompared++
    const cursorKey = `${sensor}\u0000${peer.peerId}`
    const oldest = await oldestBucket(sensor, held, nowMs)
    const { windows, nextCursor } = repairWindows(nowMs, oldest, cursors.get(cursorKey), cfg.recentBuckets, cfg.olderSliceBuckets)
    if (nextCursor === undefined) cursors.delete(cursorKey); else cursors.set(cursorKey, nextCursor)
    for (const [from, to] of windows) {
      for (let lo = from; lo <= to; lo += MAX_DIGEST_BUCKETS) {
        const hi = Math.min(to, lo + MAX_DIGEST_BUCKETS - 1)
        const [mine, theirs] = await Promise.all([digests(sensor, lo, hi), send(peer.peerId, { op: 'digest', sensor, fromBucket: lo, toBucket: hi })])
        for (const bucket of differingBuckets(mine, theirs.buckets)) await repairOneBucket(peer, sensor, bucket, mayPull)
      }
    }
  }

  /** The sensor's replica set ([PER-3]): the cached one while the persistence peers are unchanged, else a DHT look-up. */
  async function replicaSet (sensor: string): Promise<VerifiedPeer[]> {
    const verified = persistencePeers()
    const current = verified.map(p => p.peerId).sort().join(',')
    const cached = replicaSets.get(sensor)
    if (cached !== undefined && cached.membership === current && now() - cached.at < cfg.replicaSetTtlMs) {
      // the peers as verified now (a renewed certificate is the new one); this peer as the look-up gave it
      const byId = new Map(verified.map(p => [p.peerId, p]))
      const peers = cached.peers.map(id => byId.get(id) ?? (id === overlay.peerId ? selfOf.get(sensor) : undefined))
      if (peers.every(p => p !== undefined)) return peers
    }
    const replicas = await overlay.findPeersByRole('persistence', recordKey(NAMESPACES.sensor, sensor), cfg.replicas)
    // only a complete answer is kept: R peers, or every persistence peer there is (this one included)
    if (replicas.length >= Math.min(cfg.replicas, verified.length + 1)) {
      replicaSets.set(sensor, { peers: replicas.map(p => p.peerId), membership: current, at: now() })
      const self = replicas.find(p => p.peerId === overlay.peerId)
      if (self !== undefined) selfOf.set(sensor, self)
    } else {
      replicaSets.delete(sensor)
    }
    return replicas
  }
  async function repairSensor (sensor: string, held: boolean, nowMs: number): Promise<void> {
    const replicas = await replicaSet(sensor)
    const self = overlay.peerId
    const member = replicas.some(p => p.peerId === self)
    // [PER-30] a sensor learned from others is repaired only by its replicas; one held here but no
    // longer among its R closest is still pushed to the replicas that lack it
    if (!member && !held) return
    counts.sensorsCompared++
    for (const peer of replicas) {
      if (peer.peerId === self) continue
      try {
        await repairPair(peer, sensor, held, member, nowMs)
      } catch (err) {
        if (err instanceof BudgetSpent) throw err
        failed(err, { step: 'pair', peer: peer.peerId, sensor })
      }
    }
  }

  async function round (): Promise<void> {
    const started = performance.now()
    const nowMs = now()
    budget = cfg.maxBucketsPerRound
    try {
      const { held, all } = await listSensors()
      for (const sensor of thisRound(all)) {
        if (stopped) break
        try {
          await repairSensor(sensor, held.has(sensor), nowMs)
        } catch (err) {
          if (err instanceof BudgetSpent) break
          failed(err, { step: 'sensor', sensor })
        }
        // yield between sensors: requests being served go first
        await new Promise(resolve => setImmediate(resolve))
      }
    } finally {
      counts.rounds++
      lastRoundMs = Math.round(performance.now() - started)
      lastRoundAt = Date.now()
    }
  }

  async function runRound (): Promise<void> {
    while (current !== undefined) await current
    current = round().catch(err => { failed(err, { step: 'round' }) }).finally(() => {
      current = undefined
      schedule(cfg.intervalMs)
    })
    await current
  }

  return {
    start () {
      if (running) return
      running = true
      stopped = false
      overlay.addEventListener('peer:verified', onVerified)
      membership = persistencePeers().map(p => p.peerId).sort().join(',')
      membershipTimer = setInterval(checkMembership, cfg.membershipCheckMs)
      membershipTimer.unref?.()
      // [PER-30] the first round soon after start (a restarted replica catches up); each round schedules the next
      schedule(cfg.settleMs)
    },
    async stop () {
      running = false
      stopped = true
      overlay.removeEventListener('peer:verified', onVerified)
      if (timer !== undefined) clearTimeout(timer)
      if (membershipTimer !== undefined) clearInterval(membershipTimer)
      timer = undefined
      await current
    },
    runRound,
    status: () => ({ ...counts, errorCodes: { ...errorCodes }, lastRoundMs, lastRoundAt, running: current !== undefined })
  }
}
