/** The latest publisher: each sensor's newest sealed reading, as a gateway-signed DHT record. */
export { createLatestPublisher, createLatestRecord, latestKey, LATEST_INTERVAL_MS, LATEST_PUTS_PER_SECOND, LATEST_NAMESPACE, LATEST_RECORD_TYPE } from './publisher.ts'
export type { LatestPublisher, LatestPublisherComponents, LatestPublisherInit } from './publisher.ts'
