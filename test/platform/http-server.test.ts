// The HTTP transport shared by the Data Access service and the CA's enrollment service
// ([HTTP-1] .. [HTTP-3]), over real sockets: what Node or Fastify refuse before a route answers
// with a GM_ERR_ code, and a 128-character sensor id reaches the access routes. (The
// collector's server, and the 15 s timeouts, are in test/collector/http-transport.test.ts.)
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CertificateAuthority, createCaServer, initCa, type CaServer } from '../../src/ca/index.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { rawExchange } from '../support/raw-http.ts'
import { startService, type Fixture } from '../access/helpers.ts'

async function get (port: number, path: string): Promise<Awaited<ReturnType<typeof rawExchange>>> {
  return await rawExchange(port, write => {
    write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    return undefined
  })
}

/** `prefix` + `/x` is a route with a parameter, or none (then an overlong segment is only not found). */
async function refusals (port: number, prefix: string, param: boolean): Promise<void> {
  const cases: Array<[string, number, string]> = [
    [`${prefix}/%E0%A4%A`, 400, 'GM_ERR_HTTP_MALFORMED'],
    [`${prefix}/${'a'.repeat(100_000)}`, 431, 'GM_ERR_HTTP_HEADERS_TOO_LARGE']
  ]
  if (param) cases.push([`${prefix}/${'a'.repeat(600)}`, 400, 'GM_ERR_HTTP_MALFORMED'])
  for (const [path, status, code] of cases) {
    const answer = await get(port, path)
    assert.equal(answer.status, status, `${path.slice(0, 40)}: ${answer.text.slice(0, 200)}`)
    assert.equal(answer.json?.code, code, answer.text.slice(0, 200))
  }
  const garbage = await rawExchange(port, write => { write('HELLO\r\n\r\n'); return undefined })
  assert.equal(garbage.status, 400)
  assert.equal(garbage.json?.code, 'GM_ERR_HTTP_MALFORMED')
}

describe('HTTP transport: Data Access service', () => {
  let f: Fixture
  before(async () => { f = await startService() })
  after(async () => { await f.service.stop() })

  it('answers refusals before a route with a code', async () => {
    await refusals(Number(new URL(f.url).port), '/v1/sensors', true)
  })

  it('routes sensor ids of 101 to 128 characters ([SEN-1]): an unsigned request is refused as unsigned', async () => {
    for (const length of [101, 128]) {
      const answer = await get(Number(new URL(f.url).port), `/v1/sensors/${'s'.repeat(length)}`)
      assert.equal(answer.status, 401, answer.text.slice(0, 200))
      assert.equal(answer.json?.code, 'GM_ERR_REQUEST_UNSIGNED')
    }
  })
})

describe('HTTP transport: CA enrollment service', () => {
  let dir: string
  let authority: CertificateAuthority
  let app: CaServer
  let port: number
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatemesh-http-transport-'))
    await initCa({ dir })
    authority = await CertificateAuthority.open({ dir })
    app = await createCaServer({ authority, logger: createLogger('ca-test', { level: 'silent' }) })
    port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port)
  })
  after(async () => {
    await app.close()
    authority.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers refusals before a route with a code', async () => {
    await refusals(port, '/v1/ca', false)
  })
})
