/**
 * The stream payload: what an application receives on `sensors/<id>/readings` from a stream
 * peer. The sealed envelope exactly as its collector signed it, and that collector's certificate,
 * so that the reader checks [ENV-10] without asking anyone. [STR-20] .. [STR-23]
 */
import { GatemeshError } from './errors.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { MAX_ENVELOPE_BYTES } from './envelope.ts'
import { asStruct, onlyKeys } from './shape.ts'

export const STREAM_PAYLOAD_VERSION = 1
/** [STR-21] A gateway certificate (DER) carried in a payload is at most this long. */
export const MAX_STREAM_CERT_BYTES = 8192
/** [STR-21] The envelope, the certificate and the map's own bytes (its keys and heads). */
export const MAX_STREAM_PAYLOAD_BYTES = MAX_ENVELOPE_BYTES + MAX_STREAM_CERT_BYTES + 64

/** [STR-22] What a stream peer hands on: never opened, never re-encoded. */
export interface StreamPayload {
  /** The sealed envelope ([ENV-1]), byte for byte as its collector signed it. */
  env: Uint8Array
  /** The collecting gateway's certificate, DER. */
  cert: Uint8Array
}

function checkField (value: unknown, name: string, max: number): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0 || value.length > max) {
    throw new GatemeshError('GM_ERR_MALFORMED', `Field '${name}' must be 1 to ${max} bytes.`)
  }
  return value
}

/** [STR-20] `CBOR({ v: 1, env, cert })`, canonical ([ENC-3]). */
export function encodeStreamPayload (payload: StreamPayload): Uint8Array {
  const env = checkField(payload.env, 'env', MAX_ENVELOPE_BYTES)
  const cert = checkField(payload.cert, 'cert', MAX_STREAM_CERT_BYTES)
  return encodeCanonical({ v: STREAM_PAYLOAD_VERSION, env, cert })
}

/**
 * [STR-20] [STR-21] Decodes a stream payload and checks its form: canonical CBOR of at most
 * MAX_STREAM_PAYLOAD_BYTES (GM_ERR_TOO_LARGE beyond, before parsing), a map of exactly `v`
 * (1, else GM_ERR_UNSUPPORTED_VERSION), `env` (1 byte to the [ENV-8] limit) and `cert` (1 to
 * 8 192 bytes); GM_ERR_MALFORMED or GM_ERR_NON_CANONICAL otherwise. Verifies nothing: the
 * envelope and certificate are the reader's to check ([STR-42]).
 */
export function decodeStreamPayload (encoded: Uint8Array): StreamPayload {
  const struct = asStruct(decodeCanonical(encoded, { maxBytes: MAX_STREAM_PAYLOAD_BYTES }), 'A stream payload')
  onlyKeys(struct, ['v', 'env', 'cert'], 'A stream payload')
  if (struct.v !== STREAM_PAYLOAD_VERSION) {
    if (typeof struct.v !== 'number') throw new GatemeshError('GM_ERR_MALFORMED', 'Field \'v\' must be a version number.')
    throw new GatemeshError('GM_ERR_UNSUPPORTED_VERSION', `Stream payload version ${struct.v}.`)
  }
  return { env: checkField(struct.env, 'env', MAX_ENVELOPE_BYTES), cert: checkField(struct.cert, 'cert', MAX_STREAM_CERT_BYTES) }
}
