/**
 * [ACS-23] The web application (web/, built to web/dist by `npm run build:web`), served by every
 * access gateway at `/`: hashed assets immutable for a year, index.html revalidated every time,
 * and a Content-Security-Policy that lets the page talk to this origin only (and to this gateway's
 * stream WebSocket, when it runs one). Without a build, `/` answers GM_ERR_ACCESS_WEB_NOT_BUILT
 * (404), never a 500.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'
import { GatemeshError } from '../../core/index.ts'

export interface WebAppInit {
  /** The built application: a directory with index.html and assets/ (absolute). */
  root: string
  /** Origins beyond 'self' the page may connect to (this gateway's stream WebSocket), asked at each answer. */
  connectSrc?: () => string[]
}

/** [ACS-23] No script, style, image, font or connection from any origin but this one; no framing, no plugins. */
export function contentSecurityPolicy (connectSrc: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src ${["'self'", ...connectSrc].join(' ')}`,
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'"
  ].join('; ')
}

function securityHeaders (reply: FastifyReply, csp: string): void {
  void reply.header('content-security-policy', csp)
  void reply.header('x-content-type-options', 'nosniff')
  void reply.header('referrer-policy', 'no-referrer')
  void reply.header('x-frame-options', 'DENY')
  void reply.header('cross-origin-opener-policy', 'same-origin')
  void reply.header('cross-origin-resource-policy', 'same-origin')
  void reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()')
}

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>gatemesh: web application not built</title>
<h1>The web application is not built</h1>
<p>This gateway serves the gatemesh web application from <code>web/dist</code>, which does not exist.
Run <code>npm run build:web</code> in the gatemesh checkout (npm start does it for you), then reload.</p>
<p>Code: GM_ERR_ACCESS_WEB_NOT_BUILT</p>
</html>
`

/** Registers `/` and `/assets/*` on an access service's own server (not inside the API plugin). */
export async function registerWebApp (app: FastifyInstance, init: WebAppInit): Promise<void> {
  const csp = (): string => contentSecurityPolicy(init.connectSrc?.())
  const index = join(init.root, 'index.html')
  const assets = join(init.root, 'assets')
  // hashed file names: a changed file is a new URL, so a year and immutable are safe
  await app.register(fastifyStatic, {
    root: assets,
    prefix: '/assets/',
    index: false,
    wildcard: true,
    dotfiles: 'deny',
    decorateReply: true,
    cacheControl: false,
    // the `.br` / `.gz` the build wrote beside each asset, by the request's Accept-Encoding (with
    // `Vary: Accept-Encoding`); the file itself to a client that accepts neither
    preCompressed: true,
    // also called for index.html, sent by sendFile below: revalidated on every load, so a new build is picked up at once
    setHeaders: (reply, path) => {
      securityHeaders(reply, csp())
      void reply.header('cache-control', path === index ? 'no-cache' : 'public, max-age=31536000, immutable')
    }
  })
  const serveIndex = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    securityHeaders(reply, csp())
    void reply.header('cache-control', 'no-cache')
    if (!existsSync(index)) {
      const error = new GatemeshError('GM_ERR_ACCESS_WEB_NOT_BUILT')
      const wantsHtml = (request.headers.accept ?? '').includes('text/html')
      return await reply.code(error.status).type(wantsHtml ? 'text/html; charset=utf-8' : 'application/json')
        .send(wantsHtml ? NOT_BUILT_PAGE : JSON.stringify(error.toJSON()))
    }
    return await reply.sendFile('index.html', init.root, { cacheControl: false })
  }
  app.get('/', { schema: { hide: true } }, serveIndex)
  app.get('/index.html', { schema: { hide: true } }, serveIndex)
}
