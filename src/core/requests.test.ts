import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RequestVerifier, signRequest } from './requests.ts'
import { generateIdentity } from './identity.ts'
import { utf8 } from './bytes.ts'
import { SUITES } from '../../test/support/suites.ts'
import { rejectsWithCode } from '../../test/support/assert-error.ts'

for (const suite of SUITES) {
  describe(`signed requests (${suite.name})`, () => {
    async function setup (init: { windowSeconds?: number, maxNonces?: number } = {}) {
      const alice = await generateIdentity(suite)
      let now = 1_764_000_000_000
      const verifier = new RequestVerifier({ suite, resolveKey: async id => id === alice.pseudonym ? alice.sigPub : undefined }, { ...init, now: () => now })
      const sign = async (method: string, url: string, body?: string, created = Math.floor(now / 1000)) =>
        await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method, url, body: body === undefined ? undefined : utf8(body) }, { created })
      return { alice, verifier, sign, advance: (ms: number) => { now += ms } }
    }

    it('accepts a fresh request once and refuses its replay', async () => {
      const { alice, verifier, sign } = await setup()
      const headers = await sign('POST', '/v1/sensors?x=1', '{"a":1}')
      assert.deepEqual(await verifier.verify({ method: 'post', url: '/v1/sensors?x=1', headers: { ...headers }, body: utf8('{"a":1}') }), { keyId: alice.pseudonym })
      await rejectsWithCode(() => verifier.verify({ method: 'POST', url: '/v1/sensors?x=1', headers: { ...headers }, body: utf8('{"a":1}') }), 'GM_ERR_REQUEST_REPLAYED')
    })

    it('refuses any change to method, path, query or body', async () => {
      const { verifier, sign } = await setup()
      const h = await sign('POST', '/v1/a?q=1', 'body')
      await rejectsWithCode(() => verifier.verify({ method: 'PUT', url: '/v1/a?q=1', headers: { ...h }, body: utf8('body') }), 'GM_ERR_REQUEST_SIGNATURE')
      await rejectsWithCode(() => verifier.verify({ method: 'POST', url: '/v1/b?q=1', headers: { ...h }, body: utf8('body') }), 'GM_ERR_REQUEST_SIGNATURE')
      await rejectsWithCode(() => verifier.verify({ method: 'POST', url: '/v1/a?q=2', headers: { ...h }, body: utf8('body') }), 'GM_ERR_REQUEST_SIGNATURE')
      await rejectsWithCode(() => verifier.verify({ method: 'POST', url: '/v1/a', headers: { ...h }, body: utf8('body') }), 'GM_ERR_REQUEST_SIGNATURE')
      await rejectsWithCode(() => verifier.verify({ method: 'POST', url: '/v1/a?q=1', headers: { ...h }, body: utf8('bodY') }), 'GM_ERR_DIGEST_MISMATCH')
      const other = await sign('POST', '/v1/a?q=1', 'other')
      await rejectsWithCode(() => verifier.verify({ method: 'POST', url: '/v1/a?q=1', headers: { ...h, 'content-digest': other['content-digest'] }, body: utf8('other') }), 'GM_ERR_REQUEST_SIGNATURE')
      // The untouched request still verifies afterwards: failures consumed no nonce.
      await verifier.verify({ method: 'POST', url: '/v1/a?q=1', headers: { ...h }, body: utf8('body') })
    })

    it('enforces the freshness window both ways', async () => {
      const { verifier, sign, advance } = await setup({ windowSeconds: 60 })
      const old = await sign('GET', '/v1/x')
      advance(61_000)
      await rejectsWithCode(() => verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...old } }), 'GM_ERR_REQUEST_EXPIRED')
      const future = await sign('GET', '/v1/x', undefined, Math.floor(Date.now() / 1000) + 10 ** 7)
      await rejectsWithCode(() => verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...future } }), 'GM_ERR_REQUEST_EXPIRED')
    })

    it('gives unsigned, malformed and unknown-signer requests their own codes', async () => {
      const { verifier, sign } = await setup()
      const h = await sign('GET', '/v1/x')
      await rejectsWithCode(() => verifier.verify({ method: 'GET', url: '/v1/x', headers: {} }), 'GM_ERR_REQUEST_UNSIGNED')
      for (const broken of [
        { ...h, signature: 'gm=:abc:' },
        { ...h, 'signature-input': h['signature-input'].replace('"@query" ', '') },
        { ...h, 'signature-input': h['signature-input'].replace('ed25519', 'rsa-pss-sha512') },
        { ...h, 'content-digest': 'md5=:AAAA:' },
        { ...h, signature: [h.signature, h.signature] },
        { 'signature-input': h['signature-input'] }
      ]) {
        await rejectsWithCode(() => verifier.verify({ method: 'GET', url: '/v1/x', headers: broken }), 'GM_ERR_REQUEST_MALFORMED')
      }
      const stranger = await generateIdentity(suite)
      const strangerHeaders = await signRequest(suite, { keyId: stranger.pseudonym, key: stranger.signingKey }, { method: 'GET', url: '/v1/x' }, { created: 1_764_000_000 })
      await rejectsWithCode(() => verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...strangerHeaders } }), 'GM_ERR_UNKNOWN_SIGNER')
    })

    it('refuses new requests rather than forget nonces when the cache is full', async () => {
      const { verifier, sign, advance } = await setup({ maxNonces: 2 })
      for (let i = 0; i < 2; i++) await verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...await sign('GET', '/v1/x') } })
      await rejectsWithCode(async () => await verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...await sign('GET', '/v1/x') } }), 'GM_ERR_BUSY')
      advance(61_000) // the window passes; old nonces expire and room returns
      await verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...await sign('GET', '/v1/x') } })
    })
  })
}
