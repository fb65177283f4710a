// The collector over HTTP with real sockets: single readings and batches, every refusal with its
// code, envelopes that open to the exact reading for each recipient, access-list changes, and a
// marker reading that never reaches the disk or the logs in plaintext.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { Agent, request as httpRequest } from 'node:http'
import { promisify } from 'node:util'
import { fromUtf8, isGatemeshError } from '../../src/core/index.ts'
import { post, startFixture, url, type Fixture } from './helpers.ts'

const run = promisify(execFile)

describe('collector over HTTP', { timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture({ rateLimit: { perSecond: 2, burst: 20 } }) })
  after(async () => { await f.close() })

  it('accepts one reading with 202 and seals it for the owner and every reader', async () => {
    const reading = { temperature: 21.5, humidity: 40 }
    const before = f.handed.length
    const res = await post(url(f), JSON.stringify(reading), { authorization: `Bearer ${f.credential}` })
    assert.equal(res.status, 202)
    assert.equal(res.json.accepted, 1)
    assert.equal(typeof res.json.seq, 'number')
    // [COL-7] sealed and handed off after the answer (the crash test in lifecycle.test.ts holds the promise)
    await f.handedOff(before + 1)
    const sealed = f.handed.at(-1)!
    assert.equal(sealed.seq, res.json.seq)
    assert.equal(f.offers.at(-1)?.seq, res.json.seq)
    for (const who of [f.owner, ...f.readers]) {
      const opened = await f.opener(who).open(sealed.envelope)
      assert.equal(fromUtf8(opened.plaintext), JSON.stringify(reading))
      assert.equal(opened.header.sensor, f.sensorId)
      assert.equal(opened.header.seq, sealed.seq)
    }
  })

  it('accepts a batch with consecutive seqs, and any JSON value as a reading', async () => {
    const readings = [1, 'two', null, [3], { readings: 'not a batch' }]
    const before = f.handed.length
    const res = await post(url(f), JSON.stringify({ readings }), { authorization: `Bearer ${f.credential}` })
    assert.equal(res.status, 202)
    assert.equal(res.json.accepted, readings.length)
    await f.handedOff(before + readings.length)
    const got = f.handed.slice(before).sort((a, b) => a.seq - b.seq)
    assert.deepEqual(got.map(r => r.seq), readings.map((_, i) => (res.json.seq as number) - readings.length + 1 + i))
    const opener = f.opener(f.owner)
    const plain = await Promise.all(got.map(async r => fromUtf8((await opener.open(r.envelope)).plaintext)))
    assert.deepEqual(plain, readings.map(r => JSON.stringify(r)))
  })

  it('refuses with a code: no or wrong credential, unknown sensor, bad id, bad body', async () => {
    const cases: Array<[string, string, Record<string, string>, number, string]> = [
      [url(f), '{"t":1}', {}, 401, 'GM_ERR_SENSOR_CREDENTIAL'],
      [url(f), '{"t":1}', { authorization: 'Bearer gms_' + 'A'.repeat(43) }, 401, 'GM_ERR_SENSOR_CREDENTIAL'],
      [url(f), '{"t":1}', { authorization: 'Basic abc' }, 401, 'GM_ERR_SENSOR_CREDENTIAL'],
      [url(f).replace(f.sensorId, 'nobody'), '{"t":1}', { authorization: `Bearer ${f.credential}` }, 404, 'GM_ERR_SENSOR_UNKNOWN'],
      [url(f).replace(f.sensorId, 'dht-down'), '{"t":1}', { authorization: `Bearer ${f.credential}` }, 503, 'GM_ERR_SENSOR_DIRECTORY'],
      [url(f).replace(f.sensorId, 'bad%20id'), '{"t":1}', { authorization: `Bearer ${f.credential}` }, 400, 'GM_ERR_READING_MALFORMED'],
      [url(f), '{"t":', { authorization: `Bearer ${f.credential}` }, 400, 'GM_ERR_READING_MALFORMED'],
      [url(f), '{"__proto__":{"x":1}}', { authorization: `Bearer ${f.credential}` }, 400, 'GM_ERR_READING_MALFORMED'],
      [url(f), '{"readings":[]}', { authorization: `Bearer ${f.credential}` }, 400, 'GM_ERR_READING_MALFORMED'],
      [url(f), JSON.stringify({ readings: Array(101).fill(1) }), { authorization: `Bearer ${f.credential}` }, 413, 'GM_ERR_READING_TOO_LARGE'],
      [url(f), JSON.stringify({ big: 'x'.repeat(70_000) }), { authorization: `Bearer ${f.credential}` }, 413, 'GM_ERR_READING_TOO_LARGE'],
      [url(f), JSON.stringify({ big: 'x'.repeat(1_100_000) }), { authorization: `Bearer ${f.credential}` }, 413, 'GM_ERR_READING_TOO_LARGE'],
      [url(f), 'plain', { authorization: `Bearer ${f.credential}`, 'content-type': 'text/plain' }, 415, 'GM_ERR_READING_MEDIA_TYPE'],
      [url(f).replace('/readings', '/other'), '{}', {}, 404, 'GM_ERR_COLLECTOR_NOT_FOUND']
    ]
    for (const [target, body, headers, status, code] of cases) {
      const res = await post(target, body, headers)
      assert.equal(res.status, status, `${code}: ${JSON.stringify(res.json)}`)
      assert.equal(res.json.code, code)
      assert.equal(typeof res.json.message, 'string')
    }
  })

  it('answers a flood with 429 and Retry-After', async () => {
    const statuses: number[] = []
    let retryAfter: string | null = null
    for (let i = 0; i < 40 && !statuses.includes(429); i++) {
      const res = await post(url(f), '{"n":1}', { authorization: `Bearer ${f.credential}` })
      statuses.push(res.status)
      if (res.status === 429) { assert.equal(res.json.code, 'GM_ERR_SENSOR_RATE_LIMITED'); retryAfter = res.headers.get('retry-after') }
    }
    assert.ok(statuses.includes(429), `no 429 in ${statuses.join(',')}`)
    assert.ok(Number(retryAfter) >= 1)
  })

  it('serves the OpenAPI document', async () => {
    const doc = await (await fetch(`http://127.0.0.1:${f.collector.httpPort}/openapi.json`)).json() as { paths: Record<string, unknown> }
    assert.ok('/v1/sensors/{sensorId}/readings' in doc.paths)
  })
})

describe('collector over HTTP: access lists and secrecy', { timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('a reader removed from the list cannot open later readings; the others can', async () => {
    const [kept, removed] = f.readers as [typeof f.readers[0], typeof f.readers[0]]
    await f.setReaders([kept])
    const before = f.handed.length
    const res = await post(url(f), '{"after":"revocation"}', { authorization: `Bearer ${f.credential}` })
    assert.equal(res.status, 202)
    await f.handedOff(before + 1)
    const sealed = f.handed.at(-1)!
    await assert.rejects(f.opener(removed).open(sealed.envelope), err => isGatemeshError(err, 'GM_ERR_NOT_A_RECIPIENT'))
    assert.equal(fromUtf8((await f.opener(kept).open(sealed.envelope)).plaintext), '{"after":"revocation"}')
    assert.equal(fromUtf8((await f.opener(f.owner).open(sealed.envelope)).plaintext), '{"after":"revocation"}')
  })

  it('works with curl', async () => {
    await run('curl', ['--version']) // curl is a stock client the issue requires; .ci/run installs it
    const { stdout } = await run('curl', ['-sS', '-H', 'Content-Type: application/json', '-H', `Authorization: Bearer ${f.credential}`,
      '-d', '{"via":"curl"}', '-w', '\n%{http_code}', url(f)])
    const [body, status] = stdout.trim().split('\n')
    assert.equal(status, '202')
    assert.equal(JSON.parse(body as string).accepted, 1)
  })

  it('never writes a plaintext reading, or the credential, to disk or the logs', async () => {
    const marker = `marker-${Math.random().toString(36).slice(2)}-plaintext`
    assert.equal((await post(url(f), JSON.stringify({ note: marker }), { authorization: `Bearer ${f.credential}` })).status, 202)
    assert.equal((await post(url(f), JSON.stringify({ readings: [marker, marker] }), { authorization: `Bearer ${f.credential}` })).status, 202)
    assert.equal((await post(url(f), JSON.stringify({ note: marker }), { authorization: 'Bearer gms_' + 'B'.repeat(43) })).status, 401)
    // a malformed body carrying the marker: refused without echoing or logging it
    const refused = await post(url(f), `{"note": "${marker}" oops`, { authorization: `Bearer ${f.credential}` })
    assert.equal(refused.status, 400)
    assert.ok(!JSON.stringify(refused.json).includes(marker))
    const all = await f.everything()
    assert.ok(all.length > 0)
    assert.equal(all.indexOf(marker), -1, 'the marker reached a file')
    assert.equal(all.indexOf(f.credential), -1, 'the credential reached a file')
  })
})

describe('collector over HTTP: one keep-alive connection', { timeout: 30_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('takes a proven credential again without a check, and checks afresh a different one or a replaced verifier', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const send = async (credential: string): Promise<{ status: number, port: number }> => await new Promise((resolve, reject) => {
      const request = httpRequest(url(f), { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` } }, res => {
        res.resume()
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, port: request.socket?.localPort ?? 0 }) })
      })
      request.on('error', reject)
      request.end('{"t":1}')
    })
    const results = [await send(f.credential), await send(f.credential)]
    results.push(await send('gms_' + 'B'.repeat(43)), await send(f.credential))
    // [COL-16] as an MQTT session ends: the record now names another credential's verifier
    const renewed = await f.replaceCredential()
    results.push(await send(f.credential), await send(renewed), await send(renewed))
    agent.destroy()
    assert.deepEqual(results.map(r => r.status), [202, 202, 401, 202, 401, 202, 202])
    assert.equal(new Set(results.map(r => r.port)).size, 1, 'all on one connection')
  })
})
