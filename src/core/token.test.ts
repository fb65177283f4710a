import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createStreamToken, signJws, verifyJws, verifyStreamToken, MAX_STREAM_TOKEN_BYTES } from './token.ts'
import { generateIdentity } from './identity.ts'
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts'
import { SUITES } from '../../test/support/suites.ts'
import { rejectsWithCode } from '../../test/support/assert-error.ts'

// RFC 8037 appendix A.1 (the key) and A.4 (the JWS over "Example of Ed25519 signing").
const A1_D = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A'
const A1_X = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo'
const A4_JWS = 'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg'

const NOW = 1_780_000_000_000
const NOW_S = NOW / 1000

/** A token with the given header and claims, signed by `key` (to test what verify refuses after the signature). */
async function forge (suite: (typeof SUITES)[number], key: Parameters<typeof signJws>[1], header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  const input = `${toBase64Url(utf8(JSON.stringify(header)))}.${toBase64Url(utf8(JSON.stringify(claims)))}`
  return `${input}.${toBase64Url(await suite.sign(key, utf8(input)))}`
}

for (const suite of SUITES) {
  describe(`stream token (${suite.name})`, () => {
    it('RFC 8037 A.4: the vector verifies, and signing gives it byte for byte', async () => {
      const key = await suite.importSigningKey(fromBase64Url(A1_D))
      assert.deepEqual(key.publicKey, fromBase64Url(A1_X))
      const { header, payload } = await verifyJws(suite, A4_JWS, fromBase64Url(A1_X))
      assert.deepEqual(header, { alg: 'EdDSA' })
      assert.equal(fromUtf8(payload), 'Example of Ed25519 signing')
      assert.equal(await signJws(suite, key, { alg: 'EdDSA' }, utf8('Example of Ed25519 signing')), A4_JWS)
    })

    it('the A.4 vector is refused with a flipped signature, payload or header, or another key', async () => {
      const [h, p, s] = A4_JWS.split('.') as [string, string, string]
      const pub = fromBase64Url(A1_X)
      const sig = fromBase64Url(s)
      sig[10] = (sig[10] as number) ^ 1
      await rejectsWithCode(() => verifyJws(suite, `${h}.${p}.${toBase64Url(sig)}`, pub), 'GM_ERR_TOKEN_BAD_SIGNATURE')
      await rejectsWithCode(() => verifyJws(suite, `${h}.${toBase64Url(utf8('Example of Ed25519 signinG'))}.${s}`, pub), 'GM_ERR_TOKEN_BAD_SIGNATURE')
      await rejectsWithCode(() => verifyJws(suite, `${toBase64Url(utf8('{"alg":"EdDSA" }'))}.${p}.${s}`, pub), 'GM_ERR_TOKEN_BAD_SIGNATURE')
      const other = await generateIdentity(suite)
      await rejectsWithCode(() => verifyJws(suite, A4_JWS, other.sigPub), 'GM_ERR_TOKEN_BAD_SIGNATURE')
    })

    it('a token verifies for its user, with its claims', async () => {
      const alice = await generateIdentity(suite)
      const token = await createStreamToken(suite, alice, { now: NOW, ttlSeconds: 600 })
      assert.ok(token.length < 500, `${token.length} chars`)
      const [h, p] = token.split('.') as [string, string]
      assert.equal(fromUtf8(fromBase64Url(h)), '{"alg":"EdDSA","typ":"JWT"}')
      const claims = JSON.parse(fromUtf8(fromBase64Url(p))) as Record<string, unknown>
      assert.deepEqual(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'jti', 'sub'])
      assert.equal(claims.aud, 'gatemesh-stream')
      assert.equal(fromBase64Url(claims.jti as string).length, 16)
      const verified = await verifyStreamToken(suite, token, { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW })
      assert.deepEqual(verified, { sub: alice.pseudonym, iat: NOW_S, exp: NOW_S + 600, jti: claims.jti })
      // [STR-4] used again within its window: still valid; each token has its own jti
      assert.deepEqual(await verifyStreamToken(suite, token, { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW + 599_000 }), verified)
      const again = await createStreamToken(suite, alice, { now: NOW })
      assert.notEqual((await verifyStreamToken(suite, again, { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW })).jti, verified.jti)
      // default lifetime: one hour
      const byDefault = await verifyStreamToken(suite, again, { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW })
      assert.equal(byDefault.exp - byDefault.iat, 3600)
    })

    it('refuses an expired token, one from the future and one beyond the longest lifetime, with the skew allowed', async () => {
      const alice = await generateIdentity(suite)
      const who = { sigPub: alice.sigPub, pseudonym: alice.pseudonym }
      const token = await createStreamToken(suite, alice, { now: NOW, ttlSeconds: 600 })
      // expiry plus the 60 s skew is still accepted; a second later it is not
      await verifyStreamToken(suite, token, { ...who, now: NOW + 660_000 })
      await rejectsWithCode(() => verifyStreamToken(suite, token, { ...who, now: NOW + 661_000 }), 'GM_ERR_TOKEN_EXPIRED')
      await rejectsWithCode(() => verifyStreamToken(suite, token, { ...who, now: NOW + 601_000, skewSeconds: 0 }), 'GM_ERR_TOKEN_EXPIRED')
      // issued in the future: within the skew accepted, beyond it refused
      await verifyStreamToken(suite, token, { ...who, now: NOW - 60_000 })
      await rejectsWithCode(() => verifyStreamToken(suite, token, { ...who, now: NOW - 61_000 }), 'GM_ERR_TOKEN_EXPIRED')
      // a day is the longest lifetime: create refuses more, verify refuses a forged one claiming more
      await verifyStreamToken(suite, await createStreamToken(suite, alice, { now: NOW, ttlSeconds: 86_400 }), { ...who, now: NOW })
      await rejectsWithCode(() => createStreamToken(suite, alice, { now: NOW, ttlSeconds: 86_401 }), 'GM_ERR_MALFORMED')
      await rejectsWithCode(() => createStreamToken(suite, alice, { now: NOW, ttlSeconds: 0 }), 'GM_ERR_MALFORMED')
      const claims = { sub: alice.pseudonym, aud: 'gatemesh-stream', iat: NOW_S, exp: NOW_S + 86_401, jti: toBase64Url(new Uint8Array(16)) }
      await rejectsWithCode(async () => await verifyStreamToken(suite, await forge(suite, alice.signingKey, { alg: 'EdDSA', typ: 'JWT' }, claims), { ...who, now: NOW }), 'GM_ERR_TOKEN_EXPIRED')
      await rejectsWithCode(async () => await verifyStreamToken(suite, await forge(suite, alice.signingKey, { alg: 'EdDSA', typ: 'JWT' }, { ...claims, exp: NOW_S }), { ...who, now: NOW }), 'GM_ERR_TOKEN_EXPIRED')
    })

    it('refuses a token of another user, or for another audience, or signed by another key', async () => {
      const alice = await generateIdentity(suite)
      const bob = await generateIdentity(suite)
      const token = await createStreamToken(suite, alice, { now: NOW })
      await rejectsWithCode(() => verifyStreamToken(suite, token, { sigPub: alice.sigPub, pseudonym: bob.pseudonym, now: NOW }), 'GM_ERR_TOKEN_WRONG_SUBJECT')
      await rejectsWithCode(() => verifyStreamToken(suite, token, { sigPub: bob.sigPub, pseudonym: alice.pseudonym, now: NOW }), 'GM_ERR_TOKEN_BAD_SIGNATURE')
      const claims = { sub: alice.pseudonym, aud: 'another-service', iat: NOW_S, exp: NOW_S + 60, jti: toBase64Url(new Uint8Array(16)) }
      await rejectsWithCode(async () => await verifyStreamToken(suite, await forge(suite, alice.signingKey, { alg: 'EdDSA', typ: 'JWT' }, claims), { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW }), 'GM_ERR_TOKEN_WRONG_SUBJECT')
      // bob's signature over a token claiming alice: bob's key is not alice's
      const forged = await forge(suite, bob.signingKey, { alg: 'EdDSA', typ: 'JWT' }, { ...claims, aud: 'gatemesh-stream' })
      await rejectsWithCode(() => verifyStreamToken(suite, forged, { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW }), 'GM_ERR_TOKEN_BAD_SIGNATURE')
    })

    it('refuses tampering: every character of the token changed in turn', async () => {
      const alice = await generateIdentity(suite)
      const who = { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW }
      const token = await createStreamToken(suite, alice, { now: NOW })
      const codes = new Set<string>()
      for (let i = 0; i < token.length; i++) {
        if (token[i] === '.') continue
        const variant = token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1)
        try {
          await verifyStreamToken(suite, variant, who)
        } catch (err) {
          codes.add((err as { code: string }).code)
          continue
        }
        assert.fail(`a change at ${i} was accepted`)
      }
      assert.ok(codes.has('GM_ERR_TOKEN_BAD_SIGNATURE'), [...codes].join())
      for (const code of codes) assert.match(code, /^GM_ERR_TOKEN_(BAD_SIGNATURE|MALFORMED)$/)
    })

    it('refuses malformed tokens before the signature: oversized, not base64url, not three parts, alg none or other, crit, other header', async () => {
      const alice = await generateIdentity(suite)
      const who = { sigPub: alice.sigPub, pseudonym: alice.pseudonym, now: NOW }
      const token = await createStreamToken(suite, alice, { now: NOW })
      const [h, p, s] = token.split('.') as [string, string, string]
      const claims = JSON.parse(fromUtf8(fromBase64Url(p))) as Record<string, unknown>
      const malformed = [
        '', 'abc', `${h}.${p}`, `${token}.${s}`, `${h}.${p}.${s}=`, `${h}.${p}+.${s}`, `${h} .${p}.${s}`, `${h}.${p}.${s.slice(0, -2)}`,
        // the limit is checked first: a valid token padded past it
        `${h}.${p}.${s}${'A'.repeat(MAX_STREAM_TOKEN_BYTES)}`,
        // alg none (RFC 8725 §3.1), no signature
        `${toBase64Url(utf8('{"alg":"none","typ":"JWT"}'))}.${p}.`,
        `${toBase64Url(utf8('{"alg":"none","typ":"JWT"}'))}.${p}.${s}`,
        `${toBase64Url(utf8('{"alg":"ES256","typ":"JWT"}'))}.${p}.${s}`,
        `${toBase64Url(utf8('not json'))}.${p}.${s}`,
        `${toBase64Url(utf8('[1]'))}.${p}.${s}`,
        `${toBase64Url(new Uint8Array([0xff, 0xfe]))}.${p}.${s}`
      ]
      for (const bad of malformed) await rejectsWithCode(() => verifyStreamToken(suite, bad, who), 'GM_ERR_TOKEN_MALFORMED', JSON.stringify(bad.slice(0, 60)))
      await rejectsWithCode(() => verifyStreamToken(suite, 42 as unknown as string, who), 'GM_ERR_TOKEN_MALFORMED')
      // well signed, yet not the header or claims of a stream token
      const signed = [
        [{ alg: 'EdDSA', typ: 'JWT', crit: ['exp'] }, claims],
        [{ alg: 'EdDSA' }, claims],
        [{ alg: 'EdDSA', typ: 'JOSE' }, claims],
        [{ alg: 'EdDSA', typ: 'JWT', kid: 'x' }, claims],
        [{ alg: 'EdDSA', typ: 'JWT' }, { ...claims, iat: '1' }],
        [{ alg: 'EdDSA', typ: 'JWT' }, { ...claims, exp: NOW_S + 0.5 }],
        [{ alg: 'EdDSA', typ: 'JWT' }, { ...claims, sub: undefined }],
        [{ alg: 'EdDSA', typ: 'JWT' }, { ...claims, aud: ['gatemesh-stream'] }],
        [{ alg: 'EdDSA', typ: 'JWT' }, { ...claims, jti: 'short' }]
      ] as const
      for (const [header, body] of signed) {
        await rejectsWithCode(async () => await verifyStreamToken(suite, await forge(suite, alice.signingKey, header, body), who), 'GM_ERR_TOKEN_MALFORMED', JSON.stringify([header, body]))
      }
    })
  })
}
