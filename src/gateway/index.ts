/**
 * The gateway's composition root: identity (key, enrollment, renewal), the overlay node, the
 * services its configuration enables (one table, SERVICES: persistence, stream, the collector with
 * the latest publisher, the persistence sink and the stream sink, Data Access) and the local admin
 * surface. Wiring happens here and nowhere else.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { GatemeshError, decodeStreamPayload, envelopeRecipients, isGatemeshError, verifyStreamToken } from '../core/index.ts'
import { NAMESPACES, createOverlayNode, recordKey } from '../overlay/index.ts'
import { fetchRevocationList } from '../pki/index.ts'
import { createLogger } from '../platform/logger.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { createMetricsRegistry, type Registry } from '../platform/metrics.ts'
import {
  createDhtMetrics, createIngestMetrics, registerCollectorMetrics, registerOutboxMetrics, registerOverlayMetrics, registerReplicaMetrics, registerStreamMetrics, registerStreamSinkMetrics
} from './metrics.ts'
import { createAccessService, createReplicaHistorySource } from './access/index.ts'
import type { HistorySource } from './access/index.ts'
import { startAdmin } from './admin.ts'
import { createCachedSensorDirectory, createCollector } from './collector/index.ts'
import { createLatestPublisher } from './latest/index.ts'
import { createPersistenceService, createPersistenceSink, request as persistenceRequest } from './persistence/index.ts'
import { createSqliteEngine } from './persistence/engine/sqlite.ts'
import { RELAY_PROTOCOL } from './stream/relay.ts'
import { createStreamGatewayService } from './stream/relay-service.ts'
import { createAccountKeyLookup, createStreamBroker } from './stream/index.ts'
import { STREAM_SINK_DEFAULTS, createStreamSink } from './stream/sink.ts'
import { STREAM_ENDPOINTS_PROTOCOL, askStreamEndpoints, createStreamPeerDirectory, serveStreamEndpoints } from './stream/endpoints.ts'
import type { DeliverReadings } from './stream/relay.ts'
import { createInfluxEngine } from './persistence/engine/influxdb.ts'
import type { RangeRequest, RangeResponse, StoreRequest, StoreResponse, StorageEngine } from './persistence/index.ts'
import type { CryptoSuite, SigningKey } from '../core/index.ts'
import { lockDataDir } from './data-lock.ts'
import { enrollIdentity, loadIdentity, renewIdentity } from './identity.ts'
import { createCertificateTrust, createRecordVerifier } from './trust.ts'
import type { AdminServer } from './admin.ts'
import { advertisedHost, isLoopbackHost, isWildcardHost } from './config.ts'
import type { GatewayConfig } from './config.ts'
import type { StoredIdentity } from './identity.ts'
import type { OverlayNode, CertificateTrust, Role, VerifiedPeer } from '../overlay/index.ts'

export { parseGatewayConfig, USAGE, DEFAULTS } from './config.ts'
export type { GatewayConfig } from './config.ts'
export { GATEWAY_ERRORS } from './errors.ts'
export { createCertificateTrust, createRecordVerifier } from './trust.ts'
export { startAdmin } from './admin.ts'
export type { AdminServer } from './admin.ts'

export interface Gateway {
  config: GatewayConfig
  overlay: OverlayNode
  admin?: AdminServer
  /** The collector's listeners, when the collector service runs. */
  collector?: { http: string, mqtt: string }
  /** The Data Access service's base URL, when it runs. */
  access?: string
  /** The stream broker's MQTT (TCP) and WebSocket URLs, when the stream service runs ([STR-5]). */
  stream?: { mqtt: string, ws: string }
  /** The gateway's Prometheus registry (served at the admin port's /metrics). */
  metrics: Registry
  stop: () => Promise<void>
}

/**
 * The service contract. A service is made by `createX(components, init)`: it may register its
 * DHT namespaces and libp2p protocols with the overlay then ([OVL-32], [OVL-34]; the overlay is
 * not started yet), and is started once the overlay runs and stopped before the overlay stops.
 */
export interface GatewayService {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Told about a renewed gateway certificate (DER). */
  setCertificate?: (der: Uint8Array) => void
  /** The service's counters, for the admin status (no secrets, no readings). */
  status?: () => Record<string, unknown>
}

/** What the composition root hands every service. */
export interface GatewayServiceComponents {
  overlay: OverlayNode
  suite: CryptoSuite
  /** The gateway's libp2p Ed25519 key as a core SigningKey, and its 32-byte seed. */
  signer: SigningKey
  seed: Uint8Array
  /** The DER certificate of the network's CA (served to clients to pin, [ACS-18]). */
  caCertificate: Uint8Array
  /** Between services: `sensor:stored` (detail: the sensor id) when Data Access stored a sensor record. */
  events: EventTarget
  /** The gateway's CA trust (certificate checks bound to the network's CA). */
  trust: CertificateTrust
  /** What a service offers the others of this gateway in-process (a persistence peer is its own collector's replica). */
  local: {
    persistenceStore?: (request: StoreRequest, peer: VerifiedPeer) => Promise<StoreResponse>
    /** [PER-50] A history page from this gateway's own replica (a peer does not dial itself). */
    persistenceRange?: (request: RangeRequest, peer: VerifiedPeer) => Promise<RangeResponse>
    /** [STR-36] The local stream broker's injection, when this gateway runs stream. */
    streamDeliver?: DeliverReadings
    /** The collector's listeners, once it listens (Data Access tells applications, [ACS-18]). */
    collectorEndpoints?: () => { http: string, mqtt: string }
    /** The stream broker's listeners, once it listens (Data Access tells applications, [ACS-18]). */
    streamEndpoints?: () => { mqtt: string, ws: string } | undefined
  }
  /** The gateway's Prometheus registry: a service registers its metrics here (src/gateway/metrics.ts). */
  metrics: Registry
}

/** A service URL as the gateway advertises it: at --public-host ([ACS-18], `advertisedHost`). */
function serviceUrl (scheme: string, config: GatewayConfig, port: number | undefined): string {
  const shown = advertisedHost(config)
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${port ?? 0}`
}

/** The overlay's get for a service: the value, or undefined when no record is held. */
async function getOrUndefined (overlay: OverlayNode, key: string): Promise<Uint8Array | undefined> {
  try {
    return (await overlay.get(key)).value
  } catch (err) {
    if (isGatemeshError(err, 'GM_ERR_RECORD_NOT_FOUND')) return undefined
    throw err
  }
}

/** The Data Collector: the cached sensor directory, the latest publisher and HTTP and MQTT ingest. */
function createCollectorService ({ overlay, suite, signer, seed, events, local, metrics }: GatewayServiceComponents, config: GatewayConfig): GatewayService & { endpoints: () => { http: string, mqtt: string } } {
  // [COL-10] a sending sensor's record is refreshed in the last second of its TTL: while a
  // look-up takes less than that, its readings find it fresh and are sealed at once
  // [COL-10] a gateway among the k closest peers to every key (a network of at most k DHT peers)
  // is sent every put of a sensor record ([OVL-37]) and drops its copy when one arrives: it asks
  // the DHT again every 30 s, not every 5 s (each ask a query to every peer)
  const directory = createCachedSensorDirectory({ suite, fetch: async id => await getOrUndefined(overlay, recordKey(NAMESPACES.sensor, id)) }, {
    refreshAheadMs: SENSOR_REFRESH_AHEAD_MS,
    ttlMs: () => overlay.amongClosestToEveryKey() ? SENSOR_TTL_SMALL_NETWORK_MS : SENSOR_TTL_MS
  })
  // a sensor record Data Access stored here, or a peer put here, invalidates our cached copy at once
  events.addEventListener('sensor:stored', evt => { directory.invalidate((evt as CustomEvent<string>).detail) })
  const sensorKeyPrefix = `/${NAMESPACES.sensor}/`
  overlay.addEventListener('record:held', evt => { if (evt.detail.startsWith(sensorKeyPrefix)) directory.invalidate(evt.detail.slice(sensorKeyPrefix.length)) })
  const latest = createLatestPublisher({
    suite, signer, certificate: overlay.currentCertificate(), put: async (key, value) => await overlay.put(key, value), logger: createLogger('gatemesh:latest')
  }, { intervalMs: config.latestInterval, putsPerSecond: config.latestRate })
  // [PER-4] every collector hands its readings to persistence too; they wait in the outbox while
  // the network has no persistence peers
  const persistence = createPersistenceSink({
    suite,
    signer,
    certificate: () => overlay.currentCertificate(),
    // [PER-3] the R persistence peers nearest the sensor record's DHT key
    replicasOf: async (sensorId, count) => await overlay.findPeersByRole('persistence', recordKey(NAMESPACES.sensor, sensorId), count),
    persistencePeers: () => overlay.verifiedPeers().filter(p => p.services.includes('persistence') && p.roles.includes('persistence')).map(p => p.peerId),
    send: async (peer, request) => peer.peerId === overlay.peerId && local.persistenceStore !== undefined
      ? await local.persistenceStore(request, peer)
      : await persistenceRequest(overlay, peer.peerId, request),
    logger: createLogger('gatemesh:persistence-sink')
  }, { dataDir: config.data, replicas: config.replicas, writeQuorum: config.writeQuorum, outboxMaxBytes: config.outboxMaxBytes })
  // [STR-35] [STR-37] live delivery: each sealed batch to the stream peers, settled at once
  const stream = createStreamSink({
    dial: async (peerId, signal) => await overlay.dialProtocol(peerId, RELAY_PROTOCOL, { signal }),
    streamPeers: () => overlay.verifiedPeers().filter(p => p.services.includes('stream') && p.roles.includes('stream')).map(p => p.peerId),
    // [STR-37] stream peers near a point of our own in the DHT, connected (and verified) by the lookup
    discover: async () => (await overlay.findPeersByRole('stream', `/gatemesh/stream-relay/${overlay.peerId}`, STREAM_SINK_DEFAULTS.maxPeers)).map(p => p.peerId),
    self: overlay.peerId,
    certificate: () => overlay.currentCertificate(),
    localDeliver: () => local.streamDeliver,
    logger: createLogger('gatemesh:stream-sink')
  })
  // a stream peer that connects is linked to at once; one refused is dropped at once
  const onPeers = (): void => { stream.refresh() }
  const endpoints = (): { http: string, mqtt: string } => ({ http: serviceUrl('http', config, collector.httpPort), mqtt: serviceUrl('mqtt', config, collector.mqttPort) })
  local.collectorEndpoints = endpoints
  // [COL-14] the stream sink first: live delivery no longer waits behind the persistence outbox's
  // synchronous SQLite write of the same batch (4 interleaved pairs at 5 000/s: p99 lower in 3)
  const collector = createCollector({ suite, signingSeed: seed, sensors: directory, sinks: [stream, latest, persistence], logger: createLogger('gatemesh:collector'), metrics: createIngestMetrics(metrics) }, {
    dataDir: config.data,
    http: { host: config.host, port: config.httpPort },
    mqtt: { host: config.host, port: config.mqttPort },
    sealWorkers: config.sealWorkers
  })
  let latestStarted = false
  let persistenceStarted = false
  registerCollectorMetrics(metrics, collector)
  registerOutboxMetrics(metrics, () => persistenceStarted ? persistence.status() : null)
  registerStreamSinkMetrics(metrics, () => stream.status())
  return {
    async start () {
      latest.start()
      latestStarted = true
      await persistence.start()
      persistenceStarted = true
      stream.start()
      overlay.addEventListener('peer:verified', onPeers)
      overlay.addEventListener('peer:rejected', onPeers)
      await collector.start()
    },
    async stop () {
      // the collector first (it drains into the sinks), then the publisher's puts and the outbox
      await collector.stop().catch((err: unknown) => { log.warn({ err }, 'collector stop failed') })
      if (latestStarted) await latest.stop().catch((err: unknown) => { log.warn({ err }, 'latest publisher stop failed') })
      if (persistenceStarted) await persistence.stop().catch((err: unknown) => { log.warn({ err }, 'persistence sink stop failed') })
      overlay.removeEventListener('peer:verified', onPeers)
      overlay.removeEventListener('peer:rejected', onPeers)
      await stream.stop()
    },
    setCertificate (der) { latest.setCertificate(der) },
    // [COL-14] readings awaiting the sinks, and each sink's counters; [PER-5] the outbox
    status: () => ({ delivery: collector.deliveryStats() ?? null, persistence: persistenceStarted ? persistence.status() : null, stream: stream.status() }),
    endpoints
  }
}

/**
 * [PER-50] History for Data Access: the sensor's replicas ([PER-3], nearest first), each asked
 * with the persistence protocol's `range` op ([PER-2]) until one answers.
 */
function historySource (overlay: OverlayNode, replicas: number, local: GatewayServiceComponents['local']): HistorySource {
  // this gateway as a replica, as the look-up verified it: its own replica is asked in-process
  let self: VerifiedPeer | undefined
  return createReplicaHistorySource({
    findReplicas: async id => (await overlay.findPeersByRole('persistence', recordKey(NAMESPACES.sensor, id), replicas)).map(peer => {
      if (peer.peerId === overlay.peerId) self = peer
      return peer.peerId
    }),
    range: async (peerId, sensor, query) => {
      const request: RangeRequest = {
        op: 'range',
        sensor,
        fromSeq: query.fromSeq,
        toSeq: query.toSeq,
        order: query.order,
        ...(query.after === undefined ? {} : { after: [query.after.seq, query.after.gw] }),
        limit: query.limit
      }
      const answer = peerId === overlay.peerId && self !== undefined && local.persistenceRange !== undefined
        ? await local.persistenceRange(request, self)
        : await persistenceRequest(overlay, peerId, request)
      return { envs: answer.envs, cps: answer.cps, certs: answer.certs, more: answer.more }
    },
    logger: createLogger('gatemesh:access:history')
  })
}

/** Data Access: accounts, sensors and readings over HTTP (section 8 of PROTOCOL.md). */
function createAccessGatewayService ({ overlay, suite, signer, caCertificate, events, local }: GatewayServiceComponents, config: GatewayConfig): GatewayService & { url: () => string } {
  // [STR-49] the other stream peers' listeners, asked over the overlay: listed in GET /v1/network
  // and allowed in the page's connect-src, so a page served here goes live without a broker here
  const streamPeers = createStreamPeerDirectory({
    streamPeers: () => overlay.verifiedPeers().filter(p => p.peerId !== overlay.peerId && p.services.includes('stream') && p.roles.includes('stream')).map(p => p.peerId),
    ask: async peerId => await askStreamEndpoints(overlay, peerId),
    discover: async () => { await overlay.findPeersByRole('stream', `/gatemesh/stream-endpoints/${overlay.peerId}`, 8) },
    logger: createLogger('gatemesh:access:stream-peers')
  })
  const onVerified = (): void => { void streamPeers.refresh() }
  const access = createAccessService({
    history: historySource(overlay, config.replicas, local),
    suite,
    dht: { get: async key => (await overlay.get(key)).value, put: async (key, value) => { await overlay.put(key, value) } },
    logger: createLogger('gatemesh:access'),
    signer,
    certificate: () => overlay.currentCertificate(),
    caCertificate,
    // [ACS-18] applications show a new sensor's owner where this gateway collects
    collector: () => local.collectorEndpoints?.(),
    // [ACS-18] [ACS-23] applications subscribe here, and the page may open this WebSocket
    stream: () => local.streamEndpoints?.(),
    streamPeers: () => streamPeers.list()
  }, {
    host: config.host,
    port: config.accessPort,
    onSensorStored: id => { events.dispatchEvent(new CustomEvent('sensor:stored', { detail: id })) },
    // [ACS-23] the web application of this checkout, when built (`npm run build:web`)
    webRoot: WEB_ROOT
  })
  return {
    start: async () => {
      await access.start()
      overlay.addEventListener('peer:verified', onVerified)
      streamPeers.start()
    },
    stop: async () => {
      overlay.removeEventListener('peer:verified', onVerified)
      streamPeers.stop()
      await access.stop().catch((err: unknown) => { log.warn({ err }, 'access stop failed') })
    },
    url: () => serviceUrl('http', config, Number(new URL(access.url).port))
  }
}

/** [PER-20] The storage engine the configuration names (not opened). */
function createEngine (config: GatewayConfig): StorageEngine {
  if (config.persistenceEngine === 'influxdb') {
    return createInfluxEngine({ url: config.influxUrl as string, database: config.influxDatabase, username: config.influxUsername, password: config.influxPassword })
  }
  return createSqliteEngine({ path: join(config.data, 'persistence.db') })
}

/** Persistence: a replica of the sensors it is among the R nearest persistence peers of ([PER-2], [PER-3]). */
function createPersistenceGatewayService ({ overlay, suite, trust, local, metrics }: GatewayServiceComponents, config: GatewayConfig): GatewayService {
  const service = createPersistenceService({ overlay, suite, trust, engine: createEngine(config), logger: createLogger('gatemesh:persistence') }, {
    maxBytes: config.persistenceMaxBytes,
    // repair: rounds with the other replicas ([PER-30]), retention sweeps ([PER-41])
    repair: { intervalMs: config.repairInterval, replicas: config.replicas },
    retentionSweepIntervalMs: config.retentionSweepInterval
  })
  local.persistenceStore = async (request, peer) => await service.store(request, peer)
  local.persistenceRange = async (request, peer) => await service.range(request, peer)
  registerReplicaMetrics(metrics, () => service.status())
  return {
    start: async () => { await service.start() },
    stop: async () => { await service.stop().catch((err: unknown) => { log.warn({ err }, 'persistence stop failed') }) },
    status: () => service.status()
  }
}

/**
 * Stream ([STR-33]): the relay, validating what the collectors publish, in front of the broker.
 */
function createStreamService ({ overlay, suite, trust, local, metrics }: GatewayServiceComponents, config: GatewayConfig): GatewayService & { endpoints: () => { mqtt: string, ws: string } | undefined } {
  // [STR-10] subscriptions to a sensor's readings: its record, verified and cached as the collector does
  const sensors = createCachedSensorDirectory({ suite, fetch: async id => await getOrUndefined(overlay, recordKey(NAMESPACES.sensor, id)) })
  const broker = createStreamBroker({
    logger: createLogger('gatemesh:stream'),
    // [STR-6] the user's signing key from its account record in the overlay
    lookupAccount: createAccountKeyLookup({ suite, fetch: async pseudonym => await getOrUndefined(overlay, recordKey(NAMESPACES.account, pseudonym)) }),
    verifyToken: async (token, expected) => await verifyStreamToken(suite, token, expected),
    lookupSensor: async (id, options) => {
      if (options?.fresh === true) sensors.invalidate(id)
      return await sensors.get(id)
    },
    // [STR-14] the stream peer reads a payload's sensor and wraps' `to`, nothing else
    recipientsOf: payload => {
      const { env } = decodeStreamPayload(payload)
      const { sensor, to } = envelopeRecipients(env)
      return { sensorId: sensor, recipients: new Set(to) }
    }
  }, { host: config.host, publicHost: advertisedHost(config), port: config.streamPort, wsPort: config.streamWsPort, sessionMax: config.streamSessionMax, sessionExpiryMs: config.streamSessionExpiry, sessionsPerUser: config.streamSessionsPerUser })
  const service = createStreamGatewayService({ overlay, suite, trust, local, broker, logger: createLogger('gatemesh:stream-relay') })
  registerStreamMetrics(metrics, () => service.status())
  return {
    ...service,
    // the broker's ports are known once it listens: offered to Data Access from then on (it starts after stream)
    start: async () => {
      await service.start()
      local.streamEndpoints = () => service.endpoints()
      // [STR-49] access gateways ask where applications reach this broker
      await overlay.handle(STREAM_ENDPOINTS_PROTOCOL, serveStreamEndpoints(() => service.endpoints()))
    },
    stop: async () => {
      await overlay.unhandle(STREAM_ENDPOINTS_PROTOCOL).catch(() => {})
      local.streamEndpoints = undefined
      await service.stop()
    }
  }
}

/**
 * Every service this build has, by the role it serves, in start order (stop order too):
 * persistence first, so that a full peer's collector finds its own replica running; stream
 * before the collector, whose stream sink hands its batches to the local broker ([STR-36]).
 */
const SERVICES = {
  persistence: createPersistenceGatewayService,
  stream: createStreamService,
  collector: createCollectorService,
  access: createAccessGatewayService
} satisfies Record<Role, (components: GatewayServiceComponents, config: GatewayConfig) => GatewayService>

type ServiceName = keyof typeof SERVICES
type RunningServices = { [K in ServiceName]?: ReturnType<typeof SERVICES[K]> }

/** The roles whose service this build runs. */
export const IMPLEMENTED_SERVICES = Object.keys(SERVICES) as ServiceName[]

/** Creates the configured services in table order; they may register with the (not yet started) overlay. */
function createServices (config: GatewayConfig, components: GatewayServiceComponents): { running: RunningServices, order: GatewayService[] } {
  const running: RunningServices = {}
  const order: GatewayService[] = []
  for (const name of IMPLEMENTED_SERVICES) {
    if (!config.services.includes(name)) continue
    const service = SERVICES[name](components, config)
    Object.assign(running, { [name]: service })
    order.push(service)
  }
  return { running, order }
}

async function stopServices (services: GatewayService[]): Promise<void> {
  for (const service of services) await service.stop().catch((err: unknown) => { log.warn({ err }, 'service stop failed') })
}

const log = createLogger('gatemesh:gateway')
/** The web application as `npm run build:web` builds it in this checkout. */
const WEB_ROOT = fileURLToPath(new URL('../../web/dist/', import.meta.url))
const MAX_TIMER = 2 ** 31 - 1
/** [COL-10] How long before its TTL ends the collector refreshes the record of a sensor that sends. */
const SENSOR_REFRESH_AHEAD_MS = 1000
/** [COL-10] How long the collector uses a sensor record before it asks the DHT again. */
const SENSOR_TTL_MS = 5000
/** [COL-10] The same, while every put of a sensor record reaches this gateway ([OVL-37]). */
const SENSOR_TTL_SMALL_NETWORK_MS = 30_000

/** The CA URL used at enrollment, so that later starts can renew without --ca. */
async function rememberCa (dataDir: string, ca: string | undefined): Promise<string | undefined> {
  const path = join(dataDir, 'gateway.json')
  if (ca !== undefined) {
    await writeFile(path, JSON.stringify({ ca }) + '\n', { mode: 0o644 })
    return ca
  }
  try {
    const saved = JSON.parse(await readFile(path, 'utf8')) as { ca?: unknown }
    return typeof saved.ca === 'string' ? saved.ca : undefined
  } catch {
    return undefined
  }
}

async function obtainCertificate (config: GatewayConfig, caUrl: string | undefined, identity: StoredIdentity): Promise<{ identity: StoredIdentity, trust: CertificateTrust, notAfter: Date }> {
  let current = identity
  if (current.certificate === undefined || current.caCertificate === undefined) {
    if (caUrl === undefined || config.token === undefined) throw new GatemeshError('GM_ERR_GATEWAY_TOKEN_REQUIRED')
    current = await enrollIdentity(config.data, current, caUrl, config.token)
    log.info({ peer: current.peerId }, 'enrolled')
  }
  const trust = createCertificateTrust(current.caCertificate as Uint8Array)
  try {
    const cert = await trust.verifyCertificate(current.certificate as Uint8Array, { peerId: current.peerId })
    return { identity: current, trust, notAfter: cert.notAfter }
  } catch (err) {
    if (caUrl === undefined) throw new GatemeshError('GM_ERR_GATEWAY_CERT_UNUSABLE', undefined, { cause: err })
    log.warn({ code: (err as GatemeshError).code }, 'stored certificate unusable, renewing')
  }
  try {
    current = await renewIdentity(config.data, current, caUrl)
  } catch (err) {
    if (config.token === undefined) throw new GatemeshError('GM_ERR_GATEWAY_CERT_UNUSABLE', undefined, { cause: err })
    current = await enrollIdentity(config.data, current, caUrl, config.token)
  }
  const cert = await trust.verifyCertificate(current.certificate as Uint8Array, { peerId: current.peerId })
  return { identity: current, trust, notAfter: cert.notAfter }
}

/** Starts a gateway on its data directory, which no other gateway may use meanwhile. */
export async function startGateway (config: GatewayConfig): Promise<Gateway> {
  const lock = await lockDataDir(config.data)
  let gateway: Gateway
  try {
    gateway = await startOnData(config)
  } catch (err) {
    await lock.release()
    throw err
  }
  return {
    ...gateway,
    stop: async () => {
      try {
        await gateway.stop()
      } finally {
        await lock.release()
      }
    }
  }
}

async function startOnData (config: GatewayConfig): Promise<Gateway> {
  if (isWildcardHost(config.host) && config.publicHost === undefined) {
    log.warn({ host: config.host, advertised: advertisedHost(config) }, 'the service ports listen on every interface but the gateway advertises 127.0.0.1: set --public-host to the name other machines reach it at')
  }
  const stored = await loadIdentity(config.data)
  const caUrl = await rememberCa(config.data, config.ca)
  const { identity, trust, notAfter } = await obtainCertificate(config, caUrl, stored)
  // roles come from the certificate: a service the CA did not grant runs, but peers neither find
  // it by role [OVL-31] nor accept what it signs for that role
  const granted = (await trust.verifyCertificate(identity.certificate as Uint8Array, { peerId: identity.peerId })).roles
  const ungranted = config.services.filter(s => !granted.includes(s))
  if (ungranted.length > 0) log.warn({ services: ungranted, granted }, 'services not granted by the certificate')

  // one registry per gateway (several may run in one process)
  const metrics = createMetricsRegistry()
  const overlay = await createOverlayNode({
    privateKey: identity.privateKey,
    trust,
    records: createRecordVerifier(),
    fetchRevocationList: caUrl === undefined ? undefined : async () => await fetchRevocationList(caUrl),
    observeOperation: createDhtMetrics(metrics)
  }, {
    dataDir: config.data,
    certificate: identity.certificate as Uint8Array,
    // [OVL-31] advertised to every peer: the services this gateway runs
    services: config.services,
    listen: config.listen,
    announce: config.announce,
    bootstrap: config.bootstrap,
    crlInterval: config.crlInterval,
    republishInterval: config.republishInterval,
    exchangeTimeout: config.exchangeTimeout
  })

  const started: GatewayService[] = []
  let running: RunningServices | undefined
  // renew before expiry, then keep renewing
  let renewTimer: ReturnType<typeof setTimeout> | undefined
  let current = identity
  const scheduleRenewal = (expiry: Date): void => {
    if (caUrl === undefined) return
    const delay = Math.max(1000, expiry.getTime() - config.renewBefore - Date.now())
    renewTimer = setTimeout(() => {
      if (Date.now() < expiry.getTime() - config.renewBefore) { scheduleRenewal(expiry); return }
      void renewIdentity(config.data, current, caUrl).then(async renewed => {
        current = renewed
        await overlay.setCertificate(renewed.certificate as Uint8Array)
        for (const service of started) service.setCertificate?.(renewed.certificate as Uint8Array)
        const cert = await trust.verifyCertificate(renewed.certificate as Uint8Array, { peerId: renewed.peerId })
        log.info({ notAfter: cert.notAfter.toISOString() }, 'certificate renewed')
        scheduleRenewal(cert.notAfter)
      }).catch((err: unknown) => {
        log.warn({ code: (err as GatemeshError).code }, 'renewal failed, retrying in a minute')
        renewTimer = setTimeout(() => { scheduleRenewal(expiry) }, 60_000)
      })
    }, Math.min(delay, MAX_TIMER))
    renewTimer.unref?.()
  }

  let admin: AdminServer | undefined
  registerOverlayMetrics(metrics, overlay)
  // readiness for /readyz: every enabled service started, not stopping, and joined
  let servicesUp = false
  const readiness = (): { ready: boolean, reason?: string } => {
    if (!servicesUp) return { ready: false, reason: 'services are starting or stopping' }
    // [ADM-2] joined: a verified DHT peer, or nothing to join through (no bootstrap address and
    // no peer saved at the last stop, [OVL-25]): the first gateway of its network
    if (overlay.dhtPeers().length === 0 && overlay.joinAddresses() > 0) return { ready: false, reason: 'not joined the overlay: no verified peer yet' }
    return { ready: true }
  }
  try {
    const suite = createNodeCryptoSuite()
    // the raw libp2p Ed25519 private key is seed(32) || public key(32)
    const seed = identity.privateKey.raw.subarray(0, 32)
    const signer = await suite.importSigningKey(seed)
    // services are made before the overlay starts, so that they can register with it
    const created = createServices(config, { overlay, suite, signer, seed, caCertificate: identity.caCertificate as Uint8Array, events: new EventTarget(), trust, local: {}, metrics })
    running = created.running
    await overlay.start()
    scheduleRenewal(notAfter)
    for (const service of created.order) {
      started.push(service)
      await service.start()
    }
    servicesUp = true
    const serviceStatus = (): Record<string, unknown> => Object.fromEntries(Object.entries(running ?? {}).flatMap(([name, service]) => {
      const status = (service as GatewayService).status
      return status === undefined ? [] : [[name, status()]]
    }))
    if (config.adminPort !== undefined && !isLoopbackHost(config.adminHost)) {
      // [ADM-1] said once, at start: the whole admin API is reachable, not only /metrics
      log.warn({ adminHost: config.adminHost }, 'the admin port is reachable from other machines without authentication (it can put DHT records and trigger CRL syncs and republishing): firewall it to the monitoring hosts')
    }
    admin = config.adminPort === undefined ? undefined : await startAdmin(overlay, config.adminPort, { host: config.adminHost, serviceStatus, metrics, ready: readiness })
  } catch (err) {
    clearTimeout(renewTimer)
    await stopServices(started)
    await overlay.stop()
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', `A service cannot listen on ${config.host} or the admin port on ${config.adminHost} (${code}): check --host, --admin-host and the ports.`, { cause: err })
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL') {
      const host = (err as { hostname?: string }).hostname ?? `${config.host} or ${config.adminHost}`
      throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', `The bind address ${host} does not resolve (${code}): check --host and --admin-host.`, { cause: err })
    }
    throw err
  }
  return {
    config,
    overlay,
    admin,
    collector: running?.collector?.endpoints(),
    access: running?.access?.url(),
    stream: running?.stream?.endpoints(),
    metrics,
    stop: async () => {
      servicesUp = false
      clearTimeout(renewTimer)
      await stopServices(started)
      await admin?.close()
      await overlay.stop()
    }
  }
}

/** Resolves when the overlay has at least one verified peer, or after `timeoutMs`. */
export async function waitForPeers (overlay: OverlayNode, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const n = overlay.dhtPeers().length
    if (n > 0) return n
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return overlay.dhtPeers().length
}
