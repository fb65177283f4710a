/**
 * The relay message between peers ([STR-30]): one sealed batch of one collector,
 * `CBOR({ v: 1, cert: bytes, envs: [bytes, ...] })` in canonical form ([ENC-3]), at most 1 MiB.
 * The encoder splits a larger batch; the decoder bounds everything before it trusts anything.
 * Also the stream payload an application receives (STR-20, section 2 of the stream design).
 */
import { GatemeshError, MAX_READING_BYTES, MAX_RECIPIENTS, decodeCanonical, encodeCanonical, isGatemeshError } from '../../core/index.ts'

export const RELAY_VERSION = 1
/** [STR-30] A relay message is at most 1 MiB. */
export const MAX_RELAY_MESSAGE_BYTES = 1024 * 1024
/** [STR-30] At most this many envelopes in one relay message. */
export const MAX_RELAY_ENVELOPES = 4096
/** [STR-30] A gateway certificate (DER) is at most 8 KiB (the stream payload's bound, STR-20). */
export const MAX_RELAY_CERT_BYTES = 8192
/** [ENV-8] The largest envelope: a reading of 64 KiB with its tag, 256 wraps and 1 KiB of the rest. */
export const MAX_RELAY_ENVELOPE_BYTES = MAX_READING_BYTES + 16 + MAX_RECIPIENTS * 200 + 1024
/** What the CBOR framing of a message costs besides its envelopes and certificate (map, keys, heads). */
const FRAME_OVERHEAD = 64
/** Each envelope's byte-string head in the array. */
const ENVELOPE_HEAD = 5

export interface RelayMessage {
  cert: Uint8Array
  envs: Uint8Array[]
}

/** One encoded relay message and how many envelopes it carries. */
export interface EncodedRelayMessage {
  bytes: Uint8Array
  envelopes: number
}

function malformed (message: string, cause?: unknown): GatemeshError {
  return new GatemeshError('GM_ERR_STREAM_RELAY_MALFORMED', message, cause === undefined ? undefined : { cause })
}

/**
 * [STR-30] The relay messages of one sealed batch: as few as hold it, each at most 1 MiB and
 * {@link MAX_RELAY_ENVELOPES} envelopes, the envelopes in their order. An envelope over the
 * [ENV-8] bound or a certificate over 8 KiB is GM_ERR_STREAM_RELAY_TOO_LARGE.
 */
export function encodeRelayMessages (cert: Uint8Array, envs: readonly Uint8Array[]): EncodedRelayMessage[] {
  if (cert.length > MAX_RELAY_CERT_BYTES) throw new GatemeshError('GM_ERR_STREAM_RELAY_TOO_LARGE', `A certificate of ${cert.length} bytes is over ${MAX_RELAY_CERT_BYTES}.`)
  const budget = MAX_RELAY_MESSAGE_BYTES - FRAME_OVERHEAD - cert.length
  const messages: EncodedRelayMessage[] = []
  let part: Uint8Array[] = []
  let size = 0
  for (const env of envs) {
    if (env.length > MAX_RELAY_ENVELOPE_BYTES) throw new GatemeshError('GM_ERR_STREAM_RELAY_TOO_LARGE', `An envelope of ${env.length} bytes is over ${MAX_RELAY_ENVELOPE_BYTES}.`)
    if (part.length > 0 && (size + env.length + ENVELOPE_HEAD > budget || part.length === MAX_RELAY_ENVELOPES)) {
      messages.push({ bytes: encodeCanonical({ v: RELAY_VERSION, cert, envs: part }), envelopes: part.length })
      part = []
      size = 0
    }
    part.push(env)
    size += env.length + ENVELOPE_HEAD
  }
  if (part.length > 0) messages.push({ bytes: encodeCanonical({ v: RELAY_VERSION, cert, envs: part }), envelopes: part.length })
  return messages
}

/**
 * [STR-30] Decodes a relay message: at most 1 MiB (GM_ERR_STREAM_RELAY_TOO_LARGE, checked before
 * decoding), canonical CBOR, exactly the fields v (1), cert (1..8 192 bytes) and envs (1..4 096
 * byte strings, each 1 byte to the [ENV-8] bound); anything else GM_ERR_STREAM_RELAY_MALFORMED.
 * Nothing is verified here ([STR-31] is the validator's).
 */
export function decodeRelayMessage (bytes: Uint8Array): RelayMessage {
  if (!(bytes instanceof Uint8Array)) throw malformed('Expected bytes.')
  if (bytes.length > MAX_RELAY_MESSAGE_BYTES) throw new GatemeshError('GM_ERR_STREAM_RELAY_TOO_LARGE', `${bytes.length} > ${MAX_RELAY_MESSAGE_BYTES} bytes.`)
  let value: unknown
  try {
    value = decodeCanonical(bytes, { maxBytes: MAX_RELAY_MESSAGE_BYTES })
  } catch (err) {
    throw malformed(isGatemeshError(err) ? `Not canonical CBOR (${err.code}).` : 'Not canonical CBOR.', err)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw malformed('A relay message is a map.')
  const map = value as Record<string, unknown>
  const keys = Object.keys(map)
  if (keys.length !== 3 || !keys.includes('v') || !keys.includes('cert') || !keys.includes('envs')) throw malformed('A relay message has exactly the fields v, cert and envs.')
  if (map.v !== RELAY_VERSION) throw malformed(`Unsupported relay message version (this build speaks ${RELAY_VERSION}).`)
  const cert = map.cert
  if (!(cert instanceof Uint8Array) || cert.length === 0 || cert.length > MAX_RELAY_CERT_BYTES) throw malformed(`Field 'cert' must be 1 to ${MAX_RELAY_CERT_BYTES} bytes.`)
  const envs = map.envs
  if (!Array.isArray(envs) || envs.length === 0 || envs.length > MAX_RELAY_ENVELOPES) throw malformed(`Field 'envs' must list 1 to ${MAX_RELAY_ENVELOPES} envelopes.`)
  for (const env of envs) {
    if (!(env instanceof Uint8Array) || env.length === 0 || env.length > MAX_RELAY_ENVELOPE_BYTES) throw malformed(`Each envelope must be 1 to ${MAX_RELAY_ENVELOPE_BYTES} bytes.`)
  }
  return { cert, envs: envs as Uint8Array[] }
}
