/**
 * [ADM-1] The admin surface: HTTP for operators, monitoring and tests, on 127.0.0.1 unless
 * `--admin-host` says otherwise. It carries no secrets but is unauthenticated: whoever reaches it
 * can also put DHT records, read the gateway's topology and trigger CRL syncs and republishing.
 *
 *   GET  /v1/status                   peer id, addresses, services, DHT peers (`routingTable`), verified peers, CRL number,
 *                                     and each service's counters (`serviceStatus`: the collector's readings awaiting sinks)
 *   PUT  /v1/dht/<namespace>/<id>     body: the raw record (application/octet-stream) -> {accepted, contacted}
 *   GET  /v1/dht/<namespace>/<id>     the raw record; ?local=1 reads this peer's copy only;
 *                                     header x-gatemesh-contacted: peers the lookup queried
 *   GET  /v1/peers?role=R&key=K&count=N   verified peers with role R nearest key K
 *   POST /v1/crl/sync                 fetch the CRL (CA, then DHT) now
 *   POST /v1/republish                republish every held record now
 *   GET  /metrics                     Prometheus text exposition of the gateway's registry
 *   GET  /healthz                     200 {"status":"ok"} while the process serves
 *   GET  /readyz                      [ADM-2] 200 {"status":"ready"} once every enabled service started and the
 *                                     overlay joined; else 503 {"status":"not ready","reason":...}
 * Errors are JSON {code, message} with the code's HTTP status, also for an unknown route
 * (GM_ERR_ADMIN_NOT_FOUND) and what no route sees (the codes of [HTTP-1]).
 */
import { GatemeshError, isGatemeshError } from '../core/index.ts'
import { assertRole } from '../overlay/index.ts'
import type { OverlayNode } from '../overlay/index.ts'
import { createHttpServer } from '../platform/http-server.ts'
import type { Registry } from '../platform/metrics.ts'

export interface AdminServer {
  url: string
  close: () => Promise<void>
}

function keyFrom (wildcard: string | undefined): string {
  return `/${wildcard ?? ''}`
}

/** How long a DHT put or get of the admin API may take. */
const DHT_TIMEOUT_MS = 30_000

export interface AdminInit {
  /** Bind address (default 127.0.0.1). */
  host?: string
  /** Each running service's counters, by service name. */
  serviceStatus?: () => Record<string, unknown>
  /** The gateway's Prometheus registry, served at /metrics (404 without one). */
  metrics?: Registry
  /** Whether the gateway is ready (/readyz), and why not; ready when absent. */
  ready?: () => { ready: boolean, reason?: string }
}

export async function startAdmin (overlay: OverlayNode, port: number, init: AdminInit = {}): Promise<AdminServer> {
  // [HTTP-1] .. [HTTP-3] as every gatemesh service (a path that does not decode, a request line
  // that does not parse: a code), except that a DHT operation may keep a request silent up to
  // DHT_TIMEOUT_MS before its answer
  const app = createHttpServer({ bodyLimit: 1024 * 1024, silenceTimeoutMs: DHT_TIMEOUT_MS + 5000 })
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).type('application/json').send(JSON.stringify(new GatemeshError('GM_ERR_ADMIN_NOT_FOUND').toJSON()))
  })
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body) })
  app.setErrorHandler((err: Error, _req, reply) => {
    if (isGatemeshError(err)) return reply.status(err.status).send(err.toJSON())
    const status = (err as { statusCode?: number }).statusCode ?? 500
    return reply.status(status).send({ code: status < 500 ? 'GM_ERR_ADMIN_BAD_REQUEST' : 'GM_ERR_ADMIN_INTERNAL', message: err.message })
  })

  app.get('/v1/status', async () => ({
    peerId: overlay.peerId,
    addrs: overlay.addresses(),
    services: overlay.services(),
    // verified peers connected on the DHT protocol (the overlay's own table; kad-dht's is private)
    routingTable: overlay.dhtPeers(),
    verifiedPeers: overlay.verifiedPeers().map(c => ({ peerId: c.peerId, roles: c.roles, services: c.services })),
    crl: overlay.currentRevocationList()?.number ?? null,
    serviceStatus: init.serviceStatus?.() ?? {}
  }))

  app.put<{ Params: { '*': string } }>('/v1/dht/*', async (req) => {
    const body = req.body
    if (!(body instanceof Uint8Array)) return await Promise.reject(Object.assign(new Error('Send the record as application/octet-stream.'), { statusCode: 400 }))
    return await overlay.put(keyFrom(req.params['*']), new Uint8Array(body), { signal: AbortSignal.timeout(DHT_TIMEOUT_MS) })
  })

  app.get<{ Params: { '*': string }, Querystring: { local?: string } }>('/v1/dht/*', {
    schema: { querystring: { type: 'object', properties: { local: { type: 'string', enum: ['0', '1'] } }, additionalProperties: false } }
  }, async (req, reply) => {
    const { value, contacted } = await overlay.get(keyFrom(req.params['*']), { local: req.query.local === '1', signal: AbortSignal.timeout(DHT_TIMEOUT_MS) })
    return await reply.header('content-type', 'application/octet-stream').header('x-gatemesh-contacted', String(contacted)).send(Buffer.from(value))
  })

  app.get<{ Querystring: { role: string, key: string, count?: string } }>('/v1/peers', {
    schema: {
      querystring: {
        type: 'object',
        required: ['role', 'key'],
        // the server does not coerce types: count is the query's text, 1 to 100
        properties: { role: { type: 'string' }, key: { type: 'string', maxLength: 256 }, count: { type: 'string', pattern: '^([1-9][0-9]?|100)$' } },
        additionalProperties: false
      }
    }
  }, async (req) => {
    assertRole(req.query.role)
    const peers = await overlay.findPeersByRole(req.query.role, req.query.key, req.query.count === undefined ? 3 : Number(req.query.count))
    return { peers: peers.map(c => ({ peerId: c.peerId, roles: c.roles, services: c.services })) }
  })

  app.post('/v1/crl/sync', async () => {
    await overlay.syncRevocations()
    return { crl: overlay.currentRevocationList()?.number ?? null }
  })

  app.post('/v1/republish', async () => ({ republished: await overlay.republishAll() }))

  const metrics = init.metrics
  if (metrics !== undefined) {
    app.get('/metrics', async (_req, reply) => await reply.type(metrics.contentType).send(await metrics.metrics()))
  }
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    const state = init.ready?.() ?? { ready: true }
    return await reply.code(state.ready ? 200 : 503).send(state.ready ? { status: 'ready' } : { status: 'not ready', reason: state.reason })
  })

  const host = init.host ?? '127.0.0.1'
  await app.listen({ host, port })
  const bound = app.server.address()
  // the URL for this machine: a wildcard bind is reached through loopback
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const url = `http://${shown.includes(':') ? `[${shown}]` : shown}:${typeof bound === 'object' && bound !== null ? bound.port : port}`
  return { url, close: async () => { await app.close() } }
}
