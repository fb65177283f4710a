/**
 * The client's HTTP transport: JSON over `fetch` (browser or Node), optional signing [REQ-1], and
 * the mapping of `{ code, message }` refusals back to GatemeshError. [ACS-14]
 */
import type { CryptoSuite, Identity } from '../core/index.ts'
import { GatemeshError, concatAll, decodeCanonical, fromUtf8, isGatemeshError, signRequest, utf8 } from '../core/index.ts'

export type FetchFunction = (input: string, init: RequestInit) => Promise<Response>

export interface TransportInit {
  gateway: string
  suite: CryptoSuite
  fetch?: FetchFunction
  /** Per request; default 30 s. */
  timeoutMs?: number
}

const CODE = /^GM_ERR_[A-Z0-9_]{1,64}$/
const MAX_MESSAGE = 500
/** Larger than any answer of the access API (a sensor record is at most 64 KiB, as base64). */
const MAX_ANSWER_BYTES = 1024 * 1024

/** A gateway's base URL (a base path, if any, prefixes every route). */
export function parseGatewayUrl (text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CLIENT_GATEWAY_URL', undefined, { cause: err })
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new GatemeshError('GM_ERR_CLIENT_GATEWAY_URL')
  }
  return url
}

export class Transport {
  readonly gateway: URL
  private readonly suite: CryptoSuite
  private readonly fetchFn: FetchFunction
  private readonly timeoutMs: number

  constructor (init: TransportInit) {
    this.gateway = parseGatewayUrl(init.gateway)
    this.suite = init.suite
    this.fetchFn = init.fetch ?? (async (input, requestInit) => await globalThis.fetch(input, requestInit))
    this.timeoutMs = init.timeoutMs ?? 30_000
  }

  /**
   * Sends a request to `path` (e.g. `/v1/sensors/s1`) and resolves to the JSON answer. With a
   * signer the request is signed as the signer's pseudonym.
   */
  async request (method: string, path: string, options: { body?: unknown, signer?: Identity, query?: Record<string, string | undefined>, maxBytes?: number, cbor?: boolean } = {}): Promise<Record<string, unknown>> {
    const target = new URL(this.gateway.href)
    target.pathname = `${this.gateway.pathname.replace(/\/+$/, '')}${path}`
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) target.searchParams.set(name, value)
    const text = options.body === undefined ? undefined : JSON.stringify(options.body)
    // The digest is over the UTF-8 bytes that fetch sends for this string.
    const body = text === undefined ? undefined : utf8(text)
    // [PER-56] a route that can answer in CBOR does when asked; any other answers JSON
    const headers: Record<string, string> = { accept: options.cbor === true ? 'application/cbor, application/json;q=0.5' : 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (options.signer !== undefined) {
      // [REQ-2] "@path" is the path exactly as sent, including a base path of the gateway URL.
      Object.assign(headers, await signRequest(this.suite, { keyId: options.signer.pseudonym, key: options.signer.signingKey }, { method, url: `${target.pathname}${target.search}`, body }))
    }
    let response: Response
    try {
      response = await this.fetchFn(target.href, { method, headers, body: text, signal: AbortSignal.timeout(this.timeoutMs) })
    } catch (err) {
      throw new GatemeshError('GM_ERR_CLIENT_UNREACHABLE', `No answer from ${this.gateway.origin}.`, { cause: err })
    }
    let parsed: unknown
    const max = options.maxBytes ?? MAX_ANSWER_BYTES
    const type = response.headers.get('content-type') ?? ''
    if (options.cbor === true && response.ok && /^application\/cbor\s*(;|$)/i.test(type)) {
      try {
        // [PER-56] canonical CBOR, decoded from the body this call owns (byte strings are views of it)
        parsed = decodeCanonical(await readBoundedBytes(response, max), { maxBytes: max, inputOwned: true })
      } catch (err) {
        // the answer's own size refusal passes as it is; anything else is a bad answer
        if (isGatemeshError(err, 'GM_ERR_CLIENT_BAD_RESPONSE')) throw err
        throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `HTTP ${response.status}, not canonical CBOR.`, { cause: err })
      }
    } else {
      try {
        parsed = JSON.parse(fromUtf8(await readBoundedBytes(response, max)))
      } catch (err) {
        if (err instanceof GatemeshError) throw err
        throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `HTTP ${response.status}, not JSON.`, { cause: err })
      }
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `HTTP ${response.status}.`)
    const answer = parsed as Record<string, unknown>
    if (response.ok) return answer
    throw remoteError(response.status, answer)
  }
}

/** The body's bytes, refusing more than `max` without reading them all. */
async function readBoundedBytes (response: Response, max: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (declared > max) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `The answer is larger than ${max} bytes.`)
  if (response.body === null) return new Uint8Array(0)
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.length
    if (total > max) {
      await reader.cancel()
      throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `The answer is larger than ${max} bytes.`)
    }
    chunks.push(value)
  }
  // a body may come in any number of chunks: concatAll, not concat's spread arguments
  return chunks.length === 1 ? chunks[0] as Uint8Array : concatAll(chunks)
}

/** [ACS-14] A gateway's `{ code, message }` as a GatemeshError with that code and status. */
export function remoteError (status: number, answer: Record<string, unknown>): GatemeshError {
  const { code, message } = answer
  if (typeof code !== 'string' || !CODE.test(code)) return new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `HTTP ${status} without an error code.`)
  const error = new GatemeshError(code as `GM_ERR_${string}`, undefined, { status })
  // The gateway's words are kept (they carry detail); the code is what programs rely on.
  if (typeof message === 'string' && message !== '') error.message = message.slice(0, MAX_MESSAGE)
  return error
}

/** A base64 field of an answer, or GM_ERR_CLIENT_BAD_RESPONSE. */
export function stringField (answer: Record<string, unknown>, name: string): string {
  const value = answer[name]
  if (typeof value !== 'string') throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `Field '${name}' is missing.`)
  return value
}
