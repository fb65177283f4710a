// The web application as an access gateway serves it [ACS-23], over real HTTP on 127.0.0.1: the
// caching and security headers of index.html and of a hashed asset, the 404 with a code when no
// build exists, and the collector's listeners in GET /v1/network [ACS-18].
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAccessService } from '../../src/gateway/access/index.ts'
import type { AccessService } from '../../src/gateway/access/index.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { MemoryDht, certifiedKey, networkCa, suite } from './helpers.ts'

const logger = createLogger('test:access-web', { level: process.env.GATEMESH_LOG_LEVEL ?? 'silent' })

async function start (webRoot: string | undefined, collector?: { http: string, mqtt: string }): Promise<AccessService> {
  const ca = await networkCa()
  const { signer, certificate } = await certifiedKey(ca, ['collector', 'access'])
  const service = createAccessService({
    suite, dht: new MemoryDht(), logger, signer, certificate, caCertificate: ca.certificate,
    ...(collector === undefined ? {} : { collector: () => collector })
  }, { webRoot })
  await service.start()
  return service
}

function assertSecurityHeaders (headers: Headers): void {
  const csp = headers.get('content-security-policy') ?? ''
  for (const directive of ["default-src 'self'", "script-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) {
    assert.ok(csp.split('; ').includes(directive), `CSP has ${directive}: ${csp}`)
  }
  assert.doesNotMatch(csp, /unsafe-|https?:|\*/, 'no unsafe source, no other origin, no wildcard')
  assert.equal(headers.get('x-content-type-options'), 'nosniff')
  assert.equal(headers.get('x-frame-options'), 'DENY')
  assert.equal(headers.get('referrer-policy'), 'no-referrer')
}

describe('the web application at / [ACS-23]', () => {
  let dir: string
  let built: AccessService
  let unbuilt: AccessService

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-web-'))
    await mkdir(join(dir, 'dist', 'assets'), { recursive: true })
    await writeFile(join(dir, 'dist', 'index.html'), '<!doctype html><title>gatemesh</title><script type="module" src="/assets/index-AbC123.js"></script>')
    await writeFile(join(dir, 'dist', 'assets', 'index-AbC123.js'), 'console.log("app")')
    built = await start(join(dir, 'dist'), { http: 'http://127.0.0.1:8080', mqtt: 'mqtt://127.0.0.1:1883' })
    unbuilt = await start(join(dir, 'missing'))
  })
  after(async () => {
    await built?.stop()
    await unbuilt?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('serves index.html revalidated on every load, with a strict CSP', async () => {
    for (const path of ['/', '/index.html']) {
      const res = await fetch(`${built.url}${path}`)
      assert.equal(res.status, 200, path)
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/)
      assert.equal(res.headers.get('cache-control'), 'no-cache')
      assertSecurityHeaders(res.headers)
      assert.match(await res.text(), /<title>gatemesh<\/title>/)
    }
  })

  it('serves hashed assets immutable for a year, and a missing one as a 404', async () => {
    const res = await fetch(`${built.url}/assets/index-AbC123.js`)
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /javascript/)
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable')
    assertSecurityHeaders(res.headers)
    const missing = await fetch(`${built.url}/assets/nothing-here.js`)
    assert.equal(missing.status, 404)
    await missing.arrayBuffer()
    const escape = await fetch(`${built.url}/assets/..%2f..%2findex.html`)
    assert.notEqual(escape.status, 200)
    await escape.arrayBuffer()
  })

  it('answers / without a build with a 404 that says what to run, as JSON or as a page', async () => {
    const json = await fetch(`${unbuilt.url}/`)
    assert.equal(json.status, 404)
    const body = await json.json() as { code: string, message: string }
    assert.equal(body.code, 'GM_ERR_ACCESS_WEB_NOT_BUILT')
    assert.match(body.message, /npm run build:web/)
    const page = await fetch(`${unbuilt.url}/`, { headers: { accept: 'text/html' } })
    assert.equal(page.status, 404)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assertSecurityHeaders(page.headers)
    const text = await page.text()
    assert.match(text, /npm run build:web/)
    assert.match(text, /GM_ERR_ACCESS_WEB_NOT_BUILT/)
  })

  it('tells applications the collector of its gateway in GET /v1/network [ACS-18]', async () => {
    const withCollector = await (await fetch(`${built.url}/v1/network`)).json() as Record<string, unknown>
    assert.deepEqual(withCollector.collector, { http: 'http://127.0.0.1:8080', mqtt: 'mqtt://127.0.0.1:1883' })
    const without = await (await fetch(`${unbuilt.url}/v1/network`)).json() as Record<string, unknown>
    assert.deepEqual(Object.keys(without), ['caCertificate'])
  })
})
