/**
 * The gateway's Prometheus metrics: one Registry per gateway (src/platform/metrics.ts), served on
 * the admin port at /metrics. What the reading path counts goes through `ingestMetrics` (counted
 * without allocation); the DHT's operations through `observeOperation`; everything else is read
 * from the services' status counters when Prometheus scrapes (`collect`), so the hot paths carry
 * nothing more. Label values are bounded: protocols, fixed operations and outcomes, roles, sink
 * names, and codes of the error table. Names and meanings: docs/ARCHITECTURE.md, "Monitoring" in
 * the README, deploy/grafana-dashboard.json.
 */
import { Counter, FixedCounter, FixedHistogram, Gauge } from '../platform/metrics.ts'
import type { CounterSeries, HistogramSeries, Registry } from '../platform/metrics.ts'
import { ROLES } from '../overlay/index.ts'
import type { DhtOperation, DhtOutcome, OverlayNode, Role } from '../overlay/index.ts'
import type { Collector, IngestMetrics, IngestProtocol } from './collector/index.ts'

/** Acknowledgement latency: 0.1 ms to 1 s. */
export const ACK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]
/** Sealing lag (acceptance to sealed, ms resolution) and DHT operations: 1 ms to 30 s. */
export const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const CODE = /^GM_ERR_[A-Z0-9_]+$/
/** Distinct codes counted per protocol; past it (never, with the error table's codes) they count as `other`. */
const MAX_CODES = 200

function boundedCode (code: string, seen: Map<string, CounterSeries>): string {
  return CODE.test(code) && (seen.has(code) || seen.size < MAX_CODES) ? code : 'other'
}

/** The collector's counters for HTTP and MQTT ingest and sealing. */
export function createIngestMetrics (register: Registry): IngestMetrics {
  const accepted = new FixedCounter({ name: 'gatemesh_collector_readings_accepted_total', help: 'Readings acknowledged, by protocol.', labelNames: ['protocol'], registers: [register] })
  const refused = new FixedCounter({ name: 'gatemesh_collector_readings_refused_total', help: 'Ingest requests (HTTP) and publishes (MQTT) refused, by protocol and GM_ERR_ code.', labelNames: ['protocol', 'code'], registers: [register] })
  const ack = new FixedHistogram({ name: 'gatemesh_collector_ack_seconds', help: 'Receipt to acknowledgement (HTTP 202, MQTT PUBACK) of a request or publish, by protocol.', labelNames: ['protocol'], buckets: ACK_BUCKETS, registers: [register] })
  const sealed = new FixedHistogram({ name: 'gatemesh_collector_sealing_lag_seconds', help: 'Acceptance of a reading to its sealed envelope.', labelNames: [], buckets: LAG_BUCKETS, registers: [register] })
  const acceptedBy: Record<IngestProtocol, CounterSeries> = { http: accepted.series('http'), mqtt: accepted.series('mqtt') }
  const ackBy: Record<IngestProtocol, HistogramSeries> = { http: ack.series('http'), mqtt: ack.series('mqtt') }
  const refusedBy: Record<IngestProtocol, Map<string, CounterSeries>> = { http: new Map(), mqtt: new Map() }
  const sealedAll = sealed.series()
  return {
    accepted (protocol, count) { acceptedBy[protocol].inc(count) },
    refused (protocol, code) {
      const seen = refusedBy[protocol]
      let series = seen.get(code)
      if (series === undefined) {
        const label = boundedCode(code, seen)
        series = refused.series(protocol, label)
        if (label === code) seen.set(code, series)
      }
      series.inc()
    },
    acknowledged (protocol, seconds) { ackBy[protocol].observe(seconds) },
    sealed (seconds) { sealedAll.observe(seconds) }
  }
}

/** The overlay's DHT operations (for `OverlayComponents.observeOperation`). */
export function createDhtMetrics (register: Registry): (op: DhtOperation, outcome: DhtOutcome, seconds: number, role?: Role) => void {
  const ops = new FixedCounter({ name: 'gatemesh_dht_operations_total', help: 'DHT operations settled, by operation, role looked for (find_peers) and outcome.', labelNames: ['op', 'role', 'outcome'], registers: [register] })
  const latency = new FixedHistogram({ name: 'gatemesh_dht_operation_seconds', help: 'DHT operation duration, by operation, role looked for (find_peers) and outcome.', labelNames: ['op', 'role', 'outcome'], buckets: LAG_BUCKETS, registers: [register] })
  return (op, outcome, seconds, role) => {
    const labels = [op, role ?? '', outcome]
    ops.series(...labels).inc()
    latency.series(...labels).observe(seconds)
  }
}

/** Peers, routing table and CRL, read from the overlay at scrape time. */
export function registerOverlayMetrics (register: Registry, overlay: OverlayNode): void {
  new Gauge({
    name: 'gatemesh_overlay_verified_peers',
    help: 'Connected peers whose certificate verified, by role the certificate grants.',
    labelNames: ['role'],
    registers: [register],
    collect () {
      const counts = Object.fromEntries(ROLES.map(role => [role, 0])) as Record<Role, number>
      for (const peer of overlay.verifiedPeers()) for (const role of peer.roles) if (role in counts) counts[role]++
      for (const role of ROLES) this.set({ role }, counts[role])
    }
  })
  new Gauge({ name: 'gatemesh_overlay_dht_peers', help: 'Verified peers connected on the DHT protocol.', registers: [register], collect () { this.set(overlay.dhtPeers().length) } })
  new Gauge({ name: 'gatemesh_overlay_crl_number', help: 'Number of the newest CRL this peer holds (0: none).', registers: [register], collect () { this.set(overlay.currentRevocationList()?.number ?? 0) } })
}

/** A counter whose value is a total some status already keeps (monotonic): set at scrape time. */
function statusCounter<L extends string> (register: Registry, name: string, help: string, labelNames: readonly L[], read: () => Array<[Partial<Record<L, string>>, number]>): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [register],
    collect () {
      this.reset()
      for (const [labels, value] of read()) this.inc(labels, value)
    }
  })
}

function gauge (register: Registry, name: string, help: string, read: () => number | undefined): void {
  new Gauge({ name, help, registers: [register], collect () { const v = read(); if (v !== undefined) this.set(v) } })
}

/** The collector's journal and delivery to the sinks ([COL-14]), read at scrape time. */
export function registerCollectorMetrics (register: Registry, collector: Pick<Collector, 'deliveryStats' | 'journalDepth'>): void {
  gauge(register, 'gatemesh_collector_journal_readings', 'Readings in the journal not yet settled by every sink.', () => collector.journalDepth())
  new Gauge({
    name: 'gatemesh_collector_sink_awaiting_readings',
    help: 'Sealed readings a sink has not settled yet, by sink.',
    labelNames: ['sink'],
    registers: [register],
    collect () {
      for (const [sink, s] of Object.entries(collector.deliveryStats()?.sinks ?? {})) this.set({ sink }, s.awaiting)
    }
  })
  statusCounter(register, 'gatemesh_collector_sink_delivered_total', 'Sealed readings a sink settled, by sink.', ['sink'],
    () => Object.entries(collector.deliveryStats()?.sinks ?? {}).map(([sink, s]) => [{ sink }, s.delivered]))
  statusCounter(register, 'gatemesh_collector_sink_failed_batches_total', 'Batches a sink failed or did not settle in time, by sink.', ['sink'],
    () => Object.entries(collector.deliveryStats()?.sinks ?? {}).map(([sink, s]) => [{ sink }, s.failedBatches]))
}

type Status = Record<string, unknown>
function field (status: Status | null | undefined, ...path: string[]): unknown {
  let value: unknown = status
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Status)[key] : undefined
  return value
}
function num (value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** The persistence sink's outbox and replication lag ([PER-5]), from its status. */
export function registerOutboxMetrics (register: Registry, status: () => Status | null): void {
  gauge(register, 'gatemesh_persistence_outbox_readings', 'Sealed readings in the persistence outbox awaiting W replicas.', () => num(field(status(), 'outbox', 'readings')))
  gauge(register, 'gatemesh_persistence_outbox_bytes', 'Bytes in the persistence outbox.', () => num(field(status(), 'outbox', 'bytes')))
  statusCounter(register, 'gatemesh_persistence_confirmed_total', 'Outbox items W replicas confirmed.', [], () => [[{}, num(field(status(), 'confirmed')) ?? 0]])
  new Gauge({
    name: 'gatemesh_persistence_replication_lag_seconds',
    help: 'Outbox write to the W-th replica confirmation, over the recent confirmations: p50 and p99 (quantile label).',
    labelNames: ['quantile'],
    registers: [register],
    collect () {
      for (const [quantile, key] of [['0.5', 'p50'], ['0.99', 'p99']] as const) {
        const ms = num(field(status(), 'lagMs', key))
        if (ms !== undefined) this.set({ quantile }, ms / 1000)
      }
    }
  })
}

/** A persistence replica's store, refusals, size and repair rounds ([PER-2], [PER-30], [PER-40]), from its status. */
export function registerReplicaMetrics (register: Registry, status: () => Status): void {
  statusCounter(register, 'gatemesh_persistence_stored_readings_total', 'Readings this replica stored (pushes and repair pulls).', [], () => [[{}, num(status().stored) ?? 0]])
  statusCounter(register, 'gatemesh_persistence_requests_total', 'Persistence protocol requests this replica answered.', [], () => [[{}, num(status().requests) ?? 0]])
  statusCounter(register, 'gatemesh_persistence_refused_total', 'Persistence protocol requests this replica refused, by code.', ['code'],
    () => Object.entries((status().refusedByCode ?? {}) as Record<string, number>).filter(([code]) => CODE.test(code)).map(([code, n]) => [{ code }, n]))
  statusCounter(register, 'gatemesh_persistence_repair_rounds_total', 'Anti-entropy rounds run.', [], () => [[{}, num(field(status(), 'repair', 'rounds')) ?? 0]])
  statusCounter(register, 'gatemesh_persistence_repair_errors_total', 'Anti-entropy exchanges that failed.', [], () => [[{}, num(field(status(), 'repair', 'errors')) ?? 0]])
  statusCounter(register, 'gatemesh_persistence_repaired_readings_total', 'Readings repair pulled in or pushed out, by direction.', ['direction'],
    () => [[{ direction: 'pulled' }, num(field(status(), 'repair', 'pulled')) ?? 0], [{ direction: 'pushed' }, num(field(status(), 'repair', 'pushed')) ?? 0]])
  gauge(register, 'gatemesh_persistence_size_bytes', 'Bytes this replica\'s storage engine holds (as last measured).', () => num(status().sizeBytes))
}

/** `[labels, n]` for each GM_ERR_ code of a status table (anything else is left out: bounded labels). */
function byCode (table: unknown): Array<[{ code: string }, number]> {
  if (table === null || typeof table !== 'object') return []
  return Object.entries(table as Record<string, unknown>).flatMap(([code, n]) => CODE.test(code) && num(n) !== undefined ? [[{ code }, n as number] as [{ code: string }, number]] : [])
}

/** `[labels, n]` for each of the fixed `reasons` of a status's dropped counters. */
function byReason (table: unknown, reasons: readonly string[]): Array<[{ reason: string }, number]> {
  return reasons.map(reason => [{ reason }, num(field(table as Status, reason)) ?? 0])
}

/** The broker's drop reasons ([STR-15], [STR-16]) and the stream sink's ([STR-35]). */
const BROKER_DROPS = ['overload', 'session', 'malformed', 'stopped'] as const
const SESSION_ENDS = ['expired', 'limit'] as const
const SINK_DROPS = ['noPeers', 'queueFull', 'publishFailed'] as const

/**
 * A stream peer's broker and relay ([STR-18], [STR-33]), from the service's status at scrape
 * time: `status()` is `{ relay, broker }` (src/gateway/stream/relay-service.ts), or null before
 * the service started. Nothing is counted on the delivery path itself.
 */
export function registerStreamMetrics (register: Registry, status: () => { relay: unknown, broker: unknown } | null): void {
  const broker = (...path: string[]): unknown => field(status()?.broker as Status, ...path)
  const relay = (...path: string[]): unknown => field(status()?.relay as Status, ...path)
  gauge(register, 'gatemesh_stream_clients', 'Applications connected to this stream peer\'s broker (TCP and WebSocket).', () => num(broker('clients')))
  gauge(register, 'gatemesh_stream_subscriptions', 'Subscriptions granted to the connected applications.', () => num(broker('subscriptions')))
  gauge(register, 'gatemesh_stream_readings_in_flight', 'Injected readings the broker is still publishing ([STR-15]\'s bound).', () => num(broker('inFlight')))
  statusCounter(register, 'gatemesh_stream_readings_injected_total', 'Readings handed to the broker by the relay and the local collector.', [], () => [[{}, num(broker('injected')) ?? 0]])
  statusCounter(register, 'gatemesh_stream_deliveries_total', 'Messages forwarded to an application (readings, and messages in users\' namespaces).', [], () => [[{}, num(broker('delivered')) ?? 0]])
  statusCounter(register, 'gatemesh_stream_readings_dropped_total', 'Readings the broker dropped, by reason: overload (in-flight bound), session (a full offline session\'s oldest), malformed, stopped.', ['reason'],
    () => byReason(broker('dropped'), BROKER_DROPS))
  gauge(register, 'gatemesh_stream_persistent_sessions', 'Persistent MQTT sessions the broker holds, connected or offline ([STR-48]).', () => num(broker('sessions', 'persistent')))
  statusCounter(register, 'gatemesh_stream_sessions_ended_total', 'Offline persistent sessions the broker ended, by reason: expired (--stream-session-expiry), limit (the user\'s --stream-sessions-per-user) ([STR-48]).', ['reason'],
    () => byReason(broker('sessions', 'ended'), SESSION_ENDS))
  statusCounter(register, 'gatemesh_stream_logins_refused_total', 'Application CONNECTs refused, by GM_ERR_ code.', ['code'], () => byCode(broker('refused')))
  statusCounter(register, 'gatemesh_stream_denied_total', 'Subscribes, publishes and packets refused to logged-in applications, by GM_ERR_ code.', ['code'], () => byCode(broker('denied')))
  statusCounter(register, 'gatemesh_stream_relay_messages_accepted_total', 'Relay messages from collectors accepted ([STR-31]).', [], () => [[{}, num(relay('accepted')) ?? 0]])
  statusCounter(register, 'gatemesh_stream_relay_readings_total', 'Readings the accepted relay messages carried to the broker.', [], () => [[{}, num(relay('delivered')) ?? 0]])
  statusCounter(register, 'gatemesh_stream_relay_messages_rejected_total', 'Relay messages rejected, by GM_ERR_ code ([STR-31]).', ['code'], () => byCode(relay('rejected')))
  statusCounter(register, 'gatemesh_stream_relay_messages_ignored_total', 'Relay messages not delivered for a failure of the stream peer\'s own ([STR-34]).', [], () => [[{}, num(relay('ignored')) ?? 0]])
  gauge(register, 'gatemesh_stream_relay_peers', 'Collectors with a relay stream open to this stream peer ([STR-33]).', () => num(relay('peers')))
}

/** A collector's stream sink ([STR-35]): readings handed to the relay and the local broker, and drops. */
export function registerStreamSinkMetrics (register: Registry, sinkStatus: () => object | null): void {
  const status = (): Status | null => sinkStatus() as Status | null
  statusCounter(register, 'gatemesh_stream_sink_published_readings_total', 'Sealed readings the stream sink handed on, by path: relay (written to a stream peer\'s relay stream, once per stream peer) or local (this gateway\'s broker).', ['path'],
    () => [[{ path: 'relay' }, num(field(status(), 'relayed')) ?? 0], [{ path: 'local' }, num(field(status(), 'local')) ?? 0]])
  statusCounter(register, 'gatemesh_stream_sink_messages_total', 'Relay messages the stream sink wrote to stream peers (once per stream peer).', [], () => [[{}, num(field(status(), 'messages')) ?? 0]])
  statusCounter(register, 'gatemesh_stream_sink_dropped_readings_total', 'Sealed readings the stream sink dropped, by reason: noPeers, queueFull (a stream peer\'s queue), publishFailed (its stream broke or closed with them queued), once per stream peer (live delivery is best effort).', ['reason'],
    () => byReason(field(status(), 'dropped'), SINK_DROPS))
  gauge(register, 'gatemesh_stream_sink_queued_messages', 'Relay messages queued for stream peers, over all of them.', () => num(field(status(), 'queued')))
}
