/**
 * Canonical encoding: deterministic CBOR (RFC 8949 §4.2.1, core deterministic encoding) via cborg.
 * Every signed structure in gatemesh is signed over these bytes, so one value has exactly one
 * encoding. [ENC-1] [ENC-2]
 */
import { encode, decode, rfc8949EncodeOptions } from 'cborg'
import { GatemeshError } from './errors.ts'
import { equalBytes } from './bytes.ts'

/** The largest structure the core decodes unless told otherwise (1 MiB). */
export const DEFAULT_MAX_BYTES = 1024 * 1024

export function encodeCanonical (value: unknown): Uint8Array {
  return encode(value, rfc8949EncodeOptions)
}

const ORDERED_OPTIONS = { ...rfc8949EncodeOptions, mapSorter: undefined }

/**
 * Encodes without sorting map keys: for hot paths whose maps are built with their keys already
 * in canonical order. The result must equal encodeCanonical's; tests and every decoder hold it to
 * that, since decodeCanonical rejects non-canonical bytes.
 */
export function encodeOrdered (value: unknown): Uint8Array {
  return encode(value, ORDERED_OPTIONS)
}

export interface DecodeOptions {
  maxBytes?: number
  /** Reject input that is not in canonical form (re-encoding must give the same bytes). [ENC-3] */
  requireCanonical?: boolean
}

/** Decodes CBOR strictly; any failure is a GatemeshError, never another exception. */
export function decodeCanonical (bytes: Uint8Array, options: DecodeOptions = {}): unknown {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (!(bytes instanceof Uint8Array)) throw new GatemeshError('GM_ERR_MALFORMED', 'Expected bytes.')
  // [ENC-4] Bound the size before parsing anything.
  if (bytes.length > maxBytes) throw new GatemeshError('GM_ERR_TOO_LARGE', `${bytes.length} > ${maxBytes} bytes.`)
  let value: unknown
  try {
    value = decode(bytes, { strict: true, allowIndefinite: false, rejectDuplicateMapKeys: true, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false, useMaps: false })
  } catch (err) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'Not valid CBOR.', { cause: err })
  }
  if (options.requireCanonical !== false) {
    let again: Uint8Array
    try {
      again = encodeCanonical(value)
    } catch (err) {
      throw new GatemeshError('GM_ERR_MALFORMED', 'Not encodable.', { cause: err })
    }
    if (!equalBytes(again, bytes)) throw new GatemeshError('GM_ERR_NON_CANONICAL')
  }
  return value
}
