// The collector's HTTP transport with hostile clients, over real sockets: requests trickled or
// never sent are cut off at 15 s ([COL-5], [HTTP-2]), and what Node or Fastify refuse before a
// route (bad percent-encoding, a 100 KB path, a path segment too long) answers with a GM_ERR_
// code ([HTTP-1]); sensor ids of up to 128 characters reach the route ([HTTP-3], [SEN-1]); on one
// connection shared by several sensors, as through a proxy, a credential proven for one sensor
// never serves another ([COL-2]).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request as httpRequest } from 'node:http'
import { createSensorCredential, createSensorRecord, verifySensorRecord } from '../../src/core/index.ts'
import { rawExchange } from '../support/raw-http.ts'
import { post, startFixture, type Fixture } from './helpers.ts'

describe('collector over HTTP: hostile transport', { timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('cuts off a request trickled a header every 2 s, and a connection that sends nothing, at 15 s', { timeout: 30_000 }, async () => {
    const port = f.collector.httpPort!
    const [trickled, silent] = await Promise.all([
      rawExchange(port, write => {
        write(`POST /v1/sensors/${f.sensorId}/readings HTTP/1.1\r\nHost: 127.0.0.1\r\n`)
        let n = 0
        const timer = setInterval(() => { write(`X-Trickle-${n++}: 1\r\n`) }, 2000)
        return () => { clearInterval(timer) }
      }),
      rawExchange(port, () => undefined)
    ])
    console.log(`trickled request closed after ${Math.round(trickled.closedAfterMs)} ms, silent connection after ${Math.round(silent.closedAfterMs)} ms`)
    for (const [what, exchange] of [['trickled', trickled], ['silent', silent]] as const) {
      assert.ok(exchange.closedAfterMs >= 14_500 && exchange.closedAfterMs <= 16_500, `${what}: closed after ${Math.round(exchange.closedAfterMs)} ms`)
    }
    assert.equal(trickled.status, 408)
    assert.equal(trickled.json?.code, 'GM_ERR_HTTP_TIMEOUT')
  })

  it('answers a path that does not decode, a 100 KB path and an overlong segment with a code', async () => {
    const port = f.collector.httpPort!
    const ask = async (path: string): Promise<Awaited<ReturnType<typeof rawExchange>>> => await rawExchange(port, write => {
      write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`)
      return undefined
    })
    const cases: Array<[string, number, string]> = [
      [`/v1/sensors/%E0%A4%A/readings`, 400, 'GM_ERR_HTTP_MALFORMED'],
      [`/v1/sensors/${'a'.repeat(100_000)}/readings`, 431, 'GM_ERR_HTTP_HEADERS_TOO_LARGE'],
      [`/v1/sensors/${'a'.repeat(600)}/readings`, 400, 'GM_ERR_HTTP_MALFORMED'],
      [`/v1/sensors/${'a'.repeat(129)}/readings`, 400, 'GM_ERR_READING_MALFORMED']
    ]
    for (const [path, status, code] of cases) {
      const answer = await ask(path)
      assert.equal(answer.status, status, `${path.slice(0, 40)}: ${answer.text.slice(0, 200)}`)
      assert.equal(answer.json?.code, code, answer.text.slice(0, 200))
      assert.equal(typeof answer.json?.message, 'string')
    }
    // a request line that is not HTTP
    const garbage = await rawExchange(port, write => { write('HELLO\r\n\r\n'); return undefined })
    assert.equal(garbage.status, 400)
    assert.equal(garbage.json?.code, 'GM_ERR_HTTP_MALFORMED')
  })

  it('takes readings of a sensor whose id has 128 characters', async () => {
    for (const length of [101, 128]) {
      const sensorId = 's'.repeat(length)
      const record = await createSensorRecord(f.suite, f.owner, { sensorId, verifier: f.sensors.get(f.sensorId)!.verifier, seq: 1 })
      f.sensors.set(sensorId, await verifySensorRecord(f.suite, record))
      const res = await post(`http://127.0.0.1:${f.collector.httpPort}/v1/sensors/${sensorId}/readings`, '{"long":"id"}', { authorization: `Bearer ${f.credential}` })
      assert.equal(res.status, 202, `${length}: ${JSON.stringify(res.json)}`)
    }
  })
})

describe('collector over HTTP: one connection carrying several sensors', { timeout: 30_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('a credential proven for sensor A on the connection is refused for sensor B; each sensor\'s proof stays its own', async () => {
    const other = await createSensorCredential(f.suite)
    f.sensors.set('sensor-b', await verifySensorRecord(f.suite, await createSensorRecord(f.suite, f.owner, { sensorId: 'sensor-b', verifier: other.verifier, seq: 1 })))
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    const send = async (sensorId: string, credential: string): Promise<{ status: number, port: number }> => await new Promise((resolve, reject) => {
      const target = `http://127.0.0.1:${f.collector.httpPort}/v1/sensors/${sensorId}/readings`
      const request = httpRequest(target, { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` } }, res => {
        res.resume()
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, port: request.socket?.localPort ?? 0 }) })
      })
      request.on('error', reject)
      request.end('{"t":1}')
    })
    const results = [
      await send(f.sensorId, f.credential), // A proven
      await send('sensor-b', f.credential), // A's credential for B
      await send('sensor-b', other.credential), // B proven
      await send(f.sensorId, other.credential), // B's credential for A
      await send(f.sensorId, f.credential), // A again
      await send('sensor-b', other.credential) // B again
    ]
    agent.destroy()
    assert.deepEqual(results.map(r => r.status), [202, 401, 202, 401, 202, 202])
    assert.equal(new Set(results.map(r => r.port)).size, 1, 'all on one connection')
  })
})
