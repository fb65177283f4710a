// The client library bundled by Vite and run in headless Chromium against real access services
// on 127.0.0.1 (another origin than the page): proof that src/client needs nothing from Node.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { createAccountBundle, generateIdentity, signRecord } from '../../src/core/index.ts'
import { openInChromium, type BrowserHarness } from '../support/browser.ts'
import { MemoryDht, call, certifiedKey, putReading, sealFor, startService, suite, toBase64 } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'
import type { BrowserApi } from './browser-entry.ts'

async function inPage<K extends keyof BrowserApi> (harness: BrowserHarness, name: K, ...args: Parameters<BrowserApi[K]>): Promise<Awaited<ReturnType<BrowserApi[K]>>> {
  return await harness.page.evaluate(async ([fn, params]) => {
    const api = (globalThis as unknown as { gatemesh: Record<string, (...a: unknown[]) => unknown> }).gatemesh
    return await api[fn as string]!(...(params as unknown[]))
  }, [name, args] as const) as Awaited<ReturnType<BrowserApi[K]>>
}

describe('client in headless Chromium', () => {
  let harness: BrowserHarness
  let a: Fixture
  let b: Fixture

  before(async () => {
    const dht = new MemoryDht()
    a = await startService(undefined, dht)
    b = await startService(undefined, dht)
    harness = await openInChromium(fileURLToPath(new URL('./browser-entry.ts', import.meta.url)))
  })
  after(async () => {
    await harness?.close()
    await a.service.stop()
    await b.service.stop()
  })

  it('signs up, logs in elsewhere, binds, shares and reads across origins', async () => {
    const pseudonym = await inPage(harness, 'signupAndLogin', a.url, b.url)
    assert.match(pseudonym, /^[a-z2-7]{52}$/)
    assert.match(await inPage(harness, 'addSensor', 'window-4'), /^gms_/)

    const friend = await generateIdentity(suite)
    const bundle = await createAccountBundle(suite, friend, 'pw', { iterations: 1000, allowWeakKdf: true })
    assert.equal((await call(a.url, 'POST', '/v1/accounts', { body: { bundle: toBase64(bundle) } })).status, 201)
    const shared = await inPage(harness, 'share', 'window-4', friend.pseudonym)
    assert.deepEqual(shared.readers, [friend.pseudonym])

    await putReading(a, 'window-4', 3, 'open')
    assert.equal(await inPage(harness, 'readLatest', 'window-4'), 'open')
    assert.deepEqual((await inPage(harness, 'list')).owned.map(s => s.id), ['window-4'])
    assert.equal(await inPage(harness, 'errorOf', 'no-such-sensor'), 'GM_ERR_SENSOR_NOT_FOUND')

    // [ENV-10] a reading sealed by a gateway certified for access only (the service serves it:
    // record and envelope agree) is refused in the browser too
    const accessOnly = await certifiedKey(a.ca, ['access'])
    const envelope = await sealFor(a.dht, accessOnly.signer, { sensor: 'window-4', seq: 4 }, 'fabricated')
    a.dht.values.set('/gm-latest/window-4', await signRecord(suite, accessOnly.signer, { type: 'latest', key: 'window-4', seq: 4, body: { envelope, gatewayCert: accessOnly.certificate } }))
    assert.equal(await inPage(harness, 'errorOf', 'window-4'), 'GM_ERR_CLIENT_READING_UNAUTHENTIC')
  })
})
