/**
 * The Data Access service: accounts, sensors and access lists, latest readings, by signed
 * request. Clauses [ACS-n] are in docs/PROTOCOL.md.
 */
export { AccessService, createAccessService, registerOpenApi } from './service.ts'
export type { AccessServiceComponents, AccessServiceInit } from './service.ts'
export { keys as accessKeys } from './dht.ts'
export type { AccessDht } from './dht.ts'
export { ACCESS_INDEX_TYPE, MAX_INDEX_SENSORS, createAccessIndex, openAccessIndex } from './access-index.ts'
export type { AccessIndex } from './access-index.ts'
export { LATEST_ENVELOPE_FIELD, LATEST_RECORD_TYPE, READ_GRANT_MAX_AGE_MS } from './sensors.ts'
export type { LatestReading, OwnedSensor, SharedSensor } from './sensors.ts'
export { ACCESS_ERRORS } from './errors.ts'
export type { AccessErrorCode } from './errors.ts'
export { HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, decodeCursor, encodeCursor } from './history.ts'
export type { HistoryAnswer, HistoryKey, HistoryQuery, HistorySource, PageBound, ReplicaPage } from './history.ts'
export { createReplicaHistorySource } from './replicas.ts'
export type { ReplicaHistoryComponents, ReplicaHistoryInit } from './replicas.ts'
