/**
 * Signed requests in the manner of RFC 9421 (HTTP Message Signatures), with the body's digest in
 * Content-Digest (RFC 9530). The signature covers the method, path, query, body digest, creation
 * time and a nonce; the verifier enforces a freshness window and refuses a nonce seen before.
 * [REQ-1] .. [REQ-7] in docs/PROTOCOL.md.
 */
import type { CryptoSuite, SigningKey } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { equalBytes, fromBase64, toBase64, toBase64Url, utf8 } from './bytes.ts'

export const SIGNATURE_LABEL = 'gm'
const COMPONENTS = '("@method" "@path" "@query" "content-digest")'
const INPUT_PATTERN = /^gm=\("@method" "@path" "@query" "content-digest"\);created=(\d{1,12});nonce="([A-Za-z0-9_-]{16,64})";keyid="([A-Za-z0-9._~-]{1,128})";alg="ed25519"$/
const SIGNATURE_PATTERN = /^gm=:([A-Za-z0-9+/]{86}==):$/
const DIGEST_PATTERN = /^sha-256=:([A-Za-z0-9+/]{43}=):$/

export interface RequestToSign {
  method: string
  /** Path and query as sent, e.g. `/v1/sensors/s1/latest?x=1`. */
  url: string
  body?: Uint8Array
}

export interface SignedRequestHeaders {
  'content-digest': string
  'signature-input': string
  signature: string
}

function splitUrl (url: string): { path: string, query: string } {
  const at = url.indexOf('?')
  // [REQ-2] "@query" is "?" followed by the query, or "?" alone when there is none (RFC 9421 §2.2.7).
  return at === -1 ? { path: url, query: '?' } : { path: url.slice(0, at), query: url.slice(at) }
}

/** [REQ-3] The signature base of RFC 9421 §2.5 for gatemesh's fixed component list. */
function signatureBase (method: string, url: string, digest: string, params: string): Uint8Array {
  const { path, query } = splitUrl(url)
  return utf8([
    `"@method": ${method.toUpperCase()}`,
    `"@path": ${path}`,
    `"@query": ${query}`,
    `"content-digest": ${digest}`,
    `"@signature-params": ${params}`
  ].join('\n'))
}

async function contentDigest (suite: CryptoSuite, body: Uint8Array | undefined): Promise<string> {
  return `sha-256=:${toBase64(await suite.sha256(body ?? new Uint8Array(0)))}:`
}

export interface SignOptions {
  /** Seconds since the epoch; defaults to now. */
  created?: number
  nonce?: string
}

/** [REQ-1] Signs a request as `keyId` (the signer's pseudonym). */
export async function signRequest (suite: CryptoSuite, signer: { keyId: string, key: SigningKey }, request: RequestToSign, options: SignOptions = {}): Promise<SignedRequestHeaders> {
  const created = options.created ?? Math.floor(Date.now() / 1000)
  const nonce = options.nonce ?? toBase64Url(suite.randomBytes(16))
  const params = `${COMPONENTS};created=${created};nonce="${nonce}";keyid="${signer.keyId}";alg="ed25519"`
  const digest = await contentDigest(suite, request.body)
  const sig = await suite.sign(signer.key, signatureBase(request.method, request.url, digest, params))
  return { 'content-digest': digest, 'signature-input': `${SIGNATURE_LABEL}=${params}`, signature: `${SIGNATURE_LABEL}=:${toBase64(sig)}:` }
}

export interface RequestToVerify {
  method: string
  url: string
  headers: Readonly<Record<string, string | string[] | undefined>>
  body?: Uint8Array
}

export interface RequestVerifierComponents {
  suite: CryptoSuite
  /** The Ed25519 public key of a key id, or undefined when unknown. */
  resolveKey: (keyId: string) => Promise<Uint8Array | undefined>
}

export interface RequestVerifierInit {
  /** Largest accepted |now - created|, in seconds. [REQ-5] */
  windowSeconds?: number
  /** Nonces remembered at most, all key ids together; beyond it new requests are refused (GM_ERR_BUSY), never replays let through. [REQ-6] */
  maxNonces?: number
  /** Nonces remembered at most for one key id; beyond it that key id's new requests are refused (GM_ERR_REQUEST_RATE_LIMITED). [REQ-6] */
  maxNoncesPerKey?: number
  now?: () => number
}

/** A refusal that says when to try again (the HTTP services send it as `Retry-After`). */
export interface RetryLater {
  retryAfterSeconds: number
}

function header (headers: RequestToVerify['headers'], name: string): string | undefined {
  const value = headers[name]
  if (Array.isArray(value)) {
    if (value.length !== 1) throw new GatemeshError('GM_ERR_REQUEST_MALFORMED', `Exactly one ${name} header.`)
    return value[0]
  }
  return value
}

/**
 * Verifies signed requests and remembers their nonces for the freshness window, per key id and
 * bounded both per key id and in all: one account that floods nonces fills its own share only.
 */
export class RequestVerifier {
  private readonly suite: CryptoSuite
  private readonly resolveKey: RequestVerifierComponents['resolveKey']
  private readonly windowSeconds: number
  private readonly maxNonces: number
  private readonly maxPerKey: number
  private readonly now: () => number
  /** key id -> nonce -> expiry (seconds); per key id, insertion order is close to expiry order. */
  private readonly nonces = new Map<string, Map<string, number>>()
  /** Nonces remembered, all key ids together. */
  private size = 0
  private sweptAt = 0

  constructor (components: RequestVerifierComponents, init: RequestVerifierInit = {}) {
    this.suite = components.suite
    this.resolveKey = components.resolveKey
    this.windowSeconds = init.windowSeconds ?? 60
    this.maxNonces = init.maxNonces ?? 1_000_000
    this.maxPerKey = Math.min(init.maxNoncesPerKey ?? 1000, this.maxNonces)
    this.now = init.now ?? Date.now
  }

  /** Nonces remembered, all key ids together. */
  get remembered (): number {
    return this.size
  }

  /** Forgets a key id's expired nonces (an entry is never dropped before its expiry). */
  private pruneKey (keyId: string, seen: Map<string, number>, nowSeconds: number): void {
    for (const [nonce, expiry] of seen) {
      if (expiry >= nowSeconds) break
      seen.delete(nonce)
      this.size--
    }
    if (seen.size === 0) this.nonces.delete(keyId)
  }

  /** Forgets every key id's expired nonces: at most once a second when full, else once a window. */
  private sweep (nowSeconds: number): void {
    const due = this.size >= this.maxNonces ? 1 : this.windowSeconds
    if (nowSeconds - this.sweptAt < due) return
    this.sweptAt = nowSeconds
    for (const [keyId, seen] of this.nonces) this.pruneKey(keyId, seen, nowSeconds)
  }

  /** [REQ-6] Refuses a replay; remembers the nonce, within the key id's bound and the cache's. */
  private remember (keyId: string, nonce: string, expiry: number, nowSeconds: number): void {
    this.sweep(nowSeconds)
    let seen = this.nonces.get(keyId)
    if (seen !== undefined) this.pruneKey(keyId, seen, nowSeconds)
    seen = this.nonces.get(keyId)
    if (seen?.has(nonce) === true) throw new GatemeshError('GM_ERR_REQUEST_REPLAYED')
    if (this.size >= this.maxNonces) {
      throw Object.assign(new GatemeshError('GM_ERR_BUSY', 'Too many signed requests in the window.'), { retryAfterSeconds: 1 } satisfies RetryLater)
    }
    if (seen !== undefined && seen.size >= this.maxPerKey) {
      let soonest = Infinity
      for (const at of seen.values()) soonest = Math.min(soonest, at)
      const error = new GatemeshError('GM_ERR_REQUEST_RATE_LIMITED', `At most ${this.maxPerKey} signed requests per account within the window.`)
      throw Object.assign(error, { retryAfterSeconds: Math.max(1, soonest - nowSeconds + 1) } satisfies RetryLater)
    }
    if (seen === undefined) {
      seen = new Map()
      this.nonces.set(keyId, seen)
    }
    seen.set(nonce, expiry)
    this.size++
  }

  /** Resolves to the signer's key id, or throws a GatemeshError (the request codes of docs/ERRORS.md). */
  async verify (request: RequestToVerify): Promise<{ keyId: string }> {
    const input = header(request.headers, 'signature-input')
    const signature = header(request.headers, 'signature')
    const digest = header(request.headers, 'content-digest')
    if (input === undefined && signature === undefined) throw new GatemeshError('GM_ERR_REQUEST_UNSIGNED')
    const inputMatch = INPUT_PATTERN.exec(input ?? '')
    const sigMatch = SIGNATURE_PATTERN.exec(signature ?? '')
    const digestMatch = DIGEST_PATTERN.exec(digest ?? '')
    if (inputMatch === null || sigMatch === null || digestMatch === null) throw new GatemeshError('GM_ERR_REQUEST_MALFORMED')
    const [, createdText, nonce, keyId] = inputMatch as unknown as [string, string, string, string]
    // [REQ-4] The digest must be of the body actually received.
    if (!equalBytes(utf8(digest as string), utf8(await contentDigest(this.suite, request.body)))) throw new GatemeshError('GM_ERR_DIGEST_MISMATCH')
    const nowSeconds = Math.floor(this.now() / 1000)
    const created = Number(createdText)
    if (Math.abs(nowSeconds - created) > this.windowSeconds) throw new GatemeshError('GM_ERR_REQUEST_EXPIRED')
    const publicKey = await this.resolveKey(keyId)
    if (publicKey === undefined) throw new GatemeshError('GM_ERR_UNKNOWN_SIGNER')
    const params = (input as string).slice(SIGNATURE_LABEL.length + 1)
    const base = signatureBase(request.method, request.url, digest as string, params)
    if (!await this.suite.verify(publicKey, base, fromBase64(sigMatch[1] as string))) throw new GatemeshError('GM_ERR_REQUEST_SIGNATURE')
    // [REQ-6] Nonces are checked after the signature, so unsigned traffic cannot fill the cache,
    // and per key id, so one account cannot fill it for every other.
    this.remember(keyId, nonce, created + this.windowSeconds, Math.floor(this.now() / 1000))
    return { keyId }
  }
}
