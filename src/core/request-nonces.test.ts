// [REQ-6] The nonce cache: per key id and bounded, so one account cannot fill it for the others.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RequestVerifier, signRequest } from './requests.ts'
import { generateIdentity, type Identity } from './identity.ts'
import { webCryptoSuite as suite } from './webcrypto-suite.ts'
import { isGatemeshError } from './errors.ts'

describe('signed-request nonces per key id', () => {
  async function setup (init: { maxNonces?: number, maxNoncesPerKey?: number }) {
    const users = await Promise.all([generateIdentity(suite), generateIdentity(suite)])
    const keys = new Map(users.map(u => [u.pseudonym, u.sigPub]))
    let now = 1_764_000_000_000
    const verifier = new RequestVerifier({ suite, resolveKey: async id => keys.get(id) }, { ...init, now: () => now })
    const send = async (user: Identity, created = Math.floor(now / 1000)) => {
      const headers = await signRequest(suite, { keyId: user.pseudonym, key: user.signingKey }, { method: 'GET', url: '/v1/x' }, { created })
      return await verifier.verify({ method: 'GET', url: '/v1/x', headers: { ...headers } }).then(() => 'ok', (err: unknown) => {
        if (!isGatemeshError(err)) throw err
        return `${err.code} ${(err as { retryAfterSeconds?: number }).retryAfterSeconds ?? ''}`.trim()
      })
    }
    return { users: users as [Identity, Identity], verifier, send, advance: (ms: number) => { now += ms } }
  }

  it('bounds each key id on its own, says when its oldest nonce is forgotten, and gives the room back after the window', async () => {
    const { users: [a, b], verifier, send, advance } = await setup({ maxNonces: 100, maxNoncesPerKey: 3 })
    for (let i = 0; i < 3; i++) assert.equal(await send(a), 'ok')
    advance(10_000)
    // The first nonce expires at created + 60 s, forgotten one second later: 51 s from now.
    assert.equal(await send(a), 'GM_ERR_REQUEST_RATE_LIMITED 51')
    for (let i = 0; i < 3; i++) assert.equal(await send(b), 'ok')
    assert.equal(verifier.remembered, 6)
    advance(51_000)
    assert.equal(await send(a), 'ok')
    // Once a window has passed, a sweep forgets every expired nonce, of idle key ids too.
    advance(61_000)
    assert.equal(await send(a), 'ok')
    assert.equal(verifier.remembered, 1)
  })

  it('defaults to 1 000 nonces per key id', async () => {
    const { users: [a, b], send } = await setup({ maxNonces: 5000 })
    for (let i = 0; i < 1000; i++) assert.equal(await send(a), 'ok')
    assert.match(await send(a), /^GM_ERR_REQUEST_RATE_LIMITED \d+$/)
    assert.equal(await send(b), 'ok')
  })
})
