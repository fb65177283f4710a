/**
 * Every failure gatemesh reports carries a stable code (`GM_ERR_...`). Each part of gatemesh
 * declares its codes in one table (`defineErrors` in the part's errors.ts); this module lists
 * every table by name and builds from them the one registry that GatemeshError reads, so a code
 * has its status and message whatever a program happened to import. docs/ERRORS.md lists every
 * code, and test/error-codes.test.ts holds the tables, this list, the source and the document
 * together (a part's errors.ts missing here fails it).
 *
 * The part tables are the one place where the core imports from above it: they are data only,
 * each importing nothing but ./error-table.ts, so no part's code comes with them.
 */
import { defineErrors, type ErrorCode, type ErrorSpec, type ErrorTable } from './error-table.ts'
import { PKI_ERRORS } from '../pki/errors.ts'
import { CA_ERRORS } from '../ca/errors.ts'
import { OVERLAY_ERRORS } from '../overlay/errors.ts'
import { GATEWAY_ERRORS } from '../gateway/errors.ts'
import { COLLECTOR_ERRORS } from '../gateway/collector/errors.ts'
import { ACCESS_ERRORS } from '../gateway/access/errors.ts'
import { CLIENT_ERRORS } from '../client/errors.ts'
import { CLI_ERRORS } from '../cli/errors.ts'
import { PIPELINE_ERRORS } from '../gateway/pipeline/errors.ts'
import { PERSISTENCE_ERRORS } from '../gateway/persistence/errors.ts'
import { STREAM_ERRORS } from '../gateway/stream/errors.ts'
import { STREAM_RELAY_ERRORS } from '../gateway/stream/relay-errors.ts'
import { HTTP_ERRORS } from '../platform/errors.ts'

export { defineErrors, type ErrorCode, type ErrorSpec, type ErrorTable }

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
  GM_ERR_BUSY: { status: 503, message: 'The service is overloaded; try again shortly.' },

  // Stream tokens ([STR-1] .. [STR-4])
  GM_ERR_TOKEN_MALFORMED: { status: 401, message: 'The token is not a well-formed EdDSA JWT of the stream (too long, not three base64url parts, another algorithm or header, a claim missing or of the wrong type).' },
  GM_ERR_TOKEN_BAD_SIGNATURE: { status: 401, message: 'The token\'s signature does not verify with the user\'s signing key.' },
  // GM_ERR_TOKEN_EXPIRED, also thrown for stream tokens, is declared once, in the pki table
  GM_ERR_TOKEN_WRONG_SUBJECT: { status: 401, message: 'The token is for another user or another audience.' },

  // History pages ([PER-12]): what a reader finds wrong with a replica's answer
  GM_ERR_HISTORY_TAMPERED: { status: 502, message: 'The replica\'s answer was tampered with: a reading or checkpoint does not verify, is of another sensor, or is out of range or order.' },
  GM_ERR_HISTORY_INCOMPLETE: { status: 502, message: 'The replica\'s answer leaves out what its collectors\' checkpoints prove: a reading or a checkpoint was withheld.' }
})

export type CoreErrorCode = keyof typeof CORE_ERRORS

/** Every part's error table, by part. */
export const ERROR_TABLES: Readonly<Record<string, ErrorTable>> = {
  core: CORE_ERRORS,
  pki: PKI_ERRORS,
  ca: CA_ERRORS,
  overlay: OVERLAY_ERRORS,
  gateway: GATEWAY_ERRORS,
  collector: COLLECTOR_ERRORS,
  access: ACCESS_ERRORS,
  client: CLIENT_ERRORS,
  cli: CLI_ERRORS,
  pipeline: PIPELINE_ERRORS,
  persistence: PERSISTENCE_ERRORS,
  stream: STREAM_ERRORS,
  'stream-relay': STREAM_RELAY_ERRORS,
  http: HTTP_ERRORS
}

/** One map of the tables' codes; a code declared in two tables is refused. */
export function buildErrorRegistry (tables: Readonly<Record<string, ErrorTable>>): ReadonlyMap<string, ErrorSpec> {
  const registry = new Map<string, ErrorSpec>()
  const owner = new Map<string, string>()
  for (const [part, table] of Object.entries(tables)) {
    for (const [code, spec] of Object.entries(table)) {
      const first = owner.get(code)
      if (first !== undefined) throw new Error(`error code ${code} is declared twice (${first}, ${part})`)
      owner.set(code, part)
      registry.set(code, spec)
    }
  }
  return registry
}

const registry = buildErrorRegistry(ERROR_TABLES)

/** Every code of every part, with its spec. */
export function registeredErrors (): ReadonlyMap<string, ErrorSpec> {
  return registry
}

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
