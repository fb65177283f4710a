/**
 * The enrollment service [CA-3]..[CA-8]: a Fastify server over a CertificateAuthority. JSON Schema
 * on every route (validation, serialisation and /openapi.json), errors as `{ code, message }`.
 * GET /metrics: Prometheus text (enrollments and renewals by result, peers revoked, CRL number,
 * certificates issued, and Node's process metrics), from a registry of its own.
 */
import type { FastifyError, FastifyInstance, RawServerDefault } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import fastifySwagger from '@fastify/swagger'
import '../pki/index.ts'
import { GatemeshError, isGatemeshError } from '../core/errors.ts'
import type { Logger } from '../platform/logger.ts'
import { createHttpServer } from '../platform/http-server.ts'
import { Counter, Gauge, createMetricsRegistry, type Registry } from '../platform/metrics.ts'
import type { CertificateAuthority, IssuedCertificate } from './authority.ts'
import { certificatePem } from './directory.ts'
import { caSchema, crlSchema, enrollSchema, renewSchema } from './schemas.ts'

export interface CaServerInit {
  /** Largest request body accepted, in bytes; default 16 KiB. */
  bodyLimit?: number
}

export interface CaServerComponents {
  authority: CertificateAuthority
  logger: Logger
  /** The registry /metrics serves; a new one (with Node's process metrics) when absent. */
  metrics?: Registry
}

function fromBase64 (value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, 'base64'))
}

function toBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}

function issuedBody (issued: IssuedCertificate): Record<string, unknown> {
  return {
    certificate: toBase64(issued.certificate),
    caCertificate: toBase64(issued.caCertificate),
    peerId: issued.peerId,
    roles: issued.roles,
    serial: issued.serial,
    notAfter: issued.notAfter.toISOString()
  }
}

/** Maps anything thrown to a GatemeshError with a client-facing code. */
function toGatemeshError (err: FastifyError | GatemeshError): GatemeshError {
  if (isGatemeshError(err)) return err
  if (err.validation !== undefined) return new GatemeshError('GM_ERR_CA_REQUEST_MALFORMED', err.message)
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) return new GatemeshError('GM_ERR_CA_REQUEST_TOO_LARGE')
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || err.statusCode === 415) return new GatemeshError('GM_ERR_CA_UNSUPPORTED_MEDIA')
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return new GatemeshError('GM_ERR_CA_REQUEST_MALFORMED')
  return new GatemeshError('GM_ERR_CA_INTERNAL', undefined, { cause: err })
}

export type CaServer = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>

/** The CA's metrics: requests counted by the server, the rest read from the database at scrape time. */
function caMetrics (register: Registry, authority: CertificateAuthority): { requests: Counter<'op' | 'result'> } {
  const requests = new Counter({ name: 'gatemesh_ca_requests_total', help: 'Enrollment and renewal requests, by op (enroll, renew) and result (issued, or the GM_ERR_ code refusing it).', labelNames: ['op', 'result'], registers: [register] })
  new Gauge({ name: 'gatemesh_ca_revoked_peers', help: 'Peers revoked (every certificate of each is on the CRL while unexpired).', registers: [register], collect () { this.set(authority.metricsSnapshot().revokedPeers) } })
  new Gauge({ name: 'gatemesh_ca_certificates_issued', help: 'Gateway certificates issued, enrollments and renewals.', registers: [register], collect () { this.set(authority.metricsSnapshot().certificates) } })
  new Gauge({ name: 'gatemesh_ca_crl_number', help: 'Number of the newest CRL signed (0: none yet).', registers: [register], collect () { this.set(authority.metricsSnapshot().crlNumber) } })
  return { requests }
}

/** The op a request counts for in gatemesh_ca_requests_total, if any. */
function countedOp (url: string | undefined): 'enroll' | 'renew' | undefined {
  return url === '/v1/enroll' ? 'enroll' : url === '/v1/renew' ? 'renew' : undefined
}

export async function createCaServer (components: CaServerComponents, init: CaServerInit = {}): Promise<CaServer> {
  const { authority, logger } = components
  // [HTTP-1] .. [HTTP-3] timeouts, limits and transport errors shared by every gatemesh service
  const app = createHttpServer({ logger, bodyLimit: init.bodyLimit ?? 16 * 1024 })
  const register = components.metrics ?? createMetricsRegistry()
  const { requests } = caMetrics(register, authority)

  // JSON only: without this, Fastify would parse text/plain and answer with a schema error.
  app.removeContentTypeParser('text/plain')

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'gatemesh CA enrollment service', version: '1', description: 'See docs/PROTOCOL.md for the clauses [CA-n].' }
    }
  })

  // [CA-9] Every refusal is `{ code, message }` with the code's HTTP status.
  app.setErrorHandler((err: FastifyError | GatemeshError, request, reply) => {
    const error = toGatemeshError(err)
    const op = countedOp(request.routeOptions.url)
    if (op !== undefined) requests.inc({ op, result: error.code })
    if (error.status >= 500) request.log.error({ err }, 'request failed')
    else request.log.info({ code: error.code }, 'request refused')
    void reply.code(error.status).type('application/json').send(JSON.stringify(error.toJSON()))
  })
  app.setNotFoundHandler((_request, reply) => {
    void reply.code(404).type('application/json').send(JSON.stringify(new GatemeshError('GM_ERR_CA_NOT_FOUND').toJSON()))
  })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => await reply.type(register.contentType).send(await register.metrics()))

  // [CA-8]
  app.get('/v1/ca', { schema: caSchema }, async () => ({
    certificate: toBase64(authority.caCertificate),
    pem: certificatePem(authority.caCertificate)
  }))

  // [CA-3]
  app.post<{ Body: { token: string, csr: string } }>('/v1/enroll', { schema: enrollSchema }, async (request, reply) => {
    const issued = await authority.enroll(request.body.token, fromBase64(request.body.csr))
    requests.inc({ op: 'enroll', result: 'issued' })
    return await reply.code(201).send(issuedBody(issued))
  })

  // [CA-5]
  app.post<{ Body: { certificate: string, csr: string } }>('/v1/renew', { schema: renewSchema }, async (request) => {
    const issued = await authority.renew(fromBase64(request.body.certificate), fromBase64(request.body.csr))
    requests.inc({ op: 'renew', result: 'issued' })
    return issuedBody(issued)
  })

  // [CA-7] [CA-8]
  app.get('/v1/crl', { schema: crlSchema }, async (request, reply) => {
    const crl = await authority.currentCrl()
    void reply.header('cache-control', 'no-store')
    if (request.headers.accept?.includes('application/pkix-crl') === true) {
      return await reply.type('application/pkix-crl').send(Buffer.from(crl.der))
    }
    return { crl: toBase64(crl.der), number: crl.number, thisUpdate: crl.thisUpdate.toISOString(), nextUpdate: crl.nextUpdate.toISOString() }
  })

  return app
}
