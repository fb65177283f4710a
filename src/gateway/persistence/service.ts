/**
 * The persistence service (`--services persistence`): a replica of the sensors whose key it is
 * among the R nearest persistence peers of ([PER-3]). It answers the persistence protocol
 * ([PER-2]) over the overlay, verifies everything it is asked to store, and keeps it in its
 * storage engine ([PER-20]).
 */
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { createLogger, type Logger } from '../../platform/logger.ts'
import { createDigestCache } from './digest-cache.ts'
import { createHandler } from './handlers.ts'
import { PERSISTENCE_PROTOCOL, request, serve } from './protocol.ts'
import { createRepair, type Repair, type RepairInit } from './repair.ts'
import { createRetention, createSensorRecords, retentionOf, type Retention } from './retention.ts'
import { StoreVerifier } from './verify.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { CertificateTrust, OverlayNode } from '../../overlay/index.ts'
import type { StorageEngine } from './engine/types.ts'
import type { PersistenceRequest, PersistenceResponse, RangeRequest, RangeResponse, StoreRequest, StoreResponse } from './protocol.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'

export interface PersistenceServiceComponents {
  overlay: Pick<OverlayNode, 'handle' | 'unhandle' | 'get' | 'currentRevocationList'
  // repair ([PER-30])
  | 'peerId' | 'findPeersByRole' | 'verifiedPeers' | 'dialProtocol' | 'addEventListener' | 'removeEventListener'>
  suite: CryptoSuite
  trust: CertificateTrust
  /** The storage engine, not yet opened. */
  engine: StorageEngine
  logger?: Logger
}

export interface PersistenceServiceInit {
  /** Storage limit of the engine in bytes; past it `store` is GM_ERR_PERSISTENCE_FULL ([PER-2]). Undefined: none. */
  maxBytes?: number
  // repair: anti-entropy ([PER-30]) and retention sweeps ([PER-41])
  repair?: RepairInit
  /** A retention sweep every this often (1 h). */
  retentionSweepIntervalMs?: number
  /** The clock of retention and repair (tests). */
  now?: () => number
}

export interface PersistenceService {
  start: () => Promise<void>
  stop: () => Promise<void>
  status: () => Record<string, unknown>
  /** A store asked in-process (this gateway's own collector, when it is a replica): as over the wire. */
  store: (request: StoreRequest, peer: VerifiedPeer) => Promise<StoreResponse>
  /** A range asked in-process (this gateway's own Data Access, when it is a replica): as over the wire. */
  range: (request: RangeRequest, peer: VerifiedPeer) => Promise<RangeResponse>
  /** The engine as the service uses it: `components.engine` behind the digest cache (digest-cache.ts); write through this one only. */
  readonly engine: StorageEngine
  readonly repair: Repair
  readonly retention: Retention
}

export function createPersistenceService (components: PersistenceServiceComponents, init: PersistenceServiceInit = {}): PersistenceService {
  const { overlay, suite } = components
  // [PER-31] repair's digests, incremental: every call to the engine goes through the cache's
  // wrapper (which drops what each write may change), so nothing below sees components.engine
  const { engine, digests } = createDigestCache({ engine: components.engine, suite })
  const log = components.logger ?? createLogger('gatemesh:persistence')
  // repair: sensor records (for the store checks and retention), retention and the storage limit
  const records = createSensorRecords({ overlay, suite, now: init.now })
  const retention = createRetention({
    engine,
    retention: async id => { const info = await records.get(id); return info === undefined ? undefined : retentionOf(info) },
    now: init.now,
    logger: log
  }, { sweepIntervalMs: init.retentionSweepIntervalMs, maxBytes: init.maxBytes })
  const verifier = new StoreVerifier({
    trust: components.trust,
    revocations: () => overlay.currentRevocationList(),
    sensorExists: async id => (await records.get(id)) !== undefined
  })
  let stored = 0
  let requests = 0
  let refusals = 0
  /** Refusals by code (codes of the error table only: a bounded set). */
  const refusedByCode: Record<string, number> = {}
  let running = false
  const handler = createHandler({ suite, engine, digests, verifier, assertRoom: retention.assertRoom, onStored: n => { stored += n } })
  const answer = async (request: PersistenceRequest, peer: VerifiedPeer, signal: AbortSignal): Promise<PersistenceResponse> => {
    if (!running) throw new GatemeshError('GM_ERR_PERSISTENCE_UNREACHABLE', 'The persistence service is not running.')
    requests++
    try {
      return await handler(request, peer, signal)
    } catch (err) {
      refusals++
      if (!isGatemeshError(err)) throw err
      refusedByCode[err.code] = (refusedByCode[err.code] ?? 0) + 1
      log.debug({ op: request.op, peer: peer.peerId, code: err.code }, 'persistence request refused')
      throw err
    }
  }
  const handle = serve(answer, { onError: err => { log.warn({ err }, 'persistence request failed') } })
  const repair = createRepair({
    overlay,
    suite,
    engine,
    send: async (peerId, message) => await request(overlay, peerId, message),
    // [PER-33] a pull is stored through the store handler, exactly as a push
    storeLocal: async (message, from) => await handler(message, from, AbortSignal.timeout(60_000)) as StoreResponse,
    full: retention.full,
    digests,
    now: init.now,
    logger: log
  }, init.repair)

  return {
    engine,
    store: async (request, peer) => await answer(request, peer, AbortSignal.timeout(10_000)) as StoreResponse,
    range: async (request, peer) => await answer(request, peer, AbortSignal.timeout(10_000)) as RangeResponse,
    async start () {
      await engine.open()
      await overlay.handle(PERSISTENCE_PROTOCOL, handle, { maxInboundStreams: 256, runOnLimitedConnection: false })
      running = true
      retention.start()
      repair.start()
      log.info({ engine: engine.name }, 'persistence service started')
    },
    async stop () {
      if (!running) return
      running = false
      await repair.stop()
      await retention.stop()
      await overlay.unhandle(PERSISTENCE_PROTOCOL).catch(() => {})
      await engine.close()
    },
    status: () => ({ engine: engine.name, stored, requests, refusals, refusedByCode: { ...refusedByCode }, ...retention.status(), repair: repair.status() }),
    repair,
    retention
  }
}
