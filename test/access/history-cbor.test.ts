// The history route's CBOR answer [PER-56] over real HTTP: negotiated by Accept, the same answer
// as JSON with byte strings for readings, checkpoints and certificates; JSON for everyone else,
// refusals always JSON; and the client's transport asking for it and decoding it.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Transport } from '../../src/client/http.ts'
import { createSensorCredential, createSensorRecord, decodeCanonical, encodeCanonical, fromBase64Url, readEnvelopeHeader, signRequest, toBase64 } from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import type { HistorySource } from '../../src/gateway/access/index.ts'
import { acceptsHistoryCbor } from '../../src/gateway/access/history.ts'
import { call, newUser, sealFor, startService, suite } from './helpers.ts'
import type { Fixture } from './helpers.ts'

const SENSOR = 'cbor-greenhouse'
const NOW = 1_790_000_000_000
const REPLICA = '12D3KooWPeerCborAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'

describe('history route: the CBOR answer [PER-56]', () => {
  let fx: Fixture
  let alice: Identity
  let carol: Identity
  const envs: Uint8Array[] = []
  const source: HistorySource = async (_sensor, query) => {
    const page = (query.order === 'asc' ? envs : [...envs].reverse()).slice(0, query.limit)
    return { replica: REPLICA, replicas: [REPLICA], envs: page, cps: [Uint8Array.of(1, 2)], certs: [Uint8Array.of(3)], more: page.length < envs.length }
  }

  before(async () => {
    fx = await startService(undefined, undefined, { history: source, now: () => NOW })
    const users = await Promise.all([newUser(), newUser()])
    for (const user of users) assert.equal((await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(user.bundle) } })).status, 201)
    ;[alice, carol] = users.map(u => u.identity) as [Identity, Identity]
    const { verifier } = await createSensorCredential(suite)
    const record = await createSensorRecord(suite, alice, { sensorId: SENSOR, verifier, seq: 1, readers: [] })
    assert.equal((await call(fx.url, 'PUT', `/v1/sensors/${SENSOR}`, { body: { record: toBase64(record) }, signer: alice })).status, 201)
    for (let i = 0; i < 4; i++) {
      const ts = NOW - 600_000 + i * 1000
      envs.push(await sealFor(fx.dht, fx.gateway, { sensor: SENSOR, seq: ts * 1000, ts }, `reading ${i}`))
    }
  })
  after(async () => { await fx.service.stop() })

  const get = async (signer: Identity, query: string, accept?: string): Promise<Response> => {
    const path = `/v1/sensors/${SENSOR}/history${query}`
    const headers = await signRequest(suite, { keyId: signer.pseudonym, key: signer.signingKey }, { method: 'GET', url: path })
    return await fetch(fx.url + path, { headers: { ...headers, ...(accept === undefined ? {} : { accept }) } })
  }

  it('answers canonical CBOR when asked, the JSON answer with byte strings', async () => {
    const query = `?from=${NOW - 3_600_000}&to=${NOW}&limit=3&order=desc`
    const json = await get(alice, query, 'application/json')
    assert.equal(json.status, 200)
    assert.match(json.headers.get('content-type') ?? '', /^application\/json/)
    const expected = await json.json() as Record<string, unknown>
    const cbor = await get(alice, query, 'application/cbor')
    assert.equal(cbor.status, 200)
    assert.equal(cbor.headers.get('content-type'), 'application/cbor')
    assert.match(cbor.headers.get('vary') ?? '', /accept/i)
    const bytes = new Uint8Array(await cbor.arrayBuffer())
    const answer: Record<string, unknown> = decodeCanonical(bytes, { maxBytes: bytes.length }) as Record<string, unknown>
    assert.equal(typeof answer.next, 'string')
    const asBytes = (list: unknown): Uint8Array[] => (list as string[]).map(fromBase64Url)
    assert.deepEqual(answer, { ...expected, readings: asBytes(expected.readings), checkpoints: asBytes(expected.checkpoints), certificates: asBytes(expected.certificates) })
    assert.deepEqual(answer.readings, [...envs].reverse().slice(0, 3))
    assert.deepEqual(encodeCanonical(answer), bytes)
  })

  it('answers JSON without an Accept, for */*, and when JSON is preferred', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, application/cbor;q=0.5', 'application/cbor;q=0, */*', 'text/html']) {
      const res = await get(alice, '', accept)
      assert.equal(res.status, 200, String(accept))
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, String(accept))
      assert.equal(((await res.json()) as { readings: unknown[] }).readings.length, 4)
    }
  })

  it('refuses in JSON whatever the Accept: a caller not on the list, a bad range', async () => {
    const forbidden = await get(carol, '', 'application/cbor')
    assert.equal(forbidden.status, 403)
    assert.equal(((await forbidden.json()) as { code: string }).code, 'GM_ERR_FORBIDDEN')
    const bad = await get(alice, `?from=${NOW}&to=${NOW - 1}`, 'application/cbor')
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { code: string }).code, 'GM_ERR_HISTORY_BAD_RANGE')
  })

  it('is what the client transport asks for and decodes; its refusals keep their codes', async () => {
    const transport = new Transport({ gateway: fx.url, suite })
    const answer = await transport.request('GET', `/v1/sensors/${SENSOR}/history`, { signer: alice, query: { from: String(NOW - 3_600_000), to: String(NOW) }, maxBytes: 1 << 20, cbor: true })
    assert.ok((answer.readings as unknown[]).every(r => r instanceof Uint8Array))
    assert.deepEqual((answer.readings as Uint8Array[]).map(r => readEnvelopeHeader(r).seq), envs.map(e => readEnvelopeHeader(e).seq))
    await assert.rejects(transport.request('GET', `/v1/sensors/${SENSOR}/history`, { signer: carol, cbor: true }), { code: 'GM_ERR_FORBIDDEN' })
    await assert.rejects(transport.request('GET', `/v1/sensors/${SENSOR}/history`, { signer: alice, maxBytes: 100, cbor: true }), { code: 'GM_ERR_CLIENT_BAD_RESPONSE' })
  })

  it('weighs media ranges as RFC 9110 does', () => {
    assert.equal(acceptsHistoryCbor(undefined), false)
    assert.equal(acceptsHistoryCbor('application/cbor'), true)
    assert.equal(acceptsHistoryCbor('application/cbor, application/json;q=0.5'), true)
    assert.equal(acceptsHistoryCbor('Application/CBOR ; q=0.8, */*;q=0.1'), true)
    assert.equal(acceptsHistoryCbor('application/json, application/cbor'), true)
    assert.equal(acceptsHistoryCbor('application/json, application/cbor;q=0.9'), false)
    assert.equal(acceptsHistoryCbor('application/cbor;q=0'), false)
    assert.equal(acceptsHistoryCbor('*/*'), false)
  })
})
