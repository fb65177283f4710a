// The isomorphic core in real headless Chromium: the same vectors as Node, and bytes that cross
// between the two (Node seals, the browser opens; the browser seals and signs, Node opens and verifies).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  DEFAULT_KDF_ITERATIONS, EnvelopeOpener, EnvelopeSealer, fromHex, fromUtf8, generateIdentity, openAccountBundle, RequestVerifier, toHex, utf8
} from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { KAT_INPUTS } from '../support/known-answers.ts'
import { openInChromium, type BrowserHarness } from '../support/browser.ts'
import type { BrowserApi } from './entry.ts'

const expected = JSON.parse(readFileSync(new URL('../vectors/core-kat.json', import.meta.url), 'utf8')) as Record<string, string>
const suite = createNodeCryptoSuite()

type Api = BrowserApi
async function call<K extends keyof Api> (harness: BrowserHarness, name: K, ...args: Parameters<Api[K]>): Promise<Awaited<ReturnType<Api[K]>>> {
  return await harness.page.evaluate(async ([fn, params]) => {
    const api = (globalThis as unknown as { gatemesh: Record<string, (...a: unknown[]) => unknown> }).gatemesh
    return await api[fn as string]!(...(params as unknown[]))
  }, [name, args] as const) as Awaited<ReturnType<Api[K]>>
}

describe('core in headless Chromium', () => {
  let harness: BrowserHarness
  before(async () => { harness = await openInChromium(fileURLToPath(new URL('./entry.ts', import.meta.url))) })
  after(async () => { await harness?.close() })

  it('runs in a real Chromium', async () => {
    assert.match(await call(harness, 'userAgent'), /HeadlessChrome|Chrome\//)
  })

  it('reproduces the known-answer vectors byte for byte', async () => {
    assert.deepEqual(await call(harness, 'computeKnownAnswers'), expected)
  })

  it('opens the vectors Node produced', async () => {
    const opened = await call(harness, 'openKnownAnswers', expected)
    assert.equal(opened.envelope1ByAlice, KAT_INPUTS.reading.plaintext)
    // [ENV-9] a batch-signed envelope: its inclusion proof is checked with WebCrypto's SHA-256
    assert.equal(opened.envelopeBatch1Of3ByBob, `${KAT_INPUTS.reading.seq + 3}:${KAT_INPUTS.reading.plaintext}`)
    assert.equal(opened.alicePseudonym, expected.alicePseudonym)
  })

  it('opens what Node seals, and Node opens what the browser seals', async () => {
    const browserUser = await call(harness, 'newIdentity')
    const gateway = await suite.importSigningKey(suite.randomBytes(32))
    const sealed = await new EnvelopeSealer({ suite, signer: gateway }).seal({ sensor: 'node-sensor', ts: Date.now(), seq: 9 }, utf8('from node'), [{ id: browserUser.pseudonym, publicKey: fromHex(browserUser.encPub) }])
    assert.equal(await call(harness, 'openEnvelope', toHex(sealed)), 'from node')

    const nodeUser = await generateIdentity(suite)
    const fromBrowser = await call(harness, 'sealFor', { id: nodeUser.pseudonym, publicKey: toHex(nodeUser.encPub) }, 'from the browser')
    assert.equal(fromUtf8((await new EnvelopeOpener({ suite, reader: nodeUser }).open(fromHex(fromBrowser))).plaintext), 'from the browser')
  })

  it('creates an account bundle at full strength that Node opens, and signs requests Node verifies', async () => {
    const browserUser = await call(harness, 'newIdentity')
    const { bundle, ms } = await call(harness, 'createBundle', 'a browser password')
    console.log(`# PBKDF2-SHA256 at the default ${DEFAULT_KDF_ITERATIONS} iterations in Chromium: ${ms.toFixed(0)} ms`)
    const identity = await openAccountBundle(suite, fromHex(bundle), 'a browser password')
    assert.equal(identity.pseudonym, browserUser.pseudonym)

    const headers = await call(harness, 'signRequest', '/v1/sensors?x=1', '{"id":"s1"}')
    const verifier = new RequestVerifier({ suite, resolveKey: async id => id === browserUser.pseudonym ? fromHex(browserUser.sigPub) : undefined })
    assert.deepEqual(await verifier.verify({ method: 'POST', url: '/v1/sensors?x=1', headers: { ...headers }, body: utf8('{"id":"s1"}') }), { keyId: browserUser.pseudonym })
  })
})
