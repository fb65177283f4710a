/**
 * gatemesh's client library: sign up, log in, bind, share and revoke sensors, list them, read
 * the latest reading and history, subscribe to live readings. Browser-safe (fetch + WebCrypto); all cryptography runs here.
 */
export { Client, createClient } from './client.ts'
export type { ClientInit, NetworkInfo, SignupResult } from './client.ts'
export { CollectorVerifier, certificateFingerprint, checkCaCertificate } from './trust.ts'
export type { CertifiedCollector } from './trust.ts'
export { Session } from './session.ts'
export { HistoryReader, HISTORY_PAGE_MAX } from './history.ts'
export type { HistoryOptions, HistoryProgress, HistoryReading, HistoryStats, ReplicaMisbehaviour } from './history.ts'
export { inThreadPages } from './history-pages.ts'
export type { Opening, PageProcessor, ReadingHead, VerifiedPage } from './history-pages.ts'
export type { LatestReading, SensorSummary, SharedSensorSummary } from './session.ts'
export { isStreamUrl, readStreamMessage, readingsTopic } from './stream.ts'
export type { StreamConnect, StreamConnection, StreamReading, StreamState, StreamStateInfo, SubscribeOptions, SubscribeResult, Subscription } from './stream.ts'
export { parseGatewayUrl, remoteError } from './http.ts'
export type { FetchFunction } from './http.ts'
export { CLIENT_ERRORS } from './errors.ts'
export type { ClientErrorCode } from './errors.ts'
