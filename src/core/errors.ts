/**
 * Every failure gatemesh reports carries a stable code (`GM_ERR_...`). Each part of gatemesh
 * declares its codes in one table passed to `defineErrors`; docs/ERRORS.md lists every code, and
 * a test (test/error-codes.test.ts) holds the tables, the source and the document together.
 */

export type ErrorCode = `GM_ERR_${string}`

export interface ErrorSpec {
  /** HTTP status that a service answers with when this error reaches a client. */
  readonly status: number
  /** One sentence on what went wrong, for people. */
  readonly message: string
}

export type ErrorTable = Readonly<Record<ErrorCode, ErrorSpec>>

const registry = new Map<string, ErrorSpec>()

/** Registers a part's error codes; a code may be declared once only. Returns the table. */
export function defineErrors<T extends ErrorTable> (table: T): T {
  for (const [code, spec] of Object.entries(table)) {
    const known = registry.get(code)
    if (known !== undefined && known !== spec) throw new Error(`error code ${code} is declared twice`)
    registry.set(code, spec)
  }
  return table
}

/** Every code declared so far, with its spec. */
export function registeredErrors (): ReadonlyMap<string, ErrorSpec> {
  return registry
}

export const CORE_ERRORS = defineErrors({
  // Encoding and input shape
  GM_ERR_MALFORMED: { status: 400, message: 'The input is not well formed.' },
  GM_ERR_TOO_LARGE: { status: 413, message: 'The input is larger than allowed.' },
  GM_ERR_NON_CANONICAL: { status: 400, message: 'The input is not in canonical (deterministic) encoding.' },
  GM_ERR_UNSUPPORTED_VERSION: { status: 400, message: 'The format version is not supported.' },

  // Keys and identities
  GM_ERR_BAD_KEY: { status: 400, message: 'A key has the wrong length or cannot be imported.' },
  GM_ERR_PSEUDONYM_MISMATCH: { status: 400, message: 'The public keys do not belong to the pseudonym.' },

  // Account bundles
  GM_ERR_BAD_PASSWORD: { status: 401, message: 'The password does not open this account.' },
  GM_ERR_WEAK_KDF: { status: 400, message: 'The password derivation parameters are below the minimum.' },

  // Signatures and records
  GM_ERR_BAD_SIGNATURE: { status: 401, message: 'The signature does not verify.' },
  GM_ERR_EXPIRED: { status: 410, message: 'The record has expired.' },
  GM_ERR_STALE_RECORD: { status: 409, message: 'A record with a newer sequence number is already held.' },
  GM_ERR_WRONG_RECORD_TYPE: { status: 400, message: 'The record is not of the expected type.' },

  // Reading envelopes
  GM_ERR_NOT_A_RECIPIENT: { status: 403, message: 'The envelope holds no key wrapped for this reader.' },
  GM_ERR_DECRYPT_FAILED: { status: 400, message: 'The ciphertext does not decrypt: it was altered or the key is wrong.' },
  GM_ERR_NO_RECIPIENTS: { status: 400, message: 'A reading must be sealed for at least one recipient.' },

  // Signed requests
  GM_ERR_REQUEST_UNSIGNED: { status: 401, message: 'The request carries no signature.' },
  GM_ERR_REQUEST_MALFORMED: { status: 400, message: 'The request signature headers are malformed.' },
  GM_ERR_REQUEST_SIGNATURE: { status: 401, message: 'The request signature does not verify.' },
  GM_ERR_REQUEST_EXPIRED: { status: 401, message: 'The request was signed outside the freshness window.' },
  GM_ERR_REQUEST_REPLAYED: { status: 401, message: 'The request nonce was already used.' },
  GM_ERR_REQUEST_RATE_LIMITED: { status: 429, message: 'The account sent more signed requests within the window than this service remembers for one account; retry later.' },
  GM_ERR_DIGEST_MISMATCH: { status: 400, message: 'The body does not match its Content-Digest.' },
  GM_ERR_UNKNOWN_SIGNER: { status: 401, message: 'The key id of the request names no known signer.' },
  GM_ERR_BUSY: { status: 503, message: 'The service is overloaded; try again shortly.' }
})

export type CoreErrorCode = keyof typeof CORE_ERRORS

export interface GatemeshErrorOptions {
  cause?: unknown
  /** Overrides the table's HTTP status where a caller knows better. */
  status?: number
}

/**
 * The one error class of gatemesh. `code` is stable and documented; `message` is for people and
 * may change. Never put a key, password, token or plaintext reading into `detail`.
 */
export class GatemeshError extends Error {
  readonly code: ErrorCode
  readonly status: number

  constructor (code: ErrorCode, detail?: string, options: GatemeshErrorOptions = {}) {
    const spec = registry.get(code) ?? { status: 500, message: 'Unexpected error.' }
    super(detail === undefined ? spec.message : `${spec.message} ${detail}`, { cause: options.cause })
    this.name = 'GatemeshError'
    this.code = code
    this.status = options.status ?? spec.status
  }

  toJSON (): { code: ErrorCode, message: string } {
    return { code: this.code, message: this.message }
  }
}

export function isGatemeshError (value: unknown, code?: ErrorCode): value is GatemeshError {
  return value instanceof GatemeshError && (code === undefined || value.code === code)
}
