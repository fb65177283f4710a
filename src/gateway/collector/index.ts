/**
 * The Data Collector service: sensors send readings over HTTP and MQTT; each is sealed for the
 * sensor's access list, signed, journaled, and delivered to the reading sinks (../pipeline).
 * docs/PROTOCOL.md holds the clauses [COL-n].
 */
export { createCollector, DEFAULT_MAX_BATCH, DEFAULT_RATE_LIMIT, HTTP_BODY_LIMIT, type Collector } from './collector.ts'
export { createCachedSensorDirectory, type CachedSensorDirectory, type CachedSensorDirectoryComponents, type CachedSensorDirectoryInit } from './directory.ts'
export { readingTopic } from './mqtt.ts'
export { PacketSizeGuard } from './packet-guard.ts'
export { checkpointInThread, startCheckpointer } from './checkpointer.ts'
export { COLLECTOR_ERRORS } from './errors.ts'
export type { CollectorComponents, CollectorInit, IngestMetrics, IngestProtocol, RateLimit, SensorDirectory } from './types.ts'
export { NO_INGEST_METRICS } from './types.ts'
