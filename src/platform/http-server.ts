/**
 * The HTTP server of every gatemesh service (the CA's enrollment service, Data Access, the
 * collector, the gateway's admin surface): Fastify with the transport rules of [HTTP-1] .. [HTTP-3], so that no answer leaves
 * without a `GM_ERR_` code and no client holds a connection longer than the rules allow. A
 * service registers its routes, parsers and error handler on what `createHttpServer` returns.
 */
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify from 'fastify'
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, RawServerDefault } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { GatemeshError } from '../core/errors.ts'

/** [HTTP-2] A request (line, headers and body) arrives within this time of its first byte, or of the connection's opening. */
export const REQUEST_TIMEOUT_MS = 15_000
/** [HTTP-2] A keep-alive connection idle this long after an answer is closed. */
export const IDLE_TIMEOUT_MS = 30_000
/**
 * [HTTP-3] The longest path segment routed to a handler (Fastify's default, 100, is below the
 * 128 characters of a sensor id, [SEN-1]); a route's schema then says what it accepts.
 */
export const MAX_PARAM_LENGTH = 512
/** How often Node looks for requests past their time: the timeouts hold to within this. */
const CHECK_INTERVAL_MS = 500

export interface HttpServerInit<L extends FastifyBaseLogger = FastifyBaseLogger> {
  /** Largest request body, in bytes. */
  bodyLimit: number
  /** Fastify's logger; none by default. */
  logger?: L
  /**
   * [HTTP-2] A connection silent both ways this long is closed (default REQUEST_TIMEOUT_MS): more
   * for a service whose handlers may wait longer before they answer (the admin surface's DHT
   * operations, [ADM-1]).
   */
  silenceTimeoutMs?: number
}

export type HttpServer<L extends FastifyBaseLogger = FastifyBaseLogger> = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>

function errorBody (error: GatemeshError): string {
  return JSON.stringify(error.toJSON())
}

/**
 * [HTTP-1] What Node's HTTP parser refuses before any route sees it (a malformed request line or
 * header, headers over 16 KiB, a request past [HTTP-2]'s time) is answered here, with a code.
 */
function onClientError (err: Error & { code?: string }, socket: Socket): void {
  // a reset connection has nobody to answer (https://nodejs.org/api/http.html#event-clienterror)
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const error = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? new GatemeshError('GM_ERR_HTTP_TIMEOUT', `A request arrives within ${REQUEST_TIMEOUT_MS / 1000} s.`)
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? new GatemeshError('GM_ERR_HTTP_HEADERS_TOO_LARGE', 'The request line and headers are at most 16 KiB.')
      : new GatemeshError('GM_ERR_HTTP_MALFORMED')
  if (socket.writable) {
    const body = errorBody(error)
    socket.write(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** [HTTP-1] What Fastify's router refuses before any route sees it: a path that does not decode, a segment too long. */
function onFrameworkError (err: FastifyError, _request: unknown, reply: FastifyReply): void {
  const error = err.code === 'FST_ERR_MAX_PARAM_LENGTH'
    ? new GatemeshError('GM_ERR_HTTP_MALFORMED', `A path segment is at most ${MAX_PARAM_LENGTH} characters.`)
    : err.code === 'FST_ERR_BAD_URL'
      ? new GatemeshError('GM_ERR_HTTP_MALFORMED', 'The path is not valid percent-encoded UTF-8.')
      : new GatemeshError('GM_ERR_HTTP_MALFORMED')
  void reply.code(error.status).type('application/json').send(errorBody(error))
}

/** A Fastify server with the transport rules of [HTTP-1] .. [HTTP-3]; not listening yet. */
export function createHttpServer<L extends FastifyBaseLogger = FastifyBaseLogger> (init: HttpServerInit<L>): HttpServer<L> {
  return Fastify<RawServerDefault, IncomingMessage, ServerResponse, L>({
    ...(init.logger === undefined ? { logger: false } : { loggerInstance: init.logger }),
    bodyLimit: init.bodyLimit,
    // [HTTP-2] Node checks every CHECK_INTERVAL_MS (30 s by default) for requests whose headers
    // (headersTimeout) or whole request (requestTimeout) took too long: a client trickling a
    // header every 2 s was cut off only at the next check, up to 45 s
    http: { headersTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: CHECK_INTERVAL_MS },
    requestTimeout: REQUEST_TIMEOUT_MS,
    // [HTTP-2] a connection that sends nothing at all is closed after this much silence
    connectionTimeout: init.silenceTimeoutMs ?? REQUEST_TIMEOUT_MS,
    keepAliveTimeout: IDLE_TIMEOUT_MS,
    // [HTTP-3]
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // [HTTP-1]
    clientErrorHandler: onClientError,
    frameworkErrors: onFrameworkError,
    // reject what a schema does not allow instead of silently repairing it
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false } }
  })
}
