/**
 * Persistence: the replica service ([PER-2] protocol, store/range/... handlers, storage engines)
 * and the collector's persistence sink with its outbox ([PER-4], [PER-5], [PER-11]).
 */
export { createPersistenceService } from './service.ts'
export type { PersistenceService, PersistenceServiceComponents, PersistenceServiceInit } from './service.ts'
export { createPersistenceSink, LAG_SAMPLES, SINK_DEFAULTS } from './sink.ts'
export type { PersistenceSink, PersistenceSinkComponents, PersistenceSinkInit } from './sink.ts'
export { PERSISTENCE_PROTOCOL, request, serve, MAX_FRAME_BYTES, REQUEST_TIMEOUT_MS } from './protocol.ts'
export type { PersistenceRequest, PersistenceResponse, ResponseOf, StoreRequest, StoreResponse, RangeRequest, RangeResponse, WireKey, PersistenceDialer, PersistenceHandler } from './protocol.ts'
export { REPAIR_BUCKET, bucketHash } from './handlers.ts'
export { PERSISTENCE_ERRORS } from './errors.ts'
export type { StorageEngine } from './engine/types.ts'
