/**
 * The Data Access service [ACS-1]: accounts, sensors, access lists and latest readings over HTTP.
 * `AccessService.plugin` is an encapsulated Fastify plugin (its own JSON parser and error
 * handler) that a composition root can mount on a shared server; `start()` runs it on a server
 * of its own with the OpenAPI document at /openapi.json.
 */
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fastifySwagger from '@fastify/swagger'
import type { CryptoSuite, SigningKey } from '../../core/index.ts'
import { GatemeshError, RequestVerifier, encodeCanonical, fromBase64, isGatemeshError, isPlainOrigin, isPseudonym, toBase64 } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import { createHttpServer } from '../../platform/http-server.ts'
import { AccessIndexer } from './access-index.ts'
import { AccountDirectory } from './accounts.ts'
import type { AccessDht } from './dht.ts'
import { SensorRegistry } from './sensors.ts'
import { DEFAULT_SIGNUP_LIMIT, SignupLimiter, type SignupLimit } from './signup-limit.ts'
import { HISTORY_CBOR_TYPE, RecentReaders, acceptsHistoryCbor, historyAnswer, historyAnswerCbor, parseHistoryQuery, type HistoryQueryString, type HistorySource } from './history.ts'
import { registerWebApp } from './web.ts'
import { createAccountSchema, getAccountSchema, getSensorSchema, historySchema, latestSchema, listSensorsSchema, networkSchema, putSensorSchema } from './schemas.ts'

export interface AccessServiceComponents {
  suite: CryptoSuite
  dht: AccessDht
  logger: Logger
  /** The gateway's Ed25519 key; signs access-index records. Without it no index is written. */
  signer?: SigningKey
  /** The gateway's DER certificate (or a function giving the current one, as it changes on renewal), carried in every access-index record it signs. */
  certificate?: Uint8Array | (() => Uint8Array)
  /** The DER certificate of the CA this gateway trusts (its network's), served at GET /v1/network [ACS-18]. */
  caCertificate: Uint8Array
  /**
   * [PER-50] Asks the sensor's replicas for a page of history. Absent: the history route answers
   * GM_ERR_HISTORY_UNAVAILABLE (503).
   */
  history?: HistorySource
  /** The clock, ms since the epoch (default Date.now): the default history range ends at it. */
  now?: () => number
  /**
   * [ACS-18] The listeners of the collector on the same gateway, when it runs one: served at
   * GET /v1/network so that an application can show a sensor where to send its readings.
   */
  collector?: () => { http: string, mqtt: string } | undefined
  /**
   * [ACS-18] The listeners of the stream broker on the same gateway, when it runs one: served at
   * GET /v1/network so that an application can subscribe, and its WebSocket's origin added to
   * the web application's connect-src [ACS-23].
   */
  stream?: () => { mqtt: string, ws: string } | undefined
  /**
   * [ACS-18] [STR-49] The listeners of the network's other stream peers this gateway knows: served
   * at GET /v1/network as `streams` (after this gateway's own), and their WebSockets' origins added
   * to the web application's connect-src [ACS-23].
   */
  streamPeers?: () => Array<{ mqtt: string, ws: string }>
}

export interface AccessServiceInit {
  /** For start(): where to listen; defaults 127.0.0.1 and port 0 (any free port). */
  host?: string
  port?: number
  /** Largest request body, bytes; default 128 KiB (a sensor record is at most 64 KiB). */
  bodyLimit?: number
  /** Accept account bundles below MIN_KDF_ITERATIONS. Tests only; never set in a deployment. */
  allowWeakKdfForTests?: boolean
  /** Signed-request freshness window, seconds [REQ-5]; default 60. */
  requestWindowSeconds?: number
  /** Nonces remembered at most, all accounts together [REQ-6]; default 1 000 000. */
  maxNonces?: number
  /** Nonces remembered at most for one account [REQ-6]; default 1 000 (a sustained ~16 signed requests a second). */
  maxNoncesPerAccount?: number
  /** Sign-ups per source address [ACS-21]; default 10 at once, 60 an hour. */
  signupLimit?: SignupLimit
  /**
   * Told the id of every sensor whose record this service stored, once stored: the composition
   * root can make a collector on the same gateway drop its cached access list at once.
   */
  onSensorStored?: (sensorId: string) => void
  /**
   * [ACS-23] The built web application (an absolute path to web/dist), served at `/` by start()
   * (not by the plugin). Absent: no `/` route.
   */
  webRoot?: string
  /**
   * [PER-50] How long a sensor record looked up or stored here may grant a history read without
   * another look-up (default 5 s; 0: every request looks it up). Refusals always look it up.
   */
  readGrantMaxAgeMs?: number
}

const DEFAULT_BODY_LIMIT = 128 * 1024
/** [PER-50] The codes of a history source that reach the caller as they are; any other failure is GM_ERR_HISTORY_NO_REPLICA. */
const PASSED_ON = new Set(['GM_ERR_HISTORY_NO_REPLICA', 'GM_ERR_HISTORY_REPLICA_UNKNOWN', 'GM_ERR_HISTORY_UNAVAILABLE', 'GM_ERR_BUSY'])

/** Maps anything thrown to a GatemeshError with a client-facing code. */
function toGatemeshError (err: FastifyError | GatemeshError): GatemeshError {
  if (isGatemeshError(err)) return err
  if (err.validation !== undefined) return new GatemeshError('GM_ERR_ACCESS_REQUEST_MALFORMED', err.message)
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) return new GatemeshError('GM_ERR_ACCESS_TOO_LARGE')
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415) return new GatemeshError('GM_ERR_ACCESS_UNSUPPORTED_MEDIA')
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new GatemeshError('GM_ERR_ACCESS_REQUEST_MALFORMED')
  return new GatemeshError('GM_ERR_ACCESS_INTERNAL', undefined, { cause: err })
}

function decodeBase64 (text: string, field: string): Uint8Array {
  try {
    return fromBase64(text)
  } catch (err) {
    throw new GatemeshError('GM_ERR_ACCESS_REQUEST_MALFORMED', `Field '${field}' is not canonical base64.`, { cause: err })
  }
}

export class AccessService {
  readonly accounts: AccountDirectory
  readonly sensors: SensorRegistry
  private readonly components: AccessServiceComponents
  private readonly init: AccessServiceInit
  private readonly verifier: RequestVerifier
  private readonly signups: SignupLimiter
  /** [PER-50] Callers answered a page of a sensor a moment ago. */
  private readonly recentReaders = new RecentReaders()
  /** The exact request bytes, for the Content-Digest check [REQ-4]. */
  private readonly rawBodies = new WeakMap<FastifyRequest, Uint8Array>()
  private server?: FastifyInstance
  private address?: string

  constructor (components: AccessServiceComponents, init: AccessServiceInit = {}) {
    this.components = components
    this.init = init
    const { suite, dht, logger, signer, certificate } = components
    this.accounts = new AccountDirectory({ suite, dht }, { allowWeakKdfForTests: init.allowWeakKdfForTests })
    if (init.allowWeakKdfForTests === true) logger.warn('weak password derivations accepted (tests only)')
    const indexer = signer !== undefined && certificate !== undefined
      ? new AccessIndexer({ suite, dht, logger, signer, certificate })
      : undefined
    if (indexer === undefined) logger.warn('no gateway signer: access indexes are not written, listings are empty')
    this.sensors = new SensorRegistry({ suite, dht, logger, indexer, now: components.now, readGrantMaxAgeMs: init.readGrantMaxAgeMs })
    // [ACS-6] [REQ-5] [REQ-6] [REQ-7] the caller's key comes from its account in the overlay.
    this.verifier = new RequestVerifier({
      suite,
      resolveKey: async (keyId) => isPseudonym(keyId) ? await this.accounts.signingKey(keyId) : undefined
    }, { windowSeconds: init.requestWindowSeconds, maxNonces: init.maxNonces, maxNoncesPerKey: init.maxNoncesPerAccount })
    this.signups = new SignupLimiter(init.signupLimit ?? DEFAULT_SIGNUP_LIMIT)
  }

  /**
   * [ACS-18] [STR-49] Every stream peer's listeners this gateway knows: its own first, each
   * WebSocket URL once, at most MAX_STREAMS (the client refuses a longer list).
   */
  private streams (): Array<{ mqtt: string, ws: string }> {
    const own = this.components.stream?.()
    const all = [...(own === undefined ? [] : [own]), ...(this.components.streamPeers?.() ?? [])]
    return all.filter((s, i) => all.findIndex(t => t.ws === s.ws) === i).slice(0, MAX_STREAMS)
  }

  /** [ACS-6] Verifies a signed request; resolves to the caller's pseudonym. */
  private async caller (request: FastifyRequest): Promise<string> {
    const { keyId } = await this.verifier.verify({
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: this.rawBodies.get(request)
    })
    return keyId
  }

  /** [ACS-21] Takes a sign-up from the source address's bucket, before the body is even read. */
  private readonly limitSignups = async (request: FastifyRequest): Promise<void> => {
    this.signups.take(request.ip)
  }

  /** The routes, as an encapsulated Fastify plugin (mount it on any Fastify instance). */
  readonly plugin: FastifyPluginAsync = async (app) => {
    const bodyLimit = this.init.bodyLimit ?? DEFAULT_BODY_LIMIT
    const parseJson = app.getDefaultJsonParser('error', 'error')
    app.removeAllContentTypeParsers()
    // JSON only, kept as bytes too: the signature covers the body's digest, not its parse.
    app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
      const bytes = body as Buffer
      this.rawBodies.set(request, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      parseJson(request, bytes.toString('utf8'), done)
    })

    // [ACS-1] CORS for browsers on any origin: requests carry no ambient credentials (no cookies),
    // each one that needs a caller is signed, so any origin may call.
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.origin === undefined) return
      void reply.header('access-control-allow-origin', '*')
      void reply.header('access-control-expose-headers', 'content-type')
    })
    // [ACS-21] [REQ-6] A refusal that says when to retry carries it as Retry-After (RFC 9110 §10.2.3).
    app.addHook('onError', async (_request, reply, error) => {
      const seconds = (error as { retryAfterSeconds?: unknown }).retryAfterSeconds
      if (typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds > 0) void reply.header('retry-after', String(seconds))
    })
    app.options('/v1/*', { schema: { hide: true } }, async (_request, reply) => {
      return await reply.code(204)
        .header('access-control-allow-methods', 'GET, POST, PUT')
        .header('access-control-allow-headers', 'content-type, content-digest, signature-input, signature')
        .header('access-control-max-age', '600')
        .send()
    })

    // [ACS-14] Every refusal is `{ code, message }` with the code's HTTP status.
    app.setErrorHandler((err: FastifyError | GatemeshError, request, reply) => {
      const error = toGatemeshError(err)
      if (error.status >= 500) request.log.error({ err }, 'request failed')
      else request.log.info({ code: error.code }, 'request refused')
      void reply.code(error.status).type('application/json').send(JSON.stringify(error.toJSON()))
    })

    // [ACS-18] the network's CA, for clients to pin [ENV-10]; this gateway's collector and stream broker, if any
    const caCertificate = toBase64(this.components.caCertificate)
    app.get('/v1/network', { schema: networkSchema }, async () => {
      const collector = this.components.collector?.()
      const stream = this.components.stream?.()
      const streams = this.streams()
      return { caCertificate, ...(collector === undefined ? {} : { collector }), ...(stream === undefined ? {} : { stream }), ...(streams.length === 0 ? {} : { streams }) }
    })

    // [ACS-3]
    app.post<{ Body: { bundle: string } }>('/v1/accounts', { schema: createAccountSchema, onRequest: this.limitSignups }, async (request, reply) => {
      const pseudonym = await this.accounts.create(decodeBase64(request.body.bundle, 'bundle'))
      return await reply.code(201).send({ pseudonym })
    })

    // [ACS-4]
    app.get<{ Params: { pseudonym: string } }>('/v1/accounts/:pseudonym', { schema: getAccountSchema }, async (request) => {
      return { bundle: toBase64(await this.accounts.bundle(request.params.pseudonym)) }
    })

    // [ACS-7]
    app.put<{ Params: { id: string }, Body: { record: string } }>('/v1/sensors/:id', { schema: putSensorSchema }, async (request, reply) => {
      const caller = await this.caller(request)
      const result = await this.sensors.put(caller, request.params.id, decodeBase64(request.body.record, 'record'))
      try {
        this.init.onSensorStored?.(request.params.id)
      } catch (err) {
        request.log.warn({ err }, 'onSensorStored failed')
      }
      return await reply.code(result.created ? 201 : 200).send({ id: request.params.id, seq: result.seq })
    })

    // [ACS-8]
    app.get<{ Params: { id: string } }>('/v1/sensors/:id', { schema: getSensorSchema }, async (request) => {
      const caller = await this.caller(request)
      const info = await this.sensors.get(caller, request.params.id)
      // The record decoded canonically [ENC-3], so encoding it again gives the stored bytes.
      return { record: toBase64(encodeCanonical(info.record)) }
    })

    // [ACS-10]
    app.get('/v1/sensors', { schema: listSensorsSchema }, async (request) => {
      return await this.sensors.list(await this.caller(request))
    })

    // [ACS-9]
    app.get<{ Params: { id: string } }>('/v1/sensors/:id/latest', { schema: latestSchema }, async (request) => {
      const caller = await this.caller(request)
      const latest = await this.sensors.latest(caller, request.params.id)
      return { envelope: toBase64(latest.envelope), seq: latest.seq, ts: latest.ts, gatewayCert: toBase64(latest.gatewayCert) }
    })

    // [PER-50] a page of history from one of the sensor's replicas, for the owner and readers only
    app.get<{ Params: { id: string }, Querystring: HistoryQueryString }>('/v1/sensors/:id/history', { schema: historySchema }, async (request, reply) => {
      const caller = await this.caller(request)
      const sensorId = request.params.id
      const clock = this.components.now ?? Date.now
      // [PER-50] the caller must be on the sensor's current access list; for a caller answered
      // here a moment ago the replica is asked while that is checked, for any other only after
      const access = this.sensors.getForRead(caller, sensorId)
      if (!this.recentReaders.has(sensorId, caller, clock())) await access
      access.catch(() => {}) // awaited below, before anything is answered
      let query
      try {
        query = parseHistoryQuery(sensorId, request.query, clock())
      } catch (err) {
        await access
        throw err
      }
      const source = this.components.history
      if (source === undefined) {
        await access
        throw new GatemeshError('GM_ERR_HISTORY_UNAVAILABLE')
      }
      const fetching = source(sensorId, query, request.query.replica)
      fetching.catch(() => {})
      try {
        await access
      } catch (err) {
        this.recentReaders.forget(sensorId, caller)
        throw err
      }
      this.recentReaders.remember(sensorId, caller, clock())
      let page
      try {
        page = await fetching
      } catch (err) {
        // [PER-50] a replica that fails is the persistence service's trouble, not this caller's: a
        // 503 with a code, never a 500, nor a replica's own code passed on as if the request were wrong
        if (isGatemeshError(err) && PASSED_ON.has(err.code)) throw err
        throw new GatemeshError('GM_ERR_HISTORY_NO_REPLICA', undefined, { cause: err })
      }
      // [PER-56] the same answer as CBOR when the caller asks for it; JSON otherwise
      void reply.header('vary', 'accept')
      if (!acceptsHistoryCbor(request.headers.accept)) return historyAnswer(sensorId, query, page)
      const bytes = historyAnswerCbor(sensorId, query, page)
      return await reply.type(HISTORY_CBOR_TYPE).send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    })
  }

  /** Runs the service on a server of its own, with the OpenAPI document at /openapi.json. */
  async start (): Promise<void> {
    if (this.server !== undefined) return
    // [HTTP-1] .. [HTTP-3] timeouts, limits and transport errors shared by every gatemesh service
    const app = createHttpServer({ logger: this.components.logger as FastifyBaseLogger, bodyLimit: this.init.bodyLimit ?? DEFAULT_BODY_LIMIT })
    await registerOpenApi(app)
    app.setNotFoundHandler((_request, reply) => {
      void reply.code(404).type('application/json').send(JSON.stringify(new GatemeshError('GM_ERR_ACCESS_NOT_FOUND').toJSON()))
    })
    await app.register(this.plugin)
    if (this.init.webRoot !== undefined) {
      // [ACS-23] the page may open the stream peers' WebSockets (the `streams` of [ACS-18]), no other origin
      await registerWebApp(app, { root: this.init.webRoot, connectSrc: () => streamOrigins(this.streams()) })
    }
    await app.listen({ host: this.init.host ?? '127.0.0.1', port: this.init.port ?? 0 })
    const bound = app.server.address()
    const host = this.init.host ?? '127.0.0.1'
    this.address = `http://${host.includes(':') ? `[${host}]` : host}:${typeof bound === 'object' && bound !== null ? bound.port : 0}`
    this.server = app
  }

  async stop (): Promise<void> {
    const app = this.server
    this.server = undefined
    this.address = undefined
    await app?.close()
  }

  /** The base URL once started, e.g. `http://127.0.0.1:41234`. */
  get url (): string {
    if (this.address === undefined) throw new GatemeshError('GM_ERR_ACCESS_INTERNAL', 'The access service is not started.')
    return this.address
  }
}

/** Registers @fastify/swagger and GET /openapi.json on an app (once per app, before the routes). */
export async function registerOpenApi (app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'gatemesh Data Access service', version: '1', description: 'See docs/PROTOCOL.md for the clauses [ACS-n].' }
    }
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}

/** [ACS-18] The most stream peers `streams` lists (the client's bound). */
const MAX_STREAMS = 256

/**
 * [ACS-23] The origins of stream brokers' WebSocket URLs (`ws://host:port`), each once, as CSP
 * sources: only a plain ws/wss origin may reach the header, since a host the URL parser takes
 * (`a;sandbox`, `*`, `a,b`, `'self'`) would be policy syntax.
 */
function streamOrigins (streams: Array<{ ws: string }>): string[] {
  const origins = new Set<string>()
  for (const { ws } of streams) {
    const url = URL.parse(ws)
    if (url !== null && (url.protocol === 'ws:' || url.protocol === 'wss:') && isPlainOrigin(url.origin, 'ws')) origins.add(url.origin)
  }
  return [...origins]
}

export function createAccessService (components: AccessServiceComponents, init: AccessServiceInit = {}): AccessService {
  return new AccessService(components, init)
}
