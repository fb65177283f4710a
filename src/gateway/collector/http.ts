/**
 * HTTP ingest (Fastify): `POST /v1/sensors/:sensorId/readings` with `Authorization: Bearer
 * <credential>`; one reading or a batch; 202 once the readings are journaled. [COL-1] .. [COL-5]
 * JSON Schema on every route; the OpenAPI document at /openapi.json.
 */
import { timingSafeEqual } from 'node:crypto'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifySwagger from '@fastify/swagger'
import { GatemeshError, isGatemeshError, isSensorId } from '../../core/index.ts'
import type { SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import { createHttpServer } from '../../platform/http-server.ts'
import type { Ingest } from './ingest.ts'
import { readingsOfBody } from './reading-text.ts'
import { errorSchema, readingsSchema } from './schemas.ts'

export interface HttpIngestInit {
  maxBatch: number
  /** Largest request body, in bytes. */
  bodyLimit: number
}

/** [COL-2] Sensors whose proven credential a connection remembers at once (a proxy's connection may carry many). */
const MAX_PROOFS_PER_CONNECTION = 64

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

/** A request body, parsed: the readings it holds, each as the bytes the sensor sent ([COL-3], [COL-18]). */
class ReadingsBody {
  readonly plaintexts: Uint8Array[]
  constructor (plaintexts: Uint8Array[]) {
    this.plaintexts = plaintexts
  }
}

/** Builds (does not start) the collector's HTTP server. */
export async function createHttpIngest (ingest: Ingest, logger: Logger, init: HttpIngestInit): Promise<FastifyInstance> {
  // [COL-5] the timeouts, limits and transport errors of [HTTP-1] .. [HTTP-3]
  const app = createHttpServer({ bodyLimit: init.bodyLimit })
  // [COL-3] [COL-18] JSON only, kept as bytes: a reading is sealed as the sensor sent it
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: init.bodyLimit }, (_request, body, done) => {
    const bytes = body as Buffer
    let parsed: ReadingsBody
    try {
      parsed = new ReadingsBody(readingsOfBody(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), init.bodyLimit))
    } catch (err) {
      done(err as Error)
      return
    }
    done(null, parsed)
  })

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
    ingest.metrics.refused('http', error.code)
    if (error.status >= 500) logger.error({ code: error.code, err: error.cause instanceof Error ? error.cause.message : undefined }, 'request failed')
    else logger.debug({ code: error.code, sensor: (request.params as { sensorId?: string } | undefined)?.sensorId }, 'request refused')
    if (error.code === 'GM_ERR_SENSOR_RATE_LIMITED') void reply.header('retry-after', String(ingest.retryAfter((request.params as { sensorId: string }).sensorId, 1)))
    if (error.code === 'GM_ERR_SENSOR_CREDENTIAL') void reply.header('www-authenticate', 'Bearer realm="gatemesh-sensor"')
    void send(reply, error)
  })
  app.setNotFoundHandler((_request, reply) => {
    ingest.metrics.refused('http', 'GM_ERR_COLLECTOR_NOT_FOUND')
    void send(reply, new GatemeshError('GM_ERR_COLLECTOR_NOT_FOUND'))
  })

  /** The sensor each request authenticated as (set in onRequest, read by the handler). */
  const authenticated = new WeakMap<FastifyRequest, SensorInfo>()
  /**
   * [COL-2] Per connection and per sensor id, the credential a request proved and the verifier it
   * matched: the next requests of a keep-alive sensor skip the hash (~10 µs of CPU a request on
   * the 2-core test machine), as an MQTT session does after its CONNECT. A proof serves only the
   * sensor it was made for, on the same connection (a proxy may carry several sensors on one),
   * and is compared in constant time.
   */
  const proven = new WeakMap<Socket, Map<string, { credential: Buffer, verifier: Uint8Array }>>()

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
      let proofs = proven.get(socket)
      const proof = proofs?.get(sensorId)
      const presented = Buffer.from(credential, 'utf8')
      // the proof is passed on only once the credential is known to be the proven one
      const same = proof !== undefined && proof.credential.length === presented.length && timingSafeEqual(proof.credential, presented)
      const info = await ingest.authenticate(sensorId, credential, same ? proof.verifier : undefined)
      if (!same || proof.verifier !== info.verifier) {
        if (proofs === undefined) proven.set(socket, proofs = new Map())
        if (proofs.size >= MAX_PROOFS_PER_CONNECTION) proofs.clear()
        proofs.set(sensorId, { credential: presented, verifier: info.verifier })
      }
      authenticated.set(request, info)
    }
  }, async (request, reply) => {
    const sensor = authenticated.get(request) as SensorInfo
    const body = request.body
    if (!(body instanceof ReadingsBody)) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'The body holds no reading.')
    // [COL-3] [COL-18] the plaintext of a reading is its bytes as sent
    const plaintexts = body.plaintexts
    if (plaintexts.length === 0) throw new GatemeshError('GM_ERR_READING_MALFORMED', 'A batch holds at least one reading.')
    if (plaintexts.length > init.maxBatch) throw new GatemeshError('GM_ERR_READING_TOO_LARGE', `A batch holds at most ${init.maxBatch} readings.`)
    ingest.admit(sensor.sensorId, plaintexts.length)
    const accepted = await ingest.accept(sensor, plaintexts)
    ingest.metrics.accepted('http', plaintexts.length)
    // receipt (Fastify's start of the request) to the acknowledgement
    ingest.metrics.acknowledged('http', reply.elapsedTime / 1000)
    return await reply.code(202).send({ accepted: plaintexts.length, seq: accepted.seq, ts: accepted.ts })
  })

  return app
}
