// Log-in checks with fakes: the CONNACK code of each refusal [STR-7], the account key cache
// [STR-6] and the CONNECT rate per address [STR-9].
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GatemeshError } from '../../core/index.ts'
import { AccountCache, ConnectRate, LoginRefused, MAX_TOKEN_BYTES, checkLogin } from './auth.ts'

const ME = 'a'.repeat(52)
const KEY = { sigPub: new Uint8Array(32) }

async function refusal (promise: Promise<unknown>): Promise<[string, number]> {
  try { await promise } catch (err) {
    assert.ok(err instanceof LoginRefused)
    return [err.error.code, err.returnCode]
  }
  throw new Error('accepted')
}

describe('checkLogin [STR-7]', () => {
  const accounts = new AccountCache(async p => p === ME ? KEY : undefined)
  const good = async (token: string): Promise<void> => { if (token !== 'good') throw new GatemeshError('GM_ERR_BAD_SIGNATURE') }

  it('maps each refusal to its code and CONNACK return code', async () => {
    assert.equal(await checkLogin(accounts, good, ME, Buffer.from('good')), ME)
    assert.deepEqual(await refusal(checkLogin(accounts, good, undefined, Buffer.from('good'))), ['GM_ERR_STREAM_NOT_AUTHORIZED', 5])
    assert.deepEqual(await refusal(checkLogin(accounts, good, ME, undefined)), ['GM_ERR_STREAM_NOT_AUTHORIZED', 5])
    assert.deepEqual(await refusal(checkLogin(accounts, good, ME, Buffer.alloc(0))), ['GM_ERR_STREAM_NOT_AUTHORIZED', 5])
    assert.deepEqual(await refusal(checkLogin(accounts, good, 'b'.repeat(52), Buffer.from('good'))), ['GM_ERR_STREAM_UNKNOWN_USER', 4])
    assert.deepEqual(await refusal(checkLogin(accounts, good, 'users/#', Buffer.from('good'))), ['GM_ERR_STREAM_UNKNOWN_USER', 4])
    assert.deepEqual(await refusal(checkLogin(accounts, good, ME, Buffer.from('bad'))), ['GM_ERR_STREAM_BAD_TOKEN', 4])
    assert.deepEqual(await refusal(checkLogin(accounts, good, ME, Buffer.alloc(MAX_TOKEN_BYTES + 1, 0x61))), ['GM_ERR_STREAM_BAD_TOKEN', 4])
    const down = new AccountCache(async () => { throw new Error('timeout') })
    assert.deepEqual(await refusal(checkLogin(down, good, ME, Buffer.from('good'))), ['GM_ERR_STREAM_DIRECTORY', 3])
  })
})

describe('AccountCache [STR-6]', () => {
  it('keeps a found key 10 min, a missing one 5 s, a failure not at all; shares concurrent look-ups; stays bounded', async () => {
    let t = 0
    let calls = 0
    let answer: 'key' | 'none' | 'fail' = 'key'
    const cache = new AccountCache(async () => {
      calls++
      if (answer === 'fail') throw new Error('down')
      return answer === 'key' ? KEY : undefined
    }, { now: () => t, maxEntries: 10 })
    await Promise.all([cache.get(ME), cache.get(ME), cache.get(ME)])
    assert.equal(calls, 1)
    t += 9 * 60_000
    await cache.get(ME)
    assert.equal(calls, 1)
    t += 2 * 60_000
    answer = 'none'
    assert.equal(await cache.get(ME), undefined)
    assert.equal(calls, 2)
    t += 4000
    assert.equal(await cache.get(ME), undefined)
    assert.equal(calls, 2)
    t += 2000
    answer = 'fail'
    await assert.rejects(cache.get(ME))
    await assert.rejects(cache.get(ME))
    assert.equal(calls, 4)
    answer = 'key'
    for (let i = 0; i < 25; i++) await cache.get(`user-${i}`)
    assert.equal(calls, 29)
    // the oldest were evicted: asked again
    await cache.get('user-0')
    assert.equal(calls, 30)
  })
})

describe('ConnectRate [STR-9]', () => {
  it('lets an address send its burst, then its rate; other addresses are not affected', () => {
    let t = 0
    const rate = new ConnectRate({ perSecond: 2, burst: 3, now: () => t })
    assert.deepEqual([1, 2, 3, 4].map(() => rate.take('10.0.0.1')), [true, true, true, false])
    assert.equal(rate.take('10.0.0.2'), true)
    t += 500
    assert.deepEqual([rate.take('10.0.0.1'), rate.take('10.0.0.1')], [true, false])
  })

  it('stays bounded in addresses', () => {
    const rate = new ConnectRate({ perSecond: 1, burst: 1, maxAddresses: 100, now: () => 0 })
    for (let i = 0; i < 1000; i++) rate.take(`10.0.${i >> 8}.${i & 255}`)
    assert.ok((rate as unknown as { buckets: Map<string, unknown> }).buckets.size <= 100)
  })
})
