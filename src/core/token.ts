/**
 * Stream tokens: what an application gives a stream peer as its MQTT password. A JWT (RFC 7519)
 * in JWS compact serialization (RFC 7515) signed with EdDSA (RFC 8037) by the user's Ed25519
 * signing key, so stock MQTT clients can carry it and any JOSE library can read it. [STR-1] .. [STR-4]
 *
 * No new cryptography: the signature is the suite's Ed25519 over the JWS signing input.
 */
import type { CryptoSuite, SigningKey } from './suite.ts'
import type { Identity } from './identity.ts'
import { GatemeshError } from './errors.ts'
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from './bytes.ts'

/** [STR-2] The audience of every stream token. */
export const STREAM_TOKEN_AUDIENCE = 'gatemesh-stream'
/** [STR-3] The longest lifetime a token may claim (exp - iat), in seconds. */
export const MAX_STREAM_TOKEN_TTL_SECONDS = 86_400
export const DEFAULT_STREAM_TOKEN_TTL_SECONDS = 3600
/** [STR-3] Larger tokens are refused before anything is decoded. */
export const MAX_STREAM_TOKEN_BYTES = 2048
export const DEFAULT_TOKEN_SKEW_SECONDS = 60

const B64URL = /^[A-Za-z0-9_-]*$/

function malformed (detail: string, cause?: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_TOKEN_MALFORMED', detail, { cause })
}

function part (text: string, what: string): Uint8Array {
  // the alphabet first: the decoder's verdicts are the same, its message is not ours
  if (!B64URL.test(text)) throw malformed(`The ${what} is not base64url.`)
  try {
    return fromBase64Url(text)
  } catch (err) {
    throw malformed(`The ${what} is not base64url.`, err)
  }
}

function jsonObject (bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(fromUtf8(bytes))
  } catch (err) {
    throw malformed(`The ${what} is not UTF-8 JSON.`, err)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(`The ${what} is not a JSON object.`)
  return value as Record<string, unknown>
}

/**
 * [STR-1] A JWS compact serialization (RFC 7515 §7.1) of `payload` under `header`, signed with
 * EdDSA over Ed25519 (RFC 8037 §3.1): `BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(sig)`.
 */
export async function signJws (suite: CryptoSuite, key: SigningKey, header: Record<string, unknown>, payload: Uint8Array): Promise<string> {
  if (header.alg !== 'EdDSA') throw new GatemeshError('GM_ERR_MALFORMED', 'Only EdDSA JWS are made.')
  const input = `${toBase64Url(utf8(JSON.stringify(header)))}.${toBase64Url(payload)}`
  const sig = await suite.sign(key, utf8(input))
  return `${input}.${toBase64Url(sig)}`
}

export interface VerifiedJws {
  header: Record<string, unknown>
  payload: Uint8Array
}

/**
 * [STR-1] Verifies a JWS compact serialization signed with EdDSA/Ed25519 by `publicKey`. Refuses,
 * before checking the signature: more than `maxBytes` characters, not three base64url parts, a
 * header that is not a JSON object, an `alg` other than "EdDSA" (so never "none", RFC 8725
 * §3.1), a `crit` header (no extension is understood, RFC 7515 §4.1.11), a signature that is not
 * 64 bytes: GM_ERR_TOKEN_MALFORMED. A signature that does not verify: GM_ERR_TOKEN_BAD_SIGNATURE.
 */
export async function verifyJws (suite: CryptoSuite, jws: string, publicKey: Uint8Array, options: { maxBytes?: number } = {}): Promise<VerifiedJws> {
  const maxBytes = options.maxBytes ?? MAX_STREAM_TOKEN_BYTES
  if (typeof jws !== 'string') throw malformed('Expected a string.')
  // ASCII only is allowed below, so characters are bytes
  if (jws.length > maxBytes) throw malformed(`Longer than ${maxBytes} bytes.`)
  const parts = jws.split('.')
  if (parts.length !== 3) throw malformed('A JWS compact serialization has three parts.')
  const [headerText, payloadText, sigText] = parts as [string, string, string]
  const header = jsonObject(part(headerText, 'JWS header'), 'JWS header')
  if (header.alg !== 'EdDSA') throw malformed(`The algorithm is ${JSON.stringify(header.alg) ?? 'missing'}, not "EdDSA".`)
  if (header.crit !== undefined) throw malformed('No critical JWS extension is supported.')
  const payload = part(payloadText, 'JWS payload')
  const sig = part(sigText, 'JWS signature')
  if (sig.length !== 64) throw malformed('An Ed25519 signature is 64 bytes.')
  if (!await suite.verify(publicKey, utf8(`${headerText}.${payloadText}`), sig)) throw new GatemeshError('GM_ERR_TOKEN_BAD_SIGNATURE')
  return { header, payload }
}

/** [STR-2] The claims of a verified stream token. */
export interface StreamTokenClaims {
  sub: string
  iat: number
  exp: number
  jti: string
}

const TOKEN_HEADER = { alg: 'EdDSA', typ: 'JWT' }
const JTI = /^[A-Za-z0-9_-]{22}$/

function checkTtl (ttl: number): void {
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_STREAM_TOKEN_TTL_SECONDS) {
    throw new GatemeshError('GM_ERR_MALFORMED', `A stream token lives 1 to ${MAX_STREAM_TOKEN_TTL_SECONDS} seconds.`)
  }
}

/**
 * [STR-2] A stream token for `identity`: header `{"alg":"EdDSA","typ":"JWT"}`, claims `sub` (the
 * pseudonym), `aud` ("gatemesh-stream"), `iat` and `exp` (seconds), `jti` (16 random bytes,
 * base64url). `now` is in milliseconds (default Date.now()); `ttlSeconds` 1 to 86 400, default 3600.
 */
export async function createStreamToken (suite: CryptoSuite, identity: Pick<Identity, 'pseudonym' | 'signingKey'>, options: { ttlSeconds?: number, now?: number } = {}): Promise<string> {
  const ttl = options.ttlSeconds ?? DEFAULT_STREAM_TOKEN_TTL_SECONDS
  checkTtl(ttl)
  const iat = Math.floor((options.now ?? Date.now()) / 1000)
  const claims = { sub: identity.pseudonym, aud: STREAM_TOKEN_AUDIENCE, iat, exp: iat + ttl, jti: toBase64Url(suite.randomBytes(16)) }
  return await signJws(suite, identity.signingKey, TOKEN_HEADER, utf8(JSON.stringify(claims)))
}

export interface VerifyStreamTokenOptions {
  /** The user's Ed25519 public key (from its verified account record). */
  sigPub: Uint8Array
  /** The pseudonym the token must be for (the MQTT user name). */
  pseudonym: string
  /** Milliseconds since the epoch; default Date.now(). */
  now?: number
  /** Clock difference tolerated on `iat` and `exp`, seconds; default 60. */
  skewSeconds?: number
}

function numericDate (claims: Record<string, unknown>, name: string): number {
  const value = claims[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw malformed(`Claim '${name}' must be a non-negative integer.`)
  return value
}

/**
 * [STR-3] Verifies a stream token: size, form and signature ([STR-1]), the header exactly
 * `{"alg":"EdDSA","typ":"JWT"}` (as parsed), then the claims: `sub` the pseudonym and `aud`
 * "gatemesh-stream" (GM_ERR_TOKEN_WRONG_SUBJECT), and the time window (GM_ERR_TOKEN_EXPIRED):
 * refused when now > exp + skew, iat > now + skew, or exp - iat is not 1 to 86 400 seconds.
 * [STR-4] A token may be used again within its window; outside it, it is refused.
 */
export async function verifyStreamToken (suite: CryptoSuite, token: string, options: VerifyStreamTokenOptions): Promise<StreamTokenClaims> {
  const { header, payload } = await verifyJws(suite, token, options.sigPub, { maxBytes: MAX_STREAM_TOKEN_BYTES })
  const headerKeys = Object.keys(header).sort()
  if (headerKeys.length !== 2 || headerKeys[0] !== 'alg' || headerKeys[1] !== 'typ' || header.typ !== 'JWT') throw malformed('The header must be {"alg":"EdDSA","typ":"JWT"}.')
  const claims = jsonObject(payload, 'claim set')
  const sub = claims.sub
  const aud = claims.aud
  if (typeof sub !== 'string' || typeof aud !== 'string') throw malformed('Claims \'sub\' and \'aud\' must be strings.')
  const iat = numericDate(claims, 'iat')
  const exp = numericDate(claims, 'exp')
  const jti = claims.jti
  if (typeof jti !== 'string' || !JTI.test(jti)) throw malformed('Claim \'jti\' must be 16 bytes, base64url.')
  if (sub !== options.pseudonym) throw new GatemeshError('GM_ERR_TOKEN_WRONG_SUBJECT', 'It is for another user.')
  if (aud !== STREAM_TOKEN_AUDIENCE) throw new GatemeshError('GM_ERR_TOKEN_WRONG_SUBJECT', `Its audience is not '${STREAM_TOKEN_AUDIENCE}'.`)
  const now = Math.floor((options.now ?? Date.now()) / 1000)
  const skew = options.skewSeconds ?? DEFAULT_TOKEN_SKEW_SECONDS
  if (exp <= iat || exp - iat > MAX_STREAM_TOKEN_TTL_SECONDS) throw new GatemeshError('GM_ERR_TOKEN_EXPIRED', `Its lifetime must be 1 to ${MAX_STREAM_TOKEN_TTL_SECONDS} seconds.`)
  if (now > exp + skew) throw new GatemeshError('GM_ERR_TOKEN_EXPIRED', 'It has expired.')
  if (iat > now + skew) throw new GatemeshError('GM_ERR_TOKEN_EXPIRED', 'It was issued in the future.')
  return { sub, iat, exp, jti }
}
