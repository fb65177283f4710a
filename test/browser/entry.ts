// Bundled by Vite for the browser test: exposes the core (WebCrypto suite only) to Playwright.
import {
  createAccountBundle, EnvelopeOpener, EnvelopeSealer, fromHex, fromUtf8, generateIdentity, signRequest, toHex, utf8,
  webCryptoSuite as suite, type Identity
} from '../../src/core/index.ts'
import { computeKnownAnswers, openKnownAnswers, type KnownAnswers } from '../support/known-answers.ts'

let me: Identity | undefined

const api = {
  userAgent: () => navigator.userAgent,
  computeKnownAnswers: async () => await computeKnownAnswers(suite),
  openKnownAnswers: async (answers: KnownAnswers) => await openKnownAnswers(suite, answers),
  newIdentity: async () => {
    me = await generateIdentity(suite)
    return { pseudonym: me.pseudonym, encPub: toHex(me.encPub), sigPub: toHex(me.sigPub) }
  },
  openEnvelope: async (hex: string) => fromUtf8((await new EnvelopeOpener({ suite, reader: me as Identity }).open(fromHex(hex))).plaintext),
  sealFor: async (recipient: { id: string, publicKey: string }, text: string) => {
    const gateway = await suite.importSigningKey(suite.randomBytes(32))
    const sealed = await new EnvelopeSealer({ suite, signer: gateway }).seal({ sensor: 'browser-sensor', ts: Date.now(), seq: 1 }, utf8(text), [{ id: recipient.id, publicKey: fromHex(recipient.publicKey) }])
    return toHex(sealed)
  },
  createBundle: async (password: string) => {
    const started = performance.now()
    const bundle = await createAccountBundle(suite, me as Identity, password)
    return { bundle: toHex(bundle), ms: performance.now() - started }
  },
  signRequest: async (url: string, body: string) => await signRequest(suite, { keyId: (me as Identity).pseudonym, key: (me as Identity).signingKey }, { method: 'POST', url, body: utf8(body) })
}

Object.assign(globalThis, { gatemesh: api })
export type BrowserApi = typeof api
