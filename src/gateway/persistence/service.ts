/**
 * The persistence service (`--services persistence`): a replica of the sensors whose key it is
 * among the R nearest persistence peers of ([PER-3]). It answers the persistence protocol
 * ([PER-2]) over the overlay, verifies everything it is asked to store, and keeps it in its
 * storage engine ([PER-20]).
 */
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { NAMESPACES, recordKey } from '../../overlay/index.ts'
import { createLogger, type Logger } from '../../platform/logger.ts'
import { createHandler } from './handlers.ts'
import { PERSISTENCE_PROTOCOL, serve } from './protocol.ts'
import { StoreVerifier } from './verify.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { CertificateTrust, OverlayNode } from '../../overlay/index.ts'
import type { StorageEngine } from './engine/types.ts'
import type { PersistenceRequest, PersistenceResponse, StoreRequest, StoreResponse } from './protocol.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'

export interface PersistenceServiceComponents {
  overlay: Pick<OverlayNode, 'handle' | 'unhandle' | 'get' | 'currentRevocationList'>
  suite: CryptoSuite
  trust: CertificateTrust
  /** The storage engine, not yet opened. */
  engine: StorageEngine
  logger?: Logger
}

export interface PersistenceServiceInit {
  /** Storage limit of the engine in bytes; past it `store` is GM_ERR_PERSISTENCE_FULL ([PER-2]). Undefined: none. */
  maxBytes?: number
}

export interface PersistenceService {
  start: () => Promise<void>
  stop: () => Promise<void>
  status: () => Record<string, unknown>
  /** A store asked in-process (this gateway's own collector, when it is a replica): as over the wire. */
  store: (request: StoreRequest, peer: VerifiedPeer) => Promise<StoreResponse>
  readonly engine: StorageEngine
}

/** The engine's size is asked at most this often. */
const SIZE_REFRESH_MS = 1000

export function createPersistenceService (components: PersistenceServiceComponents, init: PersistenceServiceInit = {}): PersistenceService {
  const { overlay, suite, engine } = components
  const log = components.logger ?? createLogger('gatemesh:persistence')
  const verifier = new StoreVerifier({
    trust: components.trust,
    revocations: () => overlay.currentRevocationList(),
    sensorExists: async id => {
      try {
        await overlay.get(recordKey(NAMESPACES.sensor, id))
        return true
      } catch (err) {
        if (isGatemeshError(err, 'GM_ERR_RECORD_NOT_FOUND')) return false
        throw err
      }
    }
  })
  let size = { bytes: 0, at: -Infinity }
  let stored = 0
  let requests = 0
  let refusals = 0
  let running = false
  const assertRoom = async (): Promise<void> => {
    if (init.maxBytes === undefined) return
    if (performance.now() - size.at > SIZE_REFRESH_MS) size = { bytes: await engine.sizeBytes(), at: performance.now() }
    if (size.bytes >= init.maxBytes) throw new GatemeshError('GM_ERR_PERSISTENCE_FULL')
  }
  const handler = createHandler({ suite, engine, verifier, assertRoom, onStored: n => { stored += n } })
  const answer = async (request: PersistenceRequest, peer: VerifiedPeer, signal: AbortSignal): Promise<PersistenceResponse> => {
    if (!running) throw new GatemeshError('GM_ERR_PERSISTENCE_UNREACHABLE', 'The persistence service is not running.')
    requests++
    try {
      return await handler(request, peer, signal)
    } catch (err) {
      refusals++
      if (!isGatemeshError(err)) throw err
      log.debug({ op: request.op, peer: peer.peerId, code: err.code }, 'persistence request refused')
      throw err
    }
  }
  const handle = serve(answer, { onError: err => { log.warn({ err }, 'persistence request failed') } })

  return {
    engine,
    store: async (request, peer) => await answer(request, peer, AbortSignal.timeout(10_000)) as StoreResponse,
    async start () {
      await engine.open()
      await overlay.handle(PERSISTENCE_PROTOCOL, handle, { maxInboundStreams: 256, runOnLimitedConnection: false })
      running = true
      log.info({ engine: engine.name }, 'persistence service started')
    },
    async stop () {
      if (!running) return
      running = false
      await overlay.unhandle(PERSISTENCE_PROTOCOL).catch(() => {})
      await engine.close()
    },
    status: () => ({ engine: engine.name, stored, requests, refusals, sizeBytes: size.at === -Infinity ? null : size.bytes, maxBytes: init.maxBytes ?? null })
  }
}
