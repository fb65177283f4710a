/**
 * The collector's persistence sink ([PER-4], [PER-5]): a ReadingSink that retries by itself. It
 * settles a batch once its envelopes are committed to the outbox (outbox.ts); from there it
 * pushes them, with the checkpoints it signs ([PER-11], chain.ts), to each sensor's R replicas
 * ([PER-3]) in pushes of at most 4 096 envelopes, at most 2 in flight per replica, and drops an
 * item once W replicas confirmed it (stored or duplicate). A replica that fails is retried with
 * back-off and the replica sets of what it held are resolved again.
 */
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { createLogger, type Logger } from '../../platform/logger.ts'
import { ChainSigner } from './chain.ts'
import { MAX_STORE_CHECKPOINTS, MAX_STORE_ENVELOPES, type StoreRequest, type StoreResponse } from './protocol.ts'
import { Outbox, type OutboxItem } from './outbox.ts'
import type { CryptoSuite, SigningKey } from '../../core/index.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import type { ReadingSink, SealedReading } from '../pipeline/index.ts'

export interface PersistenceSinkComponents {
  suite: CryptoSuite
  /** The gateway's key: it signs the checkpoints; the envelopes' `gw`. */
  signer: SigningKey
  /** The gateway's certificate (DER), sent with every push. */
  certificate: () => Uint8Array
  /** [PER-3] The R persistence peers nearest the sensor's record key (`overlay.findPeersByRole`). */
  replicasOf: (sensorId: string, count: number) => Promise<VerifiedPeer[]>
  /**
   * The verified peers, connected now, that run persistence (peer ids). A sensor's replica set is
   * reused while these stay the same ([PER-3]); without it, only `replicaCacheMs` bounds it.
   */
  persistencePeers?: () => string[]
  /** Sends a store request to a replica ([PER-2] `request`). */
  send: (peer: VerifiedPeer, request: StoreRequest) => Promise<StoreResponse>
  logger?: Logger
}

export interface PersistenceSinkInit {
  dataDir: string
  /** R */
  replicas?: number
  /** W */
  writeQuorum?: number
  outboxMaxBytes?: number
  graceMs?: number
  signIntervalMs?: number
  /** How long a sensor's replica set is reused at most ([PER-3]). */
  replicaCacheMs?: number
  /** How soon a sensor whose set had fewer than W peers is looked up again, membership unchanged. */
  shortRetryMs?: number
  /** How often the persistence peers' membership is looked at. */
  membershipCheckMs?: number
  retryMinMs?: number
  retryMaxMs?: number
  now?: () => number
}

export const SINK_DEFAULTS = {
  replicas: 3,
  writeQuorum: 2,
  outboxMaxBytes: 1024 * 1024 * 1024,
  graceMs: 5000,
  signIntervalMs: 1000,
  replicaCacheMs: 600_000,
  shortRetryMs: 60_000,
  membershipCheckMs: 5000,
  retryMinMs: 500,
  retryMaxMs: 30_000
} as const

/** At most this many pushes in flight to one replica ([PER-4]). */
const MAX_IN_FLIGHT = 2
/** [PER-5] The replication lag and push figures of the status are over the last this many. */
export const LAG_SAMPLES = 4096

export interface PersistenceSink extends ReadingSink {
  start: () => Promise<void>
  stop: () => Promise<void>
  flush: () => Promise<void>
  status: () => Record<string, unknown>
}

interface Pending {
  item: OutboxItem
  /** Replicas that confirmed it. */
  acks: Set<string>
  done: boolean
}

interface ReplicaState {
  peer: VerifiedPeer
  queue: Pending[]
  inFlight: number
  failures: number
  retryAt: number
  timer?: ReturnType<typeof setTimeout>
  ok: number
  failed: number
  rejected: number
}

interface ReplicaSet {
  peers: VerifiedPeer[]
  at: number
  /** The persistence peers' membership when it was looked up. */
  membership: string
  resolving?: Promise<void>
}

export function createPersistenceSink (components: PersistenceSinkComponents, init: PersistenceSinkInit): PersistenceSink {
  const cfg = { ...SINK_DEFAULTS, ...Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined)) } as Required<PersistenceSinkInit>
  const now = init.now ?? Date.now
  const log = components.logger ?? createLogger('gatemesh:persistence-sink')
  const outbox = new Outbox(cfg.dataDir)
  const chain = new ChainSigner({ suite: components.suite, signer: components.signer, outbox }, { graceMs: cfg.graceMs })
  const bySensor = new Map<string, Set<Pending>>()
  const replicas = new Map<string, ReplicaState>()
  const sets = new Map<string, ReplicaSet>()
  const waiting: Array<{ readings: readonly SealedReading[], resolve: () => void, reject: (err: unknown) => void }> = []
  const lags: number[] = []
  let lagAt = 0
  /** [PER-5] Each answered push's round trip (ms) and size (items), the last LAG_SAMPLES. */
  const pushMs: number[] = []
  const pushItems: number[] = []
  let pushAt = 0
  let bytes = 0
  let items = 0
  let checkpoints = 0
  let confirmed = 0
  let running = false
  let signTimer: ReturnType<typeof setInterval> | undefined
  let membershipTimer: ReturnType<typeof setInterval> | undefined
  const membershipNow = (): string => components.persistencePeers?.().sort().join(',') ?? ''
  /** [PER-3] The persistence peers' membership as last looked at. */
  let membership = ''
  let warnedHigh = false
  let warnedFew = false
  const inFlight = new Set<Promise<void>>()

  function track (item: OutboxItem): void {
    const pending: Pending = { item, acks: new Set(), done: false }
    let set = bySensor.get(item.sensor)
    if (set === undefined) { set = new Set(); bySensor.set(item.sensor, set) }
    set.add(pending)
    bytes += item.size
    items++
    if (item.kind === 'cp') checkpoints++
    // to the replicas known; a lookup (when stale) gives it to any new member too
    const known = sets.get(item.sensor)
    if (known !== undefined) for (const peer of known.peers) enqueue(peer, [pending])
    if (known === undefined || isStale(known)) resolve(item.sensor)
  }

  function isStale (set: ReplicaSet): boolean {
    return set.membership !== membership || now() - set.at > cfg.replicaCacheMs
  }

  /**
   * [PER-3] The persistence peers changed (one joined, one left): every set is looked up again,
   * at once for the sensors with readings waiting, when next used for the others.
   */
  function checkMembership (): void {
    const current = membershipNow()
    if (current === membership) return
    membership = current
    for (const [sensor, pending] of bySensor) if (pending.size > 0) resolve(sensor)
  }

  /**
   * [PER-3] Resolves a sensor's replica set (reused while the persistence peers stay the same, 10
   * min at most); new members get what the sensor has pending.
   */
  function resolve (sensor: string): void {
    const known = sets.get(sensor)
    if (known?.resolving !== undefined) return
    const entry: ReplicaSet = known ?? { peers: [], at: -Infinity, membership: '' }
    sets.set(sensor, entry)
    entry.resolving = (async () => {
      const lookedUpWith = membership
      let peers: VerifiedPeer[] = []
      try {
        peers = await components.replicasOf(sensor, cfg.replicas)
      } catch (err) {
        log.debug({ err, sensor }, 'replica lookup failed')
      }
      entry.resolving = undefined
      if (!running) return
      const before = new Set(entry.peers.map(p => p.peerId))
      entry.peers = peers
      entry.at = now()
      entry.membership = lookedUpWith
      if (peers.length < cfg.writeQuorum) {
        if (!warnedFew) log.warn({ found: peers.length, writeQuorum: cfg.writeQuorum }, 'fewer persistence peers than the write quorum: readings wait in the outbox')
        warnedFew = true
        // a peer that joins is noticed by checkMembership; this finds one not connected yet
        setTimeout(() => { if (running && (bySensor.get(sensor)?.size ?? 0) > 0) resolve(sensor) }, Math.min(cfg.shortRetryMs, cfg.replicaCacheMs)).unref()
      } else if (warnedFew) {
        warnedFew = false
        log.info({ found: peers.length }, 'persistence peers found: the outbox drains')
      }
      const pending = [...(bySensor.get(sensor) ?? [])]
      for (const peer of peers) {
        const state = replicas.get(peer.peerId)
        // a new member, or one whose queue lost them: given what it has not confirmed
        if (!before.has(peer.peerId) || state === undefined) enqueue(peer, pending.filter(p => !p.acks.has(peer.peerId)))
      }
    })()
  }

  function replicaState (peer: VerifiedPeer): ReplicaState {
    let state = replicas.get(peer.peerId)
    if (state === undefined) {
      state = { peer, queue: [], inFlight: 0, failures: 0, retryAt: 0, ok: 0, failed: 0, rejected: 0 }
      replicas.set(peer.peerId, state)
    }
    state.peer = peer
    return state
  }

  function enqueue (peer: VerifiedPeer, pending: Pending[]): void {
    if (pending.length === 0) return
    const state = replicaState(peer)
    for (const p of pending) state.queue.push(p)
    pump(state)
  }

  function pump (state: ReplicaState): void {
    while (running && state.inFlight < MAX_IN_FLIGHT && state.queue.length > 0) {
      const t = now()
      if (t < state.retryAt) {
        if (state.timer === undefined) {
          state.timer = setTimeout(() => { state.timer = undefined; pump(state) }, state.retryAt - t)
          state.timer.unref()
        }
        return
      }
      const envs: Pending[] = []
      const cps: Pending[] = []
      let taken = 0
      for (; taken < state.queue.length && envs.length < MAX_STORE_ENVELOPES && cps.length < MAX_STORE_CHECKPOINTS; taken++) {
        const p = state.queue[taken] as Pending
        if (p.done || p.acks.has(state.peer.peerId)) continue
        ;(p.item.kind === 'env' ? envs : cps).push(p)
      }
      state.queue.splice(0, taken)
      if (envs.length + cps.length === 0) continue
      push(state, envs, cps)
    }
  }

  function push (state: ReplicaState, envs: Pending[], cps: Pending[]): void {
    state.inFlight++
    const peerId = state.peer.peerId
    const task = (async () => {
      const load = (ps: Pending[]): Pending[] => ps.filter(p => (p.item.bytes ??= outbox.bytes(p.item)) !== undefined)
      const sendEnvs = load(envs)
      const sendCps = load(cps)
      const sentAt = now()
      try {
        const answer = await components.send(state.peer, { op: 'store', certs: [components.certificate()], envs: sendEnvs.map(p => p.item.bytes as Uint8Array), cps: sendCps.map(p => p.item.bytes as Uint8Array) })
        pushMs[pushAt % LAG_SAMPLES] = now() - sentAt
        pushItems[pushAt++ % LAG_SAMPLES] = sendEnvs.length + sendCps.length
        const refused = new Set(answer.rejected.map(r => `${r.kind}:${r.i}`))
        const retry: Pending[] = []
        sendEnvs.forEach((p, i) => { if (refused.has(`env:${i}`)) retry.push(p); else acknowledge(p, peerId) })
        sendCps.forEach((p, i) => { if (refused.has(`cp:${i}`)) retry.push(p); else acknowledge(p, peerId) })
        state.ok++
        state.failures = 0
        if (retry.length > 0) {
          state.rejected += retry.length
          if (state.rejected === retry.length || state.rejected % 1000 < retry.length) log.warn({ replica: peerId, codes: [...new Set(answer.rejected.map(r => r.code))], count: retry.length }, 'replica refused items; retrying them later')
          later(state, retry)
        }
        removeDone()
      } catch (err) {
        state.failed++
        state.failures++
        const backoff = Math.min(cfg.retryMaxMs, cfg.retryMinMs * 2 ** (state.failures - 1))
        state.retryAt = now() + backoff / 2 + Math.random() * backoff / 2
        if (state.failures === 1) log.warn({ replica: peerId, code: isGatemeshError(err) ? err.code : undefined }, 'push to replica failed; retrying with back-off')
        state.queue.unshift(...envs, ...cps)
        // [PER-3] a replica still among the persistence peers stays in its sets: a time-out under
        // load is not news of a new member, and looking up every sensor of a failed push again
        // (up to 4 096 DHT queries) fed the overload that made pushes time out. The membership
        // check catches one that left; without it, the sets of what it held are looked up again.
        if (components.persistencePeers?.().includes(peerId) === true) return
        for (const sensor of new Set([...envs, ...cps].map(p => p.item.sensor))) {
          const set = sets.get(sensor)
          if (set !== undefined) set.at = -Infinity
          resolve(sensor)
        }
      } finally {
        state.inFlight--
        pump(state)
      }
    })()
    inFlight.add(task)
    void task.finally(() => inFlight.delete(task))
  }

  /** Refused items go back to the replica's queue after its back-off. */
  function later (state: ReplicaState, retry: Pending[]): void {
    const delay = Math.min(cfg.retryMaxMs, cfg.retryMinMs * 4)
    setTimeout(() => { if (running) { state.queue.push(...retry); pump(state) } }, delay).unref()
  }

  function acknowledge (p: Pending, peerId: string): void {
    if (p.done) return
    p.acks.add(peerId)
    if (p.acks.size < cfg.writeQuorum) return
    p.done = true
    // [PER-5] replication lag: outbox write to the W-th confirmation
    lags[lagAt++ % LAG_SAMPLES] = now() - p.item.writtenAt
    toRemove.push(p)
  }

  const toRemove: Pending[] = []
  function removeDone (): void {
    if (toRemove.length === 0) return
    const done = toRemove.splice(0)
    try {
      outbox.remove(done.map(p => p.item))
    } catch (err) {
      // they stay on disk and are pushed again after a restart
      log.warn({ code: isGatemeshError(err) ? err.code : undefined }, 'outbox delete failed')
    }
    for (const p of done) {
      bySensor.get(p.item.sensor)?.delete(p)
      bytes -= p.item.size
      items--
      if (p.item.kind === 'cp') checkpoints--
      confirmed++
      p.item.bytes = undefined
    }
    if (bytes < cfg.outboxMaxBytes * 0.8) warnedHigh = false
    admitWaiting()
  }

  function write (readings: readonly SealedReading[]): void {
    const written = outbox.write(readings.map(r => ({ sensor: r.sensorId, seq: r.seq, envelope: r.envelope })), now())
    for (const item of written) {
      chain.add(item.sensor, item.seq as number)
      track(item)
    }
    if (!warnedHigh && bytes >= cfg.outboxMaxBytes * 0.8) {
      warnedHigh = true
      log.warn({ bytes, maxBytes: cfg.outboxMaxBytes, readings: items }, 'persistence outbox is past 80 % of its bound')
    }
  }

  function batchBytes (readings: readonly SealedReading[]): number {
    let n = 0
    for (const r of readings) n += r.envelope.length
    return n
  }

  /** [PER-5] Batches held back while the outbox was full, written in order once there is room. */
  function admitWaiting (): void {
    while (waiting.length > 0) {
      const next = waiting[0] as typeof waiting[number]
      if (bytes > 0 && bytes + batchBytes(next.readings) > cfg.outboxMaxBytes) return
      waiting.shift()
      try { write(next.readings); next.resolve() } catch (err) { next.reject(err) }
    }
  }

  async function signTick (all = false): Promise<void> {
    try {
      for (const item of await chain.sign(now(), all)) track(item)
    } catch (err) {
      log.warn({ code: isGatemeshError(err) ? err.code : undefined, err }, 'checkpoint signing failed; retrying at the next tick')
    }
  }

  function percentile (q: number, of = lags, count = lagAt): number | null {
    const samples = of.slice(0, Math.min(count, LAG_SAMPLES)).sort((a, b) => a - b)
    if (samples.length === 0) return null
    return samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] as number
  }

  return {
    name: 'persistence',
    retriesItself: true,
    async start () {
      const contents = outbox.open()
      running = true
      membership = membershipNow()
      membershipTimer = setInterval(checkMembership, cfg.membershipCheckMs)
      membershipTimer.unref()
      for (const [sensor, seqs] of contents.unsigned) for (const seq of seqs) chain.add(sensor, seq)
      for (const item of contents.items) track(item)
      if (contents.items.length > 0) log.info({ items: contents.items.length, bytes }, 'persistence outbox reopened; pushing what replicas have not confirmed')
      signTimer = setInterval(() => { void signTick() }, cfg.signIntervalMs)
      signTimer.unref()
    },
    // [PER-4] settled once the batch is committed to the outbox
    async deliver (readings) {
      if (!running) throw new GatemeshError('GM_ERR_SINK_STOPPED')
      if (waiting.length > 0 || (bytes > 0 && bytes + batchBytes(readings) > cfg.outboxMaxBytes)) {
        if (waiting.length === 0) log.warn({ code: 'GM_ERR_PERSISTENCE_OUTBOX_FULL', bytes, maxBytes: cfg.outboxMaxBytes }, 'persistence outbox full: new readings stay journaled until replicas confirm what it holds')
        await new Promise<void>((resolve, reject) => { waiting.push({ readings, resolve, reject }) })
        return
      }
      write(readings)
    },
    async flush () {
      for (const state of replicas.values()) { state.retryAt = 0; pump(state) }
      await Promise.allSettled([...inFlight])
    },
    async stop () {
      if (!running) return
      clearInterval(signTimer)
      clearInterval(membershipTimer)
      // [PER-11] at stop, every bucket is signed
      await signTick(true)
      let expired: ReturnType<typeof setTimeout> | undefined
      await Promise.race([Promise.allSettled([...inFlight]), new Promise<void>(resolve => { expired = setTimeout(resolve, 2000) })])
      clearTimeout(expired)
      running = false
      for (const state of replicas.values()) clearTimeout(state.timer)
      const err = new GatemeshError('GM_ERR_SINK_STOPPED')
      for (const w of waiting.splice(0)) w.reject(err)
      removeDone()
      outbox.close()
    },
    status: () => ({
      outbox: { items, readings: items - checkpoints, checkpoints, bytes, maxBytes: cfg.outboxMaxBytes, waitingBatches: waiting.length },
      unsignedSeqs: chain.pending,
      confirmed,
      replicas: Object.fromEntries([...replicas].map(([id, s]) => [id, { ok: s.ok, failed: s.failed, rejected: s.rejected, inFlight: s.inFlight, queued: s.queue.length }])),
      lagMs: { p50: percentile(0.5), p99: percentile(0.99) },
      // the push round trip and size: how much of the lag is the replicas' answer
      pushes: { count: pushAt, items: { p50: percentile(0.5, pushItems, pushAt), p99: percentile(0.99, pushItems, pushAt) }, ms: { p50: percentile(0.5, pushMs, pushAt), p99: percentile(0.99, pushMs, pushAt) } }
    })
  }
}
