import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSensorCredential, createSensorRecord, generateIdentity, isGatemeshError } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createCachedSensorDirectory } from './directory.ts'

const suite = createNodeCryptoSuite()
const owner = await generateIdentity(suite)
const { verifier } = await createSensorCredential(suite)
const record = async (seq: number, sensorId = 's1'): Promise<Uint8Array> => await createSensorRecord(suite, owner, { sensorId, verifier, seq })

describe('cached sensor directory', () => {
  it('verifies, caches answers for the TTL, and coalesces concurrent look-ups', async () => {
    let t = 0
    let calls = 0
    const held = new Map([['s1', await record(1)]])
    const dir = createCachedSensorDirectory({ suite, fetch: async id => { calls++; return held.get(id) } }, { ttlMs: 1000, now: () => t })
    const [a, b] = await Promise.all([dir.get('s1'), dir.get('s1')])
    assert.equal(calls, 1)
    assert.equal(a?.seq, 1)
    assert.equal(b, a)
    assert.equal(await dir.get('nobody'), undefined)
    assert.equal(await dir.get('nobody'), undefined)
    assert.equal(calls, 2, 'negative answers are cached too')
    held.set('s1', await record(2))
    assert.equal((await dir.get('s1'))?.seq, 1)
    t = 1000
    assert.equal((await dir.get('s1'))?.seq, 2, 'refetched after the TTL')
    held.set('s1', await record(1))
    t = 2000
    assert.equal((await dir.get('s1'))?.seq, 2, 'an older record never replaces a newer one')
    held.set('s1', await record(3))
    dir.invalidate('s1')
    assert.equal((await dir.get('s1'))?.seq, 3)
  })

  it('answers cached() at once only with a fresh record, as get() would without a fetch', async () => {
    let t = 0
    let release: (() => void) | undefined
    const held = new Map([['s1', await record(1)]])
    const dir = createCachedSensorDirectory({
      suite,
      fetch: async id => { if (release === undefined) await new Promise<void>(resolve => { release = resolve }); return held.get(id) }
    }, { ttlMs: 1000, now: () => t })
    assert.equal(dir.cached?.('s1'), undefined, 'nothing held before the first look-up')
    const first = dir.get('s1')
    assert.equal(dir.cached?.('s1'), undefined, 'nothing while the look-up is pending')
    ;(release as () => void)()
    assert.equal((await first)?.seq, 1)
    assert.equal(dir.cached?.('s1'), await dir.get('s1'), 'the record get() answers')
    assert.equal(await dir.get('nobody'), undefined)
    assert.equal(dir.cached?.('nobody'), undefined, 'an unknown sensor: ask get()')
    t = 999
    assert.equal(dir.cached?.('s1')?.seq, 1)
    t = 1000
    assert.equal(dir.cached?.('s1'), undefined, 'due a refresh after the TTL')
    held.set('s1', await record(2))
    assert.equal((await dir.get('s1'))?.seq, 2)
    assert.equal(dir.cached?.('s1')?.seq, 2)
    dir.invalidate('s1')
    assert.equal(dir.cached?.('s1'), undefined, 'invalidated')
  })

  it('refuses records that do not verify or are for another sensor, and caches failures only briefly', async () => {
    let t = 0
    let fail = true
    const bad = await record(1, 'other')
    const dir = createCachedSensorDirectory({ suite, fetch: async id => { if (fail) throw new Error('dht down'); return id === 'x' ? bad : new Uint8Array([1, 2, 3]) } }, { ttlMs: 5000, failureTtlMs: 100, now: () => t })
    await assert.rejects(dir.get('x'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY'))
    fail = false
    await assert.rejects(dir.get('x'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY'), 'failure cached for failureTtlMs')
    t = 100
    await assert.rejects(dir.get('x'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY') && /another sensor/.test(err.message))
    t = 200
    await assert.rejects(dir.get('y'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY') && /does not verify/.test(err.message))
  })

  it('serves a held record while refreshes fail, up to maxStaleMs', async () => {
    let t = 0
    let fail = false
    const r = await record(1)
    const dir = createCachedSensorDirectory({ suite, fetch: async () => { if (fail) throw new Error('down'); return r } }, { ttlMs: 100, maxStaleMs: 1000, now: () => t })
    assert.equal((await dir.get('s1'))?.seq, 1)
    fail = true
    t = 500
    assert.equal((await dir.get('s1'))?.seq, 1)
    t = 1500
    await assert.rejects(dir.get('s1'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY'))
  })

  it('serves a stale record at once from held() and refreshes it once in the background', async () => {
    let t = 0
    let calls = 0
    const gates: Array<() => void> = []
    const held = new Map([['s1', await record(1)]])
    const dir = createCachedSensorDirectory({
      suite,
      fetch: async id => { calls++; if (calls > 1) await new Promise<void>(resolve => { gates.push(resolve) }); return held.get(id) }
    }, { ttlMs: 1000, maxStaleMs: 10_000, now: () => t })
    assert.equal(dir.held?.('s1'), undefined, 'nothing held before the first look-up')
    assert.equal(calls, 0, 'held() never fetches what it does not hold')
    assert.equal((await dir.get('s1'))?.seq, 1)
    t = 999
    assert.equal(dir.held?.('s1')?.seq, 1, 'a fresh record')
    assert.equal(calls, 1, 'a fresh record is not refreshed')
    held.set('s1', await record(2))
    t = 1500
    assert.equal(dir.held?.('s1')?.seq, 1, 'past ttlMs: the held record, at once')
    assert.equal(calls, 2, 'and one refresh started')
    assert.equal(dir.held?.('s1')?.seq, 1)
    assert.equal(calls, 2, 'coalesced: no second refresh')
    assert.equal(dir.cached?.('s1'), undefined, 'cached() answers only fresh records')
    const refreshed = dir.get('s1')
    assert.equal(calls, 2, 'get() waits for the same refresh')
    gates.shift()?.()
    assert.equal((await refreshed)?.seq, 2)
    assert.equal(dir.held?.('s1')?.seq, 2)
    assert.equal(dir.cached?.('s1')?.seq, 2)
    assert.equal(calls, 2)
  })

  it('[COL-10] refreshAheadMs: held() refreshes a record before its TTL ends, and it stays fresh meanwhile', async () => {
    let t = 0
    let calls = 0
    const gates: Array<() => void> = []
    const held = new Map([['s1', await record(1)]])
    const dir = createCachedSensorDirectory({
      suite,
      fetch: async id => { calls++; if (calls > 1) await new Promise<void>(resolve => { gates.push(resolve) }); return held.get(id) }
    }, { ttlMs: 1000, refreshAheadMs: 300, now: () => t })
    assert.equal((await dir.get('s1'))?.seq, 1)
    t = 699
    assert.equal(dir.held?.('s1')?.seq, 1)
    assert.equal(calls, 1, 'not refreshed before ttlMs - refreshAheadMs')
    held.set('s1', await record(2))
    t = 700
    assert.equal(dir.held?.('s1')?.seq, 1, 'the held record, at once')
    assert.equal(calls, 2, 'and one refresh started, ahead of the TTL')
    assert.equal(dir.held?.('s1')?.seq, 1)
    assert.equal(calls, 2, 'coalesced')
    // the record is still within its TTL: fresh for sealing, and get() does not wait
    assert.equal(dir.cached?.('s1')?.seq, 1, 'cached(): fresh while the refresh runs')
    assert.equal((await dir.get('s1'))?.seq, 1, 'get(): no wait while the record is fresh')
    t = 1000
    assert.equal(dir.cached?.('s1'), undefined, 'past ttlMs, still refreshing: not fresh')
    const refreshed = dir.get('s1')
    gates.shift()?.()
    assert.equal((await refreshed)?.seq, 2, 'past ttlMs, get() waits for the refresh')
    assert.equal(dir.cached?.('s1')?.seq, 2)
    assert.equal(calls, 2)
  })

  it('held(): no stale record past maxStaleMs, after invalidate() or for "no such sensor"; a failed refresh is not retried for failureTtlMs', async () => {
    let t = 0
    let calls = 0
    let fail = false
    const r = await record(1)
    const dir = createCachedSensorDirectory({
      suite,
      fetch: async id => { calls++; if (fail) throw new Error('down'); return id === 's1' ? r : undefined }
    }, { ttlMs: 100, maxStaleMs: 1000, failureTtlMs: 50, now: () => t })
    assert.equal(await dir.get('nobody'), undefined)
    t = 200
    assert.equal(dir.held?.('nobody'), undefined, 'a negative answer is never served stale')
    assert.equal((await dir.get('s1'))?.seq, 1)
    fail = true
    calls = 0
    t = 400
    assert.equal(dir.held?.('s1')?.seq, 1)
    assert.equal(calls, 1)
    assert.equal((await dir.get('s1'))?.seq, 1, 'the refresh fails: get() answers the held record, as before')
    assert.equal(dir.held?.('s1')?.seq, 1, 'still served while younger than maxStaleMs')
    assert.equal(calls, 1, 'not refreshed again within failureTtlMs')
    t = 460
    assert.equal(dir.held?.('s1')?.seq, 1)
    assert.equal(calls, 2, 'refreshed again after failureTtlMs')
    await dir.get('s1')
    t = 1200
    assert.equal(dir.held?.('s1'), undefined, 'past maxStaleMs: ask get()')
    await assert.rejects(dir.get('s1'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY'))
    fail = false
    t = 1300
    assert.equal((await dir.get('s1'))?.seq, 1)
    dir.invalidate('s1')
    assert.equal(dir.held?.('s1'), undefined, 'invalidated: ask get()')
  })
  it('never answers "no such sensor" for a sensor whose record it held: a look-up finding none fails instead', async () => {
    let t = 0
    const held = new Map([['s1', await record(1)]])
    const dir = createCachedSensorDirectory({ suite, fetch: async id => held.get(id) }, { ttlMs: 1000, maxStaleMs: 5000, failureTtlMs: 100, now: () => t })
    assert.equal((await dir.get('s1'))?.seq, 1)
    // every peer asked failed to answer, or the answering ones do not hold it yet
    held.delete('s1')
    t = 1000
    assert.equal((await dir.get('s1'))?.seq, 1, 'the held record serves while younger than maxStaleMs')
    assert.equal(dir.held?.('s1')?.seq, 1)
    t = 5000
    await assert.rejects(dir.get('s1'), err => isGatemeshError(err, 'GM_ERR_SENSOR_DIRECTORY'), 'past maxStaleMs: a failure, never undefined')
    held.set('s1', await record(1))
    t = 5100
    assert.equal((await dir.get('s1'))?.seq, 1, 'found again')
    assert.equal(await dir.get('never-seen'), undefined, 'a sensor never held is unknown when none is found')
  })
  it('asks a TTL given as a function each time: a new TTL applies at once [COL-10]', async () => {
    let t = 0
    let ttl = 30_000
    let calls = 0
    const held = new Map([['s1', await record(1)]])
    const dir = createCachedSensorDirectory({ suite, fetch: async id => { calls++; return held.get(id) } }, { ttlMs: () => ttl, now: () => t })
    assert.equal((await dir.get('s1'))?.seq, 1)
    t = 10_000
    assert.equal((await dir.get('s1'))?.seq, 1)
    assert.equal(dir.cached?.('s1')?.seq, 1)
    assert.equal(calls, 1, 'fresh for 30 s')
    // the network grew past k: back to 5 s
    ttl = 5000
    assert.equal(dir.cached?.('s1'), undefined)
    held.set('s1', await record(2))
    assert.equal((await dir.get('s1'))?.seq, 2)
    assert.equal(calls, 2)
  })
})
