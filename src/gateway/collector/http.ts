/**
 * HTTP ingest (Fastify): `POST /v1/sensors/:sensorId/readings` with `Authorization: Bearer
 * <credential>`; one reading or a batch; 202 once the readings are journaled. [COL-1] .. [COL-5]
 * JSON Schema on every route; the OpenAPI document at /openapi.json.
 */
import type { Socket } from 'node:net'
import Fastify from 'fastify'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifySwagger from '@fastify/swagger'
import { GatemeshError, isGatemeshError, isSensorId, utf8 } from '../../core/index.ts'
import type { SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { Ingest } from './ingest.ts'
import { errorSchema, readingsSchema } from './schemas.ts'

export interface HttpIngestInit {
  maxBatch: number
  /** Largest request body, in bytes. */
  bodyLimit: number
}

/** Maps anything thrown to a GatemeshError with a client-facing code. */
function toGatemeshError (err: FastifyError | GatemeshError): GatemeshError {
  if (isGatemeshError(err)) return err
  if (err.validation !== undefined) return new GatemeshError('GM_ERR_READING_MALFORMED', err.message)
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) return new GatemeshError('GM_ERR_READING_TOO_LARGE')
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415) return new GatemeshError('GM_ERR_READING_MEDIA_TYPE')
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new GatemeshError('GM_ERR_READING_MALFORMED', 'The body is not JSON.')
  return new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', undefined, { cause: err })
}

function send (reply: FastifyReply, error: GatemeshError): FastifyReply {
  return reply.code(error.status).type('application/json').send(JSON.stringify(error.toJSON()))
}

/** [COL-2] The credential from `Authorization: Bearer <credential>`. */
function bearer (request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header !== 'string') return undefined
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header)
  return match?.[1]
}

/** [COL-3] A batch is an object whose only member is `readings`, an array. */
function isBatch (body: unknown): body is { readings: unknown[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return false
  const keys = Object.keys(body)
  return keys.length === 1 && keys[0] === 'readings' && Array.isArray((body as { readings: unknown }).readings)
}

/** Builds (does not start) the collector's HTTP server. */
export async function createHttpIngest (ingest: Ingest, logger: Logger, init: HttpIngestInit): Promise<FastifyInstance> {
  // [COL-5] a sensor that trickles its request is cut off; idle keep-alive connections close
  const app = Fastify({
    logger: false,
    bodyLimit: init.bodyLimit,
    requestTimeout: 15_000,
    connectionTimeout: 30_000,
    keepAliveTimeout: 30_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } }
  })
  app.removeContentTypeParser('text/plain')

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'gatemesh collector', version: '1', description: 'Sensor ingest. See docs/PROTOCOL.md for the clauses [COL-n].' },
      components: { securitySchemes: { sensorCredential: { type: 'http', scheme: 'bearer', description: 'The sensor credential, gms_...' } } }
    }
  })

  // [COL-4] Every refusal is `{ code, message }` with the code's HTTP status.
  app.setErrorHandler((err: FastifyError | GatemeshError, request, reply) => {
    const error = toGatemeshError(err)
    if (error.status >= 500) logger.error({ code: error.code, err: error.cause instanceof Error ? error.cause.message : undefined }, 'request failed')
    else logger.debug({ code: error.code, sensor: (request.params as { sensorId?: string } | undefined)?.sensorId }, 'request refused')
    if (error.code === 'GM_ERR_SENSOR_RATE_LIMITED') void reply.header('retry-after', String(ingest.retryAfter((request.params as { sensorId: string }).sensorId, 1)))
    if (error.code === 'GM_ERR_SENSOR_CREDENTIAL') void reply.header('www-authenticate', 'Bearer realm="gatemesh-sensor"')
    void send(reply, error)
  })
  app.setNotFoundHandler((_request, reply) => { void send(reply, new GatemeshError('GM_ERR_COLLECTOR_NOT_FOUND')) })

  /** The sensor each request authenticated as (set in onRequest, read by the handler). */
  const authenticated = new WeakMap<FastifyRequest, SensorInfo>()
  /**
   * [COL-2] Per connection, the credential its last request proved, with the sensor and the
   * verifier it matched: the next requests of a keep-alive sensor skip the hash (~10 µs of CPU a
   * request on the 2-core test machine), as an MQTT session does after its CONNECT. Only a
   * request on the same connection is compared with it.
   */
  const proven = new WeakMap<Socket, { sensorId: string, credential: string, verifier: Uint8Array }>()

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  app.post<{ Params: { sensorId: string }, Body: unknown }>('/v1/sensors/:sensorId/readings', {
    schema: readingsSchema(init.maxBatch, errorSchema),
    // [COL-2] authenticate before the body is read: a stranger's body costs nothing
    onRequest: async (request) => {
      const { sensorId } = request.params
      if (!isSensorId(sensorId)) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'Sensor ids are 1 to 128 of [A-Za-z0-9._-].')
      const credential = bearer(request)
      if (credential === undefined) throw new GatemeshError('GM_ERR_SENSOR_CREDENTIAL', 'Send Authorization: Bearer <credential>.')
      const socket = request.raw.socket
      const known = proven.get(socket)
      const info = await ingest.authenticate(sensorId, credential, known?.sensorId === sensorId ? known : undefined)
      if (known?.sensorId !== sensorId || known.credential !== credential || known.verifier !== info.verifier) proven.set(socket, { sensorId, credential, verifier: info.verifier })
      authenticated.set(request, info)
    }
  }, async (request, reply) => {
    const sensor = authenticated.get(request) as SensorInfo
    const body = request.body
    if (body === undefined) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'The body holds no reading.')
    const values = isBatch(body) ? body.readings : [body]
    if (values.length === 0) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'A batch holds at least one reading.')
    if (values.length > init.maxBatch) throw new GatemeshError('GM_ERR_READING_TOO_LARGE', `A batch holds at most ${init.maxBatch} readings.`)
    // [COL-3] the plaintext of a reading is its compact JSON text
    const plaintexts = values.map(value => utf8(JSON.stringify(value)))
    ingest.admit(sensor.sensorId, plaintexts.length)
    const accepted = await ingest.accept(sensor, plaintexts)
    return await reply.code(202).send({ accepted: plaintexts.length, seq: accepted.seq, ts: accepted.ts })
  })

  return app
}
