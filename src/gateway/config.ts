/**
 * Gateway configuration from, in increasing precedence: defaults, a JSON config file
 * (`--config` or GATEMESH_CONFIG), environment variables (GATEMESH_*), command-line flags.
 * Anything wrong is GM_ERR_GATEWAY_CONFIG (the CLI exits with status 2).
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { GatemeshError } from '../core/index.ts'
import { ROLES } from '../overlay/index.ts'
import type { Role } from '../overlay/index.ts'
import { LATEST_INTERVAL_MS, LATEST_PUTS_PER_SECOND } from './latest/index.ts'

export interface GatewayConfig {
  ca?: string
  token?: string
  bootstrap: string[]
  services: Role[]
  data: string
  listen: string[]
  announce: string[]
  /** [ADM-1] Admin HTTP port; undefined disables it, 0 picks a free port. */
  adminPort?: number
  /** [ADM-1] Bind address of the admin port (default 127.0.0.1: the admin surface is unauthenticated). */
  adminHost: string
  crlInterval: number
  republishInterval: number
  exchangeTimeout: number
  renewBefore: number
  /** Bind address of the service ports (collector HTTP and MQTT, Data Access, stream). */
  host: string
  /**
   * The host name or address other machines reach the service ports at, used in every URL the
   * gateway advertises (/v1/network, the ready line); undefined: `advertisedHost` derives it.
   */
  publicHost?: string
  /** Collector HTTP port; 0 picks a free port. */
  httpPort: number
  /** Collector MQTT (TCP) port; 0 picks a free port. */
  mqttPort: number
  /** Data Access HTTP port; 0 picks a free port. */
  accessPort: number
  /** Collector sealing threads ([COL-23]); undefined = one per core beyond the first, 1 to 4, more while sealing is behind (up to one per core, at most 4); 0 seals on the event loop. */
  sealWorkers?: number
  /** [COL-20] Milliseconds between two puts of one sensor's latest record. */
  latestInterval: number
  /** [COL-20] At most this many latest-record puts a second for the whole gateway. */
  latestRate: number
  /** [PER-20] The persistence service's storage engine. */
  persistenceEngine: 'sqlite' | 'influxdb'
  influxUrl?: string
  influxDatabase: string
  influxUsername?: string
  influxPassword?: string
  /** [PER-3] R: replicas per sensor. */
  replicas: number
  /** [PER-4] W: replicas that confirm a reading before the collector's outbox lets it go. */
  writeQuorum: number
  /** [PER-2] The persistence service's storage limit in bytes; undefined: none. */
  persistenceMaxBytes?: number
  /** [PER-5] The collector's persistence outbox bound in bytes. */
  outboxMaxBytes: number
  // repair
  /** [PER-30] Milliseconds between the persistence service's repair rounds. */
  repairInterval: number
  /** [PER-41] Milliseconds between the persistence service's retention sweeps. */
  retentionSweepInterval: number
  // stream
  /** [STR-5] The stream broker's MQTT (TCP) port; 0 picks a free port. */
  streamPort: number
  /** [STR-5] The stream broker's MQTT over WebSocket port; 0 picks a free port. */
  streamWsPort: number
  /** [STR-16] QoS 1 messages kept per offline persistent session (the oldest go first). */
  streamSessionMax: number
  /** [STR-48] Milliseconds an offline persistent session is kept. */
  streamSessionExpiry: number
  /** [STR-48] Persistent sessions per user. */
  streamSessionsPerUser: number
}

/** name: [kind, env var]. Lists accept repeated flags, or commas in env and strings. */
const FIELDS = {
  ca: ['string', 'GATEMESH_CA'],
  token: ['string', 'GATEMESH_TOKEN'],
  bootstrap: ['list', 'GATEMESH_BOOTSTRAP'],
  services: ['list', 'GATEMESH_SERVICES'],
  data: ['string', 'GATEMESH_DATA'],
  listen: ['list', 'GATEMESH_LISTEN'],
  announce: ['list', 'GATEMESH_ANNOUNCE'],
  'admin-port': ['int', 'GATEMESH_ADMIN_PORT'],
  'admin-host': ['string', 'GATEMESH_ADMIN_HOST'],
  'crl-interval': ['int', 'GATEMESH_CRL_INTERVAL'],
  'republish-interval': ['int', 'GATEMESH_REPUBLISH_INTERVAL'],
  'exchange-timeout': ['int', 'GATEMESH_EXCHANGE_TIMEOUT'],
  'renew-before': ['int', 'GATEMESH_RENEW_BEFORE'],
  host: ['string', 'GATEMESH_HOST'],
  'public-host': ['string', 'GATEMESH_PUBLIC_HOST'],
  'http-port': ['int', 'GATEMESH_HTTP_PORT'],
  'mqtt-port': ['int', 'GATEMESH_MQTT_PORT'],
  'access-port': ['int', 'GATEMESH_ACCESS_PORT'],
  'seal-workers': ['int', 'GATEMESH_SEAL_WORKERS'],
  'latest-interval': ['int', 'GATEMESH_LATEST_INTERVAL'],
  'latest-rate': ['int', 'GATEMESH_LATEST_RATE'],
  'persistence-engine': ['string', 'GATEMESH_PERSISTENCE_ENGINE'],
  'influx-url': ['string', 'GATEMESH_INFLUX_URL'],
  'influx-database': ['string', 'GATEMESH_INFLUX_DATABASE'],
  'influx-username': ['string', 'GATEMESH_INFLUX_USERNAME'],
  'influx-password': ['string', 'GATEMESH_INFLUX_PASSWORD'],
  replicas: ['int', 'GATEMESH_REPLICAS'],
  'write-quorum': ['int', 'GATEMESH_WRITE_QUORUM'],
  'persistence-max-bytes': ['int', 'GATEMESH_PERSISTENCE_MAX_BYTES'],
  'outbox-max-bytes': ['int', 'GATEMESH_OUTBOX_MAX_BYTES'],
  // repair
  'repair-interval': ['int', 'GATEMESH_REPAIR_INTERVAL'],
  'retention-sweep-interval': ['int', 'GATEMESH_RETENTION_SWEEP_INTERVAL'],
  // stream
  'stream-port': ['int', 'GATEMESH_STREAM_PORT'],
  'stream-ws-port': ['int', 'GATEMESH_STREAM_WS_PORT'],
  'stream-session-max': ['int', 'GATEMESH_STREAM_SESSION_MAX'],
  'stream-session-expiry': ['int', 'GATEMESH_STREAM_SESSION_EXPIRY'],
  'stream-sessions-per-user': ['int', 'GATEMESH_STREAM_SESSIONS_PER_USER']
} as const

type FieldName = keyof typeof FIELDS

export const DEFAULTS = {
  // the default services (stream is planned; persistence is asked for explicitly): gateway/index.ts SERVICES
  services: ['collector', 'access'] as Role[],
  data: '.gatemesh/gateway',
  listen: ['/ip4/0.0.0.0/tcp/4001'],
  adminHost: '127.0.0.1',
  crlInterval: 20_000,
  republishInterval: 60 * 60 * 1000,
  exchangeTimeout: 10_000,
  renewBefore: 24 * 60 * 60 * 1000,
  host: '127.0.0.1',
  httpPort: 0,
  mqttPort: 0,
  accessPort: 0,
  latestInterval: LATEST_INTERVAL_MS,
  latestRate: LATEST_PUTS_PER_SECOND,
  persistenceEngine: 'sqlite' as const,
  influxDatabase: 'gatemesh',
  replicas: 3,
  writeQuorum: 2,
  outboxMaxBytes: 1024 * 1024 * 1024,
  repairInterval: 60_000,
  retentionSweepInterval: 60 * 60_000,
  streamPort: 0,
  streamWsPort: 0,
  streamSessionMax: 1000,
  streamSessionExpiry: 24 * 3_600_000,
  streamSessionsPerUser: 16
}

export const USAGE = `usage: gatemesh gateway start [options]

  --ca URL                 the CA's enrollment service (GATEMESH_CA)
  --token T                one-time enrollment token, first start only (GATEMESH_TOKEN)
  --bootstrap ADDR         a peer to join through; repeat for more (GATEMESH_BOOTSTRAP, comma-separated)
  --services LIST          the services to run: any of collector,access,persistence,stream
                           (GATEMESH_SERVICES; default collector,access)
  --data DIR               key, certificate and datastore (GATEMESH_DATA; default ${DEFAULTS.data})
  --listen ADDR            listen multiaddr; repeat for more (GATEMESH_LISTEN; default ${DEFAULTS.listen[0]})
  --announce ADDR          multiaddr to announce instead (GATEMESH_ANNOUNCE)
  --admin-port N           admin HTTP: /metrics, /healthz, /readyz and the unauthenticated operator API
                           (GATEMESH_ADMIN_PORT; 0 = any free port; default: none)
  --admin-host ADDR        bind address of the admin port (GATEMESH_ADMIN_HOST; default ${DEFAULTS.adminHost});
                           anything else lets every machine that reaches it use the whole admin API
  --crl-interval MS        CRL refresh period (GATEMESH_CRL_INTERVAL; default ${DEFAULTS.crlInterval})
  --republish-interval MS  record republish period (GATEMESH_REPUBLISH_INTERVAL; default ${DEFAULTS.republishInterval})
  --exchange-timeout MS    certificate exchange timeout (GATEMESH_EXCHANGE_TIMEOUT; default ${DEFAULTS.exchangeTimeout})
  --renew-before MS        renew the certificate this long before it expires (GATEMESH_RENEW_BEFORE)
  --host ADDR              bind address of the service ports (GATEMESH_HOST; default ${DEFAULTS.host})
  --public-host NAME       host name or address the service ports are reached at, put in every URL the
                           gateway advertises (GATEMESH_PUBLIC_HOST; default: --host, or 127.0.0.1 when
                           --host is 0.0.0.0 or ::, so set it whenever --host is a wildcard or has
                           an IPv6 zone id such as %eth0, which it cannot have itself)
  --http-port N            collector HTTP port (GATEMESH_HTTP_PORT; default 0 = any free port)
  --mqtt-port N            collector MQTT port (GATEMESH_MQTT_PORT; default 0 = any free port)
  --access-port N          Data Access HTTP port (GATEMESH_ACCESS_PORT; default 0 = any free port)
  --seal-workers N         collector threads that seal readings (GATEMESH_SEAL_WORKERS; default: one per
                           core beyond the first, 1 to 4, more while sealing is behind, up to
                           one per core and at most 4; 0 = seal on the event loop)
  --latest-interval MS     at most one put of a sensor's latest reading into the DHT per this time; a
                           faster sensor's readings in between are coalesced (GATEMESH_LATEST_INTERVAL;
                           default ${DEFAULTS.latestInterval}; 50 to 3600000)
  --latest-rate N          at most N such puts a second for the whole gateway, the sensors in turn
                           (GATEMESH_LATEST_RATE; default ${DEFAULTS.latestRate}; 1 to 10000)
  --persistence-engine E   persistence storage: sqlite or influxdb (GATEMESH_PERSISTENCE_ENGINE; default sqlite)
  --influx-url URL         InfluxDB 1.x server for --persistence-engine influxdb (GATEMESH_INFLUX_URL)
  --influx-database NAME   InfluxDB database (GATEMESH_INFLUX_DATABASE; default ${DEFAULTS.influxDatabase})
  --influx-username U      InfluxDB user (GATEMESH_INFLUX_USERNAME)
  --influx-password P      InfluxDB password (GATEMESH_INFLUX_PASSWORD; prefer the env or config file)
  --replicas R             persistence replicas per sensor (GATEMESH_REPLICAS; default ${DEFAULTS.replicas})
  --write-quorum W         replicas that confirm a reading before the collector lets it go
                           (GATEMESH_WRITE_QUORUM; default ${DEFAULTS.writeQuorum}; at most R)
  --persistence-max-bytes N  the persistence peer's storage limit: at it, what is past retention is
                           deleted first, then stores are refused, nothing inside retention is evicted
                           (GATEMESH_PERSISTENCE_MAX_BYTES; default 0 = none; else at least 1 MiB)
  --repair-interval MS     time between the persistence peer's repair rounds with the other replicas
                           (GATEMESH_REPAIR_INTERVAL; default ${DEFAULTS.repairInterval})
  --retention-sweep-interval MS  time between sweeps deleting readings past their sensor's retention
                           (GATEMESH_RETENTION_SWEEP_INTERVAL; default ${DEFAULTS.retentionSweepInterval})
  --outbox-max-bytes N     the collector's persistence outbox bound (GATEMESH_OUTBOX_MAX_BYTES; default 1 GiB)
  --stream-port N          stream broker MQTT (TCP) port (GATEMESH_STREAM_PORT; default 0 = any free port)
  --stream-ws-port N       stream broker MQTT over WebSocket port, path /mqtt (GATEMESH_STREAM_WS_PORT;
                           default 0 = any free port)
  --stream-session-max N   QoS 1 messages kept per offline persistent MQTT session; past it the oldest
                           are dropped (GATEMESH_STREAM_SESSION_MAX; default ${DEFAULTS.streamSessionMax}; 1 to 1000000)
  --stream-session-expiry MS  an offline persistent MQTT session ends this long after its client left
                           (GATEMESH_STREAM_SESSION_EXPIRY; default ${DEFAULTS.streamSessionExpiry} = 24 h; 1 s to 30 days)
  --stream-sessions-per-user N  persistent MQTT sessions a user may hold; a new one ends the user's
                           longest-offline one, or is refused (CONNACK 3) when all are connected
                           (GATEMESH_STREAM_SESSIONS_PER_USER; default ${DEFAULTS.streamSessionsPerUser}; 1 to 1000)
  --config FILE            JSON file with any of the above (camelCase or flag names) (GATEMESH_CONFIG)
`

function bad (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_GATEWAY_CONFIG', detail)
}

function toList (value: unknown, name: string): string[] {
  const items = Array.isArray(value) ? value : [value]
  const out: string[] = []
  for (const item of items) {
    if (typeof item !== 'string') throw bad(`${name} must be a string or a list of strings.`)
    out.push(...item.split(',').map(s => s.trim()).filter(s => s !== ''))
  }
  return out
}

/** --listen, --announce, --bootstrap: multiaddrs, checked before the gateway enrolls or starts. */
function toMultiaddrs (value: unknown, name: string): string[] {
  const addrs = toList(value, name)
  for (const addr of addrs) {
    try {
      multiaddr(addr)
    } catch {
      throw bad(`${name} '${addr}' is not a multiaddr (such as /ip4/203.0.113.10/tcp/4001 or /dns4/gw1.example.net/tcp/4001).`)
    }
  }
  return addrs
}

function toInt (value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`${name} must be a non-negative integer.`)
  return n
}

function sealWorkers (value: unknown, name: string): number {
  const n = toInt(value, name)
  if (n > 64) throw bad(`${name} must be 0 to 64.`)
  return n
}

function sessionMax (value: unknown, name: string): number {
  const n = toInt(value, name)
  if (n < 1 || n > 1_000_000) throw bad(`${name} must be 1 to 1000000.`)
  return n
}

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0'])

/** Whether a bind address means every interface (no one can connect to it). */
export function isWildcardHost (host: string): boolean {
  return WILDCARDS.has(host.toLowerCase())
}

/** Whether a bind address is this machine's loopback (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase()
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'))
}

/** An IP address or a DNS host name (no port, no scheme), for --host and --public-host. */
function hostName (value: string, name: string): string {
  if (!isIP(value) && !/^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(value)) {
    throw bad(`${name} must be an IP address or a host name.`)
  }
  return value
}

/**
 * [ACS-18] A host that every advertised URL can carry: a DNS name or an IP address that a URL's
 * host takes as it is. An IPv6 zone id (`fe80::1%eth0`) names an interface of this machine only,
 * and no URL can carry it (`%` would have to be `%25`, which URL parsers refuse in a host).
 */
function urlHostName (value: string, name: string): string {
  let ok = !value.includes('%')
  if (ok) {
    try { ok = new URL(`http://${isIP(value) === 6 ? `[${value}]` : value}/`).hostname !== '' } catch { ok = false }
  }
  if (!ok) throw bad(`${name} must be a host a URL can carry (an IPv6 address without a zone id such as %eth0).`)
  return value
}

/**
 * The host put in every service URL the gateway advertises: --public-host, else --host unless
 * --host is a wildcard, which no one can connect to: then 127.0.0.1 (a gateway for this machine only).
 */
export function advertisedHost (config: Pick<GatewayConfig, 'host' | 'publicHost'>): string {
  if (config.publicHost !== undefined) return config.publicHost
  return isWildcardHost(config.host) ? '127.0.0.1' : config.host
}

function within (n: number, name: string, min: number, max: number): number {
  if (n < min || n > max) throw bad(`${name} must be ${min} to ${max}.`)
  return n
}

function camel (name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

function readConfigFile (path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', `Cannot read the config file ${path}.`, { cause: err })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', `The config file ${path} is not JSON.`, { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('The config file must hold a JSON object.')
  const out: Record<string, unknown> = {}
  const known = new Map<string, FieldName>()
  for (const name of Object.keys(FIELDS) as FieldName[]) { known.set(name, name); known.set(camel(name), name) }
  for (const [key, v] of Object.entries(value)) {
    const name = known.get(key)
    if (name === undefined) throw bad(`Unknown config key '${key}'.`)
    out[name] = v
  }
  return out
}

export function parseGatewayConfig (argv: string[], env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries((Object.keys(FIELDS) as FieldName[]).map(name => [name, { type: 'string', multiple: FIELDS[name][0] === 'list' }])),
        config: { type: 'string' }
      } as Record<string, { type: 'string', multiple?: boolean }>
    })
  } catch (err) {
    throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', (err as Error).message, { cause: err })
  }
  const flags = parsed.values as Record<string, string | string[] | undefined>
  const configPath = (flags.config as string | undefined) ?? env.GATEMESH_CONFIG
  const file = configPath === undefined ? {} : readConfigFile(configPath)
  const raw: Record<string, unknown> = {}
  for (const name of Object.keys(FIELDS) as FieldName[]) {
    const [, envName] = FIELDS[name]
    raw[name] = flags[name] ?? env[envName] ?? file[name]
  }
  const pick = <T>(name: FieldName, convert: (v: unknown, n: string) => T): T | undefined => raw[name] === undefined ? undefined : convert(raw[name], `--${name}`)
  const str = (v: unknown, n: string): string => {
    if (typeof v !== 'string' || v === '') throw bad(`${n} must be a non-empty string.`)
    return v
  }

  const services = pick('services', toList) ?? DEFAULTS.services
  for (const s of services) if (!(ROLES as readonly string[]).includes(s)) throw bad(`Unknown service '${s}'.`)
  const ca = pick('ca', str)
  if (ca !== undefined) {
    let url: URL
    try { url = new URL(ca) } catch { throw bad('--ca must be an http(s) URL.') }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('--ca must be an http(s) URL.')
  }
  const port = (v: unknown, n: string): number => {
    const p = toInt(v, n)
    if (p > 65535) throw bad(`${n} must be a port number.`)
    return p
  }
  const adminPort = pick('admin-port', port)
  const adminHost = pick('admin-host', (v, n) => hostName(str(v, n), n)) ?? DEFAULTS.adminHost
  const host = pick('host', (v, n) => hostName(str(v, n), n)) ?? DEFAULTS.host
  const publicHost = pick('public-host', (v, n) => urlHostName(hostName(str(v, n), n), n))
  if (publicHost !== undefined && isWildcardHost(publicHost)) throw bad('--public-host must be an address others can connect to, not a wildcard such as 0.0.0.0 or ::.')
  // [ACS-18] a --host with a zone id binds, but is advertised only through --public-host
  if (publicHost === undefined && host.includes('%')) throw bad('--host has an IPv6 zone id, which no advertised URL can carry: give --public-host as well.')
  return {
    ca,
    token: pick('token', str),
    bootstrap: pick('bootstrap', toMultiaddrs) ?? [],
    services: services as Role[],
    data: pick('data', str) ?? DEFAULTS.data,
    listen: pick('listen', toMultiaddrs) ?? DEFAULTS.listen,
    announce: pick('announce', toMultiaddrs) ?? [],
    adminPort,
    adminHost,
    crlInterval: pick('crl-interval', toInt) ?? DEFAULTS.crlInterval,
    republishInterval: pick('republish-interval', toInt) ?? DEFAULTS.republishInterval,
    exchangeTimeout: pick('exchange-timeout', toInt) ?? DEFAULTS.exchangeTimeout,
    renewBefore: pick('renew-before', toInt) ?? DEFAULTS.renewBefore,
    host,
    publicHost,
    httpPort: pick('http-port', port) ?? DEFAULTS.httpPort,
    mqttPort: pick('mqtt-port', port) ?? DEFAULTS.mqttPort,
    accessPort: pick('access-port', port) ?? DEFAULTS.accessPort,
    sealWorkers: pick('seal-workers', sealWorkers),
    latestInterval: pick('latest-interval', (v, n) => within(toInt(v, n), n, 50, 3_600_000)) ?? DEFAULTS.latestInterval,
    latestRate: pick('latest-rate', (v, n) => within(toInt(v, n), n, 1, 10_000)) ?? DEFAULTS.latestRate,
    ...persistenceConfig(pick, str),
    streamPort: pick('stream-port', port) ?? DEFAULTS.streamPort,
    streamWsPort: pick('stream-ws-port', port) ?? DEFAULTS.streamWsPort,
    streamSessionMax: pick('stream-session-max', sessionMax) ?? DEFAULTS.streamSessionMax,
    streamSessionExpiry: pick('stream-session-expiry', (v, n) => within(toInt(v, n), n, 1000, 30 * 24 * 3_600_000)) ?? DEFAULTS.streamSessionExpiry,
    streamSessionsPerUser: pick('stream-sessions-per-user', (v, n) => within(toInt(v, n), n, 1, 1000)) ?? DEFAULTS.streamSessionsPerUser
  }
}

function persistenceConfig (pick: <T>(name: FieldName, convert: (v: unknown, n: string) => T) => T | undefined, str: (v: unknown, n: string) => string): Pick<GatewayConfig, 'persistenceEngine' | 'influxUrl' | 'influxDatabase' | 'influxUsername' | 'influxPassword' | 'replicas' | 'writeQuorum' | 'persistenceMaxBytes' | 'outboxMaxBytes' | 'repairInterval' | 'retentionSweepInterval'> {
  const engine = pick('persistence-engine', str) ?? DEFAULTS.persistenceEngine
  if (engine !== 'sqlite' && engine !== 'influxdb') throw bad('--persistence-engine must be sqlite or influxdb.')
  const influxUrl = pick('influx-url', str)
  if (influxUrl !== undefined) {
    let url: URL
    try { url = new URL(influxUrl) } catch { throw bad('--influx-url must be an http(s) URL.') }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('--influx-url must be an http(s) URL.')
  }
  if (engine === 'influxdb' && influxUrl === undefined) throw bad('--persistence-engine influxdb needs --influx-url.')
  const count = (v: unknown, n: string): number => {
    const k = toInt(v, n)
    if (k < 1 || k > 16) throw bad(`${n} must be 1 to 16.`)
    return k
  }
  const replicas = pick('replicas', count) ?? DEFAULTS.replicas
  const writeQuorum = pick('write-quorum', count) ?? Math.min(DEFAULTS.writeQuorum, replicas)
  if (writeQuorum > replicas) throw bad('--write-quorum must not exceed --replicas.')
  const size = (v: unknown, n: string): number => {
    const k = toInt(v, n)
    if (k < 1024 * 1024) throw bad(`${n} must be at least 1 MiB (1048576).`)
    return k
  }
  const interval = (v: unknown, n: string): number => {
    const k = toInt(v, n)
    if (k < 100 || k > 7 * 24 * 3_600_000) throw bad(`${n} must be 100 ms to 7 days.`)
    return k
  }
  return {
    persistenceEngine: engine,
    influxUrl,
    influxDatabase: pick('influx-database', str) ?? DEFAULTS.influxDatabase,
    influxUsername: pick('influx-username', str),
    influxPassword: pick('influx-password', str),
    replicas,
    writeQuorum,
    // [PER-42] 0: no limit
    persistenceMaxBytes: pick('persistence-max-bytes', (v, n) => toInt(v, n) === 0 ? undefined : size(v, n)),
    outboxMaxBytes: pick('outbox-max-bytes', size) ?? DEFAULTS.outboxMaxBytes,
    repairInterval: pick('repair-interval', interval) ?? DEFAULTS.repairInterval,
    retentionSweepInterval: pick('retention-sweep-interval', interval) ?? DEFAULTS.retentionSweepInterval
  }
}
