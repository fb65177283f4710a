// The broker's account look-up over stored bundles [STR-6].
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createAccountBundle, createWebCryptoSuite, equalBytes, generateIdentity } from '../../core/index.ts'
import { createAccountKeyLookup } from './account-lookup.ts'

const suite = createWebCryptoSuite()

describe('createAccountKeyLookup [STR-6]', () => {
  it('answers the verified signing key of the pseudonym; nothing for a missing, foreign or broken bundle; throws when the fetch fails', async () => {
    const alice = await generateIdentity(suite)
    const bob = await generateIdentity(suite)
    const bundle = await createAccountBundle(suite, alice, 'pw', { iterations: 1000, allowWeakKdf: true })
    const stored = new Map<string, Uint8Array>([[alice.pseudonym, bundle], [bob.pseudonym, bundle], ['broken', bundle.subarray(1)]])
    const lookup = createAccountKeyLookup({ suite, fetch: async p => { if (p === 'down') throw new Error('timeout'); return stored.get(p) } }, { allowWeakKdfForTests: true })
    assert.ok(equalBytes((await lookup(alice.pseudonym))!.sigPub, alice.sigPub))
    assert.equal(await lookup(bob.pseudonym), undefined, 'alice\'s bundle stored under bob\'s pseudonym')
    assert.equal(await lookup('broken'), undefined)
    assert.equal(await lookup('nobody'), undefined)
    await assert.rejects(lookup('down'))
    // a weak KDF is refused outside tests
    assert.equal(await createAccountKeyLookup({ suite, fetch: async () => bundle })(alice.pseudonym), undefined)
  })
})
