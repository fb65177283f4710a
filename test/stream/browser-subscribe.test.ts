// session.subscribe bundled by Vite and run in headless Chromium, over WebSocket to a plain Aedes
// broker on 127.0.0.1 (standing in for a stream peer): the same code path as in Node, with no
// Node module; readings verified with WebCrypto and opened in the page.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { EnvelopeSealer, encodeStreamPayload, toBase64, utf8 } from '../../src/core/index.ts'
import { openInChromium, type BrowserHarness } from '../support/browser.ts'
import { certifiedKey, networkCa, newUser, suite } from '../access/helpers.ts'
import type { BrowserStreamApi } from './browser-entry.ts'

async function inPage<K extends keyof BrowserStreamApi> (harness: BrowserHarness, name: K, ...args: Parameters<BrowserStreamApi[K]>): Promise<Awaited<ReturnType<BrowserStreamApi[K]>>> {
  return await harness.page.evaluate(async ([fn, params]) => {
    const api = (globalThis as unknown as { gatemesh: Record<string, (...a: unknown[]) => unknown> }).gatemesh
    return await api[fn as string]!(...(params as unknown[]))
  }, [name, args] as const) as Awaited<ReturnType<BrowserStreamApi[K]>>
}

describe('subscribe in headless Chromium over WebSocket', () => {
  let harness: BrowserHarness
  let aedes: Aedes
  let http: ReturnType<typeof createServer>
  let url: string

  before(async () => {
    aedes = await Aedes.createBroker({})
    http = createServer()
    const wss = new WebSocketServer({ server: http, path: '/mqtt' })
    wss.on('connection', (ws, request) => { aedes.handle(createWebSocketStream(ws), request) })
    await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
    url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/mqtt`
    harness = await openInChromium(fileURLToPath(new URL('./browser-entry.ts', import.meta.url)))
  })
  after(async () => {
    await harness?.close()
    http.closeAllConnections()
    await new Promise<void>(resolve => http.close(() => { resolve() }))
    await new Promise<void>(resolve => aedes.close(() => { resolve() }))
  })

  it('receives readings, verified and opened in the page', async () => {
    const ca = await networkCa()
    const user = await newUser()
    const collector = await certifiedKey(ca, ['collector'])
    const subscribed = new Promise<void>(resolve => aedes.once('subscribe', () => { resolve() }))
    const pseudonym = await inPage(harness, 'subscribe', toBase64(user.bundle), 'correct horse', toBase64(ca.certificate), [url], ['greenhouse-1'])
    assert.equal(pseudonym, user.identity.pseudonym)
    await subscribed
    const sealer = new EnvelopeSealer({ suite, signer: collector.signer })
    for (const seq of [1, 2]) {
      const env = await sealer.seal({ sensor: 'greenhouse-1', ts: Date.now(), seq }, utf8(`reading ${seq}`), [{ id: user.identity.pseudonym, publicKey: user.identity.encPub }])
      await new Promise<void>((resolve, reject) => aedes.publish({ cmd: 'publish', topic: 'sensors/greenhouse-1/readings', payload: Buffer.from(encodeStreamPayload({ env, cert: collector.certificate })), qos: 1, retain: false, dup: false }, err => { if (err) reject(err); else resolve() }))
    }
    await harness.page.waitForFunction(() => (globalThis as unknown as { gatemesh: { received: () => unknown[] } }).gatemesh.received().length >= 2, undefined, { timeout: 20_000 })
    assert.deepEqual(await inPage(harness, 'received'), [1, 2].map(seq => ({ sensorId: 'greenhouse-1', seq, text: `reading ${seq}`, gatewayPeerId: collector.peerId })))
    assert.deepEqual(await inPage(harness, 'errors'), [])
    assert.deepEqual(await inPage(harness, 'states'), [`connecting ${url}`, `connected ${url}`])
    await inPage(harness, 'close')
  })
})
