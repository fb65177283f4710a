// The web application as an access gateway serves it [ACS-23], over real HTTP on 127.0.0.1: the
// caching and security headers of index.html and of a hashed asset, the 404 with a code when no
// build exists, the collector's and the stream broker's listeners in GET /v1/network [ACS-18],
// and the stream WebSockets' origins (its own broker's and the other stream peers' it knows,
// [STR-49]), and nothing else, added to the page's connect-src.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib'
import { get } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '../../src/client/index.ts'
import { isGatemeshError } from '../../src/core/index.ts'
import { createAccessService } from '../../src/gateway/access/index.ts'
import type { AccessService } from '../../src/gateway/access/index.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { MemoryDht, certifiedKey, networkCa, suite } from './helpers.ts'

const logger = createLogger('test:access-web', { level: process.env.GATEMESH_LOG_LEVEL ?? 'silent' })

type Listeners = { mqtt: string, ws: string }

async function start (webRoot: string | undefined, collector?: { http: string, mqtt: string }, stream?: () => Listeners | undefined, streamPeers?: () => Listeners[]): Promise<AccessService> {
  const ca = await networkCa()
  const { signer, certificate } = await certifiedKey(ca, ['collector', 'access'])
  const service = createAccessService({
    suite, dht: new MemoryDht(), logger, signer, certificate, caCertificate: ca.certificate,
    ...(collector === undefined ? {} : { collector: () => collector }),
    ...(stream === undefined ? {} : { stream }),
    ...(streamPeers === undefined ? {} : { streamPeers })
  }, { webRoot })
  await service.start()
  return service
}

function assertSecurityHeaders (headers: Headers, connectSrc = "connect-src 'self'"): void {
  const csp = headers.get('content-security-policy') ?? ''
  for (const directive of ["default-src 'self'", "script-src 'self'", connectSrc, "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) {
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
  let streaming: AccessService
  let streamListeners: { mqtt: string, ws: string } | undefined
  let relayed: AccessService
  let peers: Listeners[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-web-'))
    await mkdir(join(dir, 'dist', 'assets'), { recursive: true })
    await writeFile(join(dir, 'dist', 'index.html'), '<!doctype html><title>gatemesh</title><script type="module" src="/assets/index-AbC123.js"></script>')
    await writeFile(join(dir, 'dist', 'assets', 'index-AbC123.js'), 'console.log("app")')
    // as the build writes them beside each asset
    await writeFile(join(dir, 'dist', 'assets', 'index-AbC123.js.br'), brotliCompressSync('console.log("app")'))
    await writeFile(join(dir, 'dist', 'assets', 'index-AbC123.js.gz'), gzipSync('console.log("app")'))
    built = await start(join(dir, 'dist'), { http: 'http://127.0.0.1:8080', mqtt: 'mqtt://127.0.0.1:1883' })
    unbuilt = await start(join(dir, 'missing'))
    // the broker's listeners are asked at each answer (undefined before it listens)
    streaming = await start(join(dir, 'dist'), undefined, () => streamListeners)
    // [STR-49] no broker of its own; the network's stream peers it knows, asked at each answer
    relayed = await start(join(dir, 'dist'), undefined, undefined, () => peers)
  })
  after(async () => {
    await built?.stop()
    await unbuilt?.stop()
    await streaming?.stop()
    await relayed?.stop()
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

  /** A GET whose body is not decoded (fetch would undo the content encoding). */
  async function raw (url: string, acceptEncoding: string): Promise<{ status: number, headers: IncomingHttpHeaders, body: Buffer }> {
    return await new Promise((resolve, reject) => {
      get(url, { headers: { 'accept-encoding': acceptEncoding } }, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
      }).on('error', reject)
    })
  }

  it('sends an asset compressed as the build stored it, by Accept-Encoding, and as is to a client that accepts neither', async () => {
    for (const [accept, encoding, decode] of [['br', 'br', brotliDecompressSync], ['gzip', 'gzip', gunzipSync]] as const) {
      const res = await raw(`${built.url}/assets/index-AbC123.js`, accept)
      assert.equal(res.status, 200, accept)
      assert.equal(res.headers['content-encoding'], encoding)
      assert.match(String(res.headers.vary), /accept-encoding/i)
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable')
      assert.match(String(res.headers['content-type']), /javascript/)
      assert.equal(decode(res.body).toString(), 'console.log("app")')
    }
    const plain = await raw(`${built.url}/assets/index-AbC123.js`, 'identity')
    assert.equal(plain.headers['content-encoding'], undefined)
    assert.equal(plain.body.toString(), 'console.log("app")')
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

  it('tells applications its stream broker, and lets the page open that WebSocket origin only [ACS-18] [ACS-23]', async () => {
    streamListeners = undefined
    const before = await fetch(`${streaming.url}/`)
    assertSecurityHeaders(before.headers)
    await before.arrayBuffer()
    assert.deepEqual(Object.keys(await (await fetch(`${streaming.url}/v1/network`)).json() as object), ['caCertificate'])

    streamListeners = { mqtt: 'mqtt://127.0.0.1:1884', ws: 'ws://127.0.0.1:8884/mqtt' }
    const answer = await (await fetch(`${streaming.url}/v1/network`)).json() as Record<string, unknown>
    assert.deepEqual(answer.stream, streamListeners)
    assert.equal(answer.collector, undefined)
    for (const path of ['/', '/assets/index-AbC123.js']) {
      const res = await fetch(`${streaming.url}${path}`)
      assert.equal(res.status, 200)
      // exactly this origin (no path, no other scheme, no wildcard)
      assertSecurityHeaders(res.headers, "connect-src 'self' ws://127.0.0.1:8884")
      await res.arrayBuffer()
    }
    // the client returns it as NetworkInfo.stream
    const network = await createClient({ gateway: streaming.url }).network()
    assert.deepEqual(network.stream, streamListeners)
    assert.equal(network.collector, undefined)
    // and a gateway without stream still says 'self' only
    const plain = await fetch(`${built.url}/`)
    assertSecurityHeaders(plain.headers)
    assert.doesNotMatch(plain.headers.get('content-security-policy') ?? '', /ws:/)
    await plain.arrayBuffer()
  })

  it('lists the other stream peers it knows, and lets the page open exactly their WebSocket origins [ACS-18] [ACS-23] [STR-49]', async () => {
    const csp = async (service: AccessService): Promise<Headers> => {
      const res = await fetch(`${service.url}/`)
      assert.equal(res.status, 200)
      await res.arrayBuffer()
      return res.headers
    }
    peers = []
    assertSecurityHeaders(await csp(relayed))
    assert.deepEqual(Object.keys(await (await fetch(`${relayed.url}/v1/network`)).json() as object), ['caCertificate'])

    const other = { mqtt: 'mqtt://10.1.2.3:1883', ws: 'ws://10.1.2.3:8883/mqtt' }
    const third = { mqtt: 'mqtts://stream.example:8883', ws: 'wss://stream.example/mqtt' }
    peers = [other, third]
    const answer = await (await fetch(`${relayed.url}/v1/network`)).json() as Record<string, unknown>
    assert.equal(answer.stream, undefined, 'no broker of its own')
    assert.deepEqual(answer.streams, [other, third])
    // exactly these two origins (no path, no other scheme, no wildcard), in the order listed
    assertSecurityHeaders(await csp(relayed), "connect-src 'self' ws://10.1.2.3:8883 wss://stream.example")
    const network = await createClient({ gateway: relayed.url }).network()
    assert.deepEqual(network.streams, [other, third])
    assert.equal(network.stream, undefined)

    // a peer gone is gone from the next answer and the next page's CSP
    peers = [third]
    assertSecurityHeaders(await csp(relayed), "connect-src 'self' wss://stream.example")
    assert.doesNotMatch((await csp(relayed)).get('content-security-policy') ?? '', /10\.1\.2\.3/)

    // with a broker of its own: that one first, each WebSocket once
    streamListeners = { mqtt: 'mqtt://127.0.0.1:1884', ws: 'ws://127.0.0.1:8884/mqtt' }
    const both = await start(join(dir, 'dist'), undefined, () => streamListeners, () => [third, streamListeners as Listeners])
    try {
      const listed = await (await fetch(`${both.url}/v1/network`)).json() as Record<string, unknown>
      assert.deepEqual(listed.streams, [streamListeners, third])
      assertSecurityHeaders(await csp(both), "connect-src 'self' ws://127.0.0.1:8884 wss://stream.example")
    } finally {
      await both.stop()
      streamListeners = undefined
      peers = []
    }
  })

  it('lets nothing but a plain ws/wss origin reach the connect-src, and lists at most 256 stream peers [ACS-18] [ACS-23] [STR-49]', async () => {
    // whatever the stream peer directory lets through: a host the URL parser takes but that is policy syntax
    const good = { mqtt: 'mqtt://10.1.2.3:1883', ws: 'wss://gw-1.example.net:8883/mqtt' }
    peers = ['ws://evil.example;sandbox', 'wss://*', 'ws://a,script-src', "ws://'self'", 'ws://a%3bsandbox', 'javascript:alert(1)', 'data:,x']
      .map((ws, i) => ({ mqtt: `mqtt://10.9.9.${i}:1883`, ws }))
    peers.push(good)
    const res = await fetch(`${relayed.url}/`)
    await res.arrayBuffer()
    assertSecurityHeaders(res.headers, "connect-src 'self' wss://gw-1.example.net:8883")
    // [ACS-18] the client's bound: a longer list would make every application refuse the answer
    peers = Array.from({ length: 300 }, (_, i) => ({ mqtt: `mqtt://10.0.${i >> 8}.${i & 255}:1883`, ws: `ws://10.0.${i >> 8}.${i & 255}:8883/mqtt` }))
    const network = await createClient({ gateway: relayed.url }).network()
    assert.equal(network.streams?.length, 256)
    peers = []
  })

  it('has the client refuse a streams field that is not a list of mqtt:// and ws:// URLs [ACS-18] [STR-49]', async () => {
    for (const bad of [[{ mqtt: 'mqtt://127.0.0.1:1', ws: 'http://127.0.0.1:2' }], [{ mqtt: 'ws://127.0.0.1:1', ws: 'ws://127.0.0.1:2' }]]) {
      peers = bad
      await assert.rejects(createClient({ gateway: relayed.url }).network(), (err: unknown) => isGatemeshError(err, 'GM_ERR_CLIENT_BAD_RESPONSE') && /streams/.test(err.message))
    }
    peers = []
  })

  it('has the client refuse a stream field that is not an mqtt:// and a ws:// URL [ACS-18]', async () => {
    for (const bad of [{ mqtt: 'http://127.0.0.1:1', ws: 'ws://127.0.0.1:2/mqtt' }, { mqtt: 'mqtt://127.0.0.1:1', ws: 'http://127.0.0.1:2' }]) {
      streamListeners = bad
      await assert.rejects(createClient({ gateway: streaming.url }).network(), (err: unknown) => isGatemeshError(err, 'GM_ERR_CLIENT_BAD_RESPONSE') && /stream/.test(err.message))
    }
    streamListeners = undefined
  })
})
