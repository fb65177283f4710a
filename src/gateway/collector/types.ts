/**
 * The collector's collaborators and its configuration. The composition root supplies a
 * SensorDirectory (backed by the DHT) and the reading sinks (the latest publisher; persistence and
 * stream), whose contract lives in ../pipeline.
 */
import type { CryptoSuite, SensorInfo } from '../../core/index.ts'
import type { DeliveryInit, ReadingSink } from '../pipeline/index.ts'
import type { Logger } from '../../platform/logger.ts'

/** Resolves a sensor id to its verified sensor record. */
export interface SensorDirectory {
  /** The verified record, or undefined when no sensor has this id. Throws when the answer cannot be had. */
  get: (sensorId: string) => Promise<SensorInfo | undefined>
  /**
   * The verified record when the directory holds a fresh one, without waiting: what get() would
   * answer now without a fetch. Undefined otherwise (no record held, or one that get() would
   * fetch again first); then ask get(). Optional: the collector falls back to get().
   */
  cached?: (sensorId: string) => SensorInfo | undefined
  /**
   * [COL-10] The verified record held, at once, fresh or past its TTL (stale-while-revalidate, up
   * to maxStaleMs): a stale one starts one background refresh, which get() then waits for.
   * Undefined when no record is held, or one too old to serve; then ask get(). Optional: without
   * it every record is fresh (what get() answers).
   */
  held?: (sensorId: string) => SensorInfo | undefined
}

export type IngestProtocol = 'http' | 'mqtt'

/**
 * What the collector counts for the gateway's metrics (src/gateway/metrics.ts). Called on the
 * reading path: an implementation must not allocate per call.
 */
export interface IngestMetrics {
  /** Readings acknowledged (HTTP 202, MQTT PUBACK or a QoS 0 publish taken). */
  accepted: (protocol: IngestProtocol, count: number) => void
  /** A request or publish refused, by its GM_ERR_ code. */
  refused: (protocol: IngestProtocol, code: string) => void
  /** Receipt to acknowledgement, in seconds. */
  acknowledged: (protocol: IngestProtocol, seconds: number) => void
  /** Acceptance to sealed, in seconds. */
  sealed: (seconds: number) => void
}

/** Counts nothing: a collector built without metrics. */
export const NO_INGEST_METRICS: IngestMetrics = { accepted () {}, refused () {}, acknowledged () {}, sealed () {} }

export interface CollectorComponents {
  suite: CryptoSuite
  /**
   * The 32-byte seed of the gateway's Ed25519 key (its libp2p key): signs every envelope, in the
   * sealing threads ([COL-23]), and the journal's keys are derived from it ([COL-24]).
   */
  signingSeed: Uint8Array
  sensors: SensorDirectory
  /**
   * [COL-14] The services that take every sealed reading (the latest publisher, persistence,
   * stream); a reading's journal row is released once all of them have settled it.
   */
  sinks: readonly ReadingSink[]
  logger?: Logger
  /** Counters for the gateway's /metrics; none when absent. */
  metrics?: IngestMetrics
}

export interface RateLimit {
  /** Readings per second a sensor may sustain. */
  perSecond: number
  /** Readings a sensor may send at once after a quiet period. */
  burst: number
}

export interface CollectorInit {
  /** Directory for the journal (collector.db); the gateway data dir. */
  dataDir: string
  /** HTTP listener; omit `http` to disable HTTP ingest. Port 0 picks a free port. */
  http?: { host?: string, port?: number }
  /** MQTT over TCP listener; omit to disable MQTT ingest. */
  mqtt?: { host?: string, port?: number }
  /** Per-sensor token bucket ([COL-9]). */
  rateLimit?: RateLimit
  /** Readings per HTTP batch ([COL-3]). */
  maxBatch?: number
  /** Journal group commit: at most this many milliseconds and rows per transaction ([COL-12]). */
  commitIntervalMs?: number
  commitMaxRows?: number
  /** 'full' makes every commit survive power loss; 'normal' survives a crash of the process. */
  journalSync?: 'normal' | 'full'
  /** Threads that seal readings ([COL-23]); 0 seals on the event loop. Default: DEFAULT_SEAL_WORKERS. */
  sealWorkers?: number
  /** Readings journaled and not yet sealed beyond which acknowledgements wait ([COL-9]). */
  maxUnsealed?: number
  /** Readings in the pipeline (sealing or awaiting commit) before new ones are refused. */
  maxPending?: number
  /** How sealed readings reach the sinks: time-out, retries, and the readings held awaiting them ([COL-14]). */
  delivery?: DeliveryInit
  now?: () => number
}
