// The history route of Data Access [PER-50]..[PER-52] over real HTTP on 127.0.0.1, with signed
// requests and a fake replica source: access control, query validation, the cursor, 503s.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSensorCredential, createSensorRecord, decodeCanonical, encodeCanonical, equalBytes, fromBase64Url, readEnvelopeHeader, toBase64Url } from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import { GatemeshError } from '../../src/core/index.ts'
import type { HistoryQuery, HistorySource } from '../../src/gateway/access/index.ts'
import { call, newUser, sealFor, startService, suite, toBase64 } from './helpers.ts'
import type { Fixture } from './helpers.ts'

const NOW = 1_764_000_000_000
const SENSOR = 'hist-1'
const REPLICAS = ['12D3KooWPeerAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '12D3KooWPeerBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB']

interface Held { seq: number, gw: Uint8Array, env: Uint8Array }

function compareKeys (a: { seq: number, gw: Uint8Array }, b: { seq: number, gw: Uint8Array }): number {
  if (a.seq !== b.seq) return a.seq - b.seq
  for (let i = 0; i < 32; i++) if (a.gw[i] !== b.gw[i]) return (a.gw[i] as number) - (b.gw[i] as number)
  return 0
}

/** What a replica's `range` does, over an array (sorted by key). */
function fakeReplica (held: Held[], calls: Array<{ sensorId: string, query: HistoryQuery, replica?: string }>): HistorySource {
  return async (sensorId, query, replica) => {
    calls.push({ sensorId, query, replica })
    const asc = query.order === 'asc'
    const inRange = held.filter(h => h.seq >= query.fromSeq && h.seq < query.toSeq)
    const ordered = asc ? inRange : [...inRange].reverse()
    const after = query.after
    const rest = after === undefined ? ordered : ordered.filter(h => asc ? compareKeys(h, after) > 0 : compareKeys(h, after) < 0)
    const page = rest.slice(0, query.limit)
    return { replica: replica ?? REPLICAS[0] as string, replicas: REPLICAS, envs: page.map(h => h.env), cps: [new Uint8Array([1, 2])], certs: [new Uint8Array([3])], more: rest.length > page.length }
  }
}

describe('history route [PER-50]', () => {
  let fx: Fixture
  let alice: Identity
  let bob: Identity
  let carol: Identity
  let source: HistorySource = async () => { throw new Error('not set') }
  const held: Held[] = []
  const calls: Array<{ sensorId: string, query: HistoryQuery, replica?: string }> = []

  before(async () => {
    fx = await startService(undefined, undefined, { history: async (...args) => await source(...args), now: () => NOW })
    const users = await Promise.all([newUser(), newUser(), newUser()])
    for (const user of users) assert.equal((await call(fx.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(user.bundle) } })).status, 201)
    ;[alice, bob, carol] = users.map(u => u.identity) as [Identity, Identity, Identity]
    const { verifier } = await createSensorCredential(suite)
    const record = await createSensorRecord(suite, alice, { sensorId: SENSOR, verifier, seq: 1, readers: [bob] })
    assert.equal((await call(fx.url, 'PUT', `/v1/sensors/${SENSOR}`, { body: { record: toBase64(record) }, signer: alice })).status, 201)
    for (let i = 0; i < 5; i++) {
      const ts = NOW - 600_000 + i * 1000
      const env = await sealFor(fx.dht, fx.gateway, { sensor: SENSOR, seq: ts * 1000, ts }, `reading ${i}`)
      held.push({ seq: ts * 1000, gw: readEnvelopeHeader(env).gw, env })
    }
    source = fakeReplica(held, calls)
  })
  after(async () => { await fx.service.stop() })

  const path = (query: string): string => `/v1/sensors/${SENSOR}/history${query}`

  it('answers the owner and readers only: 403 to others, 404 for an unknown sensor, 401 unsigned', async () => {
    for (const user of [alice, bob]) {
      const res = await call(fx.url, 'GET', path(''), { signer: user })
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal((res.body.readings as string[]).length, 5)
    }
    const before = calls.length
    const forbidden = await call(fx.url, 'GET', path(''), { signer: carol })
    assert.deepEqual([forbidden.status, forbidden.body.code], [403, 'GM_ERR_FORBIDDEN'])
    const unknown = await call(fx.url, 'GET', '/v1/sensors/no-such/history', { signer: alice })
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'GM_ERR_SENSOR_NOT_FOUND'])
    const unsigned = await call(fx.url, 'GET', path(''))
    assert.deepEqual([unsigned.status, unsigned.body.code], [401, 'GM_ERR_REQUEST_UNSIGNED'])
    assert.equal(calls.length, before, 'no replica is asked for a refused caller')
  })

  it('defaults to the last hour, ascending, 1 000 a page, and passes the page on with its interval', async () => {
    const res = await call(fx.url, 'GET', path(''), { signer: alice })
    assert.equal(res.status, 200)
    assert.deepEqual(calls.at(-1), { sensorId: SENSOR, query: { fromSeq: (NOW - 3_600_000) * 1000, toSeq: (NOW + 60_000) * 1000, order: 'asc', limit: 1000 }, replica: undefined })
    assert.deepEqual((res.body.readings as string[]).map(fromBase64Url), held.map(h => h.env))
    assert.deepEqual(res.body.checkpoints, [toBase64Url(new Uint8Array([1, 2]))])
    assert.deepEqual(res.body.certificates, [toBase64Url(new Uint8Array([3]))])
    assert.deepEqual([res.body.sensor, res.body.replica, res.body.replicas], [SENSOR, REPLICAS[0], REPLICAS])
    assert.deepEqual([res.body.lo, res.body.hi, res.body.next], [{ seq: (NOW - 3_600_000) * 1000 }, { seq: (NOW + 60_000) * 1000 }, undefined])
  })

  it('pages with a cursor bound to its query, both orders, and to the replica asked for', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const from = NOW - 3_600_000
      const to = NOW
      const got: Uint8Array[] = []
      let cursor: string | undefined
      let pages = 0
      let lo: unknown = { seq: (order === 'asc' ? from : to) * 1000 }
      do {
        const query = cursor === undefined ? `?from=${from}&to=${to}&limit=2&order=${order}` : `?cursor=${cursor}&limit=2&replica=${REPLICAS[1] as string}`
        const res = await call(fx.url, 'GET', path(query), { signer: bob })
        assert.equal(res.status, 200, JSON.stringify(res.body))
        pages++
        const readings = (res.body.readings as string[]).map(fromBase64Url)
        got.push(...readings)
        assert.deepEqual(res.body.lo, lo, 'a page starts where the previous ended')
        cursor = res.body.next as string | undefined
        if (cursor !== undefined) {
          const last = readEnvelopeHeader(readings.at(-1) as Uint8Array)
          assert.deepEqual(res.body.hi, { seq: last.seq, gw: toBase64Url(last.gw) })
          assert.equal(calls.at(-1)?.replica, pages === 1 ? undefined : REPLICAS[1])
          lo = res.body.hi
        } else {
          assert.deepEqual(res.body.hi, { seq: (order === 'asc' ? to : from) * 1000 })
        }
      } while (cursor !== undefined)
      assert.equal(pages, 3)
      const expected = held.map(h => h.env)
      assert.deepEqual(got, order === 'asc' ? expected : expected.reverse())
    }
  })

  it('refuses bad ranges, limits and cursors with codes, before asking any replica', async () => {
    const first = await call(fx.url, 'GET', path(`?from=${NOW - 3_600_000}&to=${NOW}&limit=2`), { signer: alice })
    const cursor = first.body.next as string
    assert.equal(typeof cursor, 'string')
    const before = calls.length
    const cases: Array<[string, number, string]> = [
      [`?from=${NOW}&to=${NOW}`, 400, 'GM_ERR_HISTORY_BAD_RANGE'],
      [`?from=${NOW}&to=${NOW - 1}`, 400, 'GM_ERR_HISTORY_BAD_RANGE'],
      ['?to=9007199254741', 400, 'GM_ERR_HISTORY_BAD_RANGE'],
      ['?from=-1', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?from=1.5', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?from=yesterday', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?limit=0', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?limit=5001', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?order=sideways', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?colour=red', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?replica=not%20a%20peer', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      ['?cursor=AAAA', 400, 'GM_ERR_HISTORY_BAD_CURSOR'],
      ['?cursor=not+base64url', 400, 'GM_ERR_ACCESS_REQUEST_MALFORMED'],
      [`?cursor=${toBase64Url(encodeCanonical([1, 5, new Uint8Array(32), 'asc', 10, 5, SENSOR]))}`, 400, 'GM_ERR_HISTORY_BAD_CURSOR'],
      [`?cursor=${cursor}&order=desc`, 400, 'GM_ERR_HISTORY_BAD_CURSOR'],
      [`?cursor=${cursor}&from=${NOW - 3_600_001}`, 400, 'GM_ERR_HISTORY_BAD_CURSOR'],
      [`?cursor=${cursor}&to=${NOW + 1}`, 400, 'GM_ERR_HISTORY_BAD_CURSOR']
    ]
    for (const [query, status, code] of cases) {
      const res = await call(fx.url, 'GET', path(query), { signer: alice })
      assert.deepEqual([res.status, res.body.code], [status, code], query)
    }
    // a cursor of this sensor's query, used for another sensor of the same owner
    const { verifier } = await createSensorCredential(suite)
    const other = await createSensorRecord(suite, alice, { sensorId: 'hist-2', verifier, seq: 1 })
    assert.equal((await call(fx.url, 'PUT', '/v1/sensors/hist-2', { body: { record: toBase64(other) }, signer: alice })).status, 201)
    const elsewhere = await call(fx.url, 'GET', `/v1/sensors/hist-2/history?cursor=${cursor}`, { signer: alice })
    assert.deepEqual([elsewhere.status, elsewhere.body.code], [400, 'GM_ERR_HISTORY_BAD_CURSOR'])
    assert.equal(calls.length, before)
    // the same cursor with its own range, given again, is accepted
    const same = await call(fx.url, 'GET', path(`?cursor=${cursor}&from=${NOW - 3_600_000}&to=${NOW}&order=asc&limit=2`), { signer: alice })
    assert.equal(same.status, 200)
    const decoded = decodeCanonical(fromBase64Url(cursor)) as unknown[]
    assert.equal(decoded[6], SENSOR)
    assert.ok(equalBytes(decoded[2] as Uint8Array, held[1]?.gw as Uint8Array))
  })

  it('answers 503 with a code when no replica answers, and passes on the source\'s history codes', async () => {
    const saved = source
    try {
      source = async () => { throw new Error('connection refused') }
      const down = await call(fx.url, 'GET', path(''), { signer: alice })
      assert.deepEqual([down.status, down.body.code], [503, 'GM_ERR_HISTORY_NO_REPLICA'])
      source = async () => { throw new GatemeshError('GM_ERR_MALFORMED', 'a replica said so') }
      const odd = await call(fx.url, 'GET', path(''), { signer: alice })
      assert.deepEqual([odd.status, odd.body.code], [503, 'GM_ERR_HISTORY_NO_REPLICA'])
      source = async () => { throw new GatemeshError('GM_ERR_HISTORY_REPLICA_UNKNOWN') }
      const unknown = await call(fx.url, 'GET', path(`?replica=${REPLICAS[1] as string}`), { signer: alice })
      assert.deepEqual([unknown.status, unknown.body.code], [404, 'GM_ERR_HISTORY_REPLICA_UNKNOWN'])
      source = async () => ({ replica: 'x', replicas: [], envs: [], cps: [], certs: [], more: true })
      const empty = await call(fx.url, 'GET', path(''), { signer: alice })
      assert.deepEqual([empty.status, empty.body.code], [503, 'GM_ERR_HISTORY_NO_REPLICA'])
      source = async () => ({ replica: 'x', replicas: [], envs: [new Uint8Array([1, 2, 3])], cps: [], certs: [], more: true })
      const garbage = await call(fx.url, 'GET', path(''), { signer: alice })
      assert.deepEqual([garbage.status, garbage.body.code], [503, 'GM_ERR_HISTORY_NO_REPLICA'])
    } finally {
      source = saved
    }
    const bare = await startService(undefined, fx.dht)
    try {
      const res = await call(bare.url, 'GET', path(''), { signer: alice })
      assert.deepEqual([res.status, res.body.code], [503, 'GM_ERR_HISTORY_UNAVAILABLE'])
    } finally {
      await bare.service.stop()
    }
  })

  it('is in the OpenAPI document', async () => {
    const doc = await (await fetch(`${fx.url}/openapi.json`)).json() as { paths: Record<string, { get?: { parameters?: Array<{ name: string, in: string }> } }> }
    const route = doc.paths['/v1/sensors/{id}/history']?.get
    assert.ok(route !== undefined)
    assert.deepEqual(route.parameters?.filter(p => p.in === 'query').map(p => p.name).sort(), ['cursor', 'from', 'limit', 'order', 'replica', 'to'])
  })
})
