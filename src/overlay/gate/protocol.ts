/**
 * The certificate exchange protocol, `/gatemesh/cert/1.0.0`. [OVL-2]
 *
 * One stream per connection, opened by the dialer. Each message is one varint-length-prefixed
 * canonical CBOR map of at most MAX_MESSAGE_BYTES:
 *   hello  = { v: 1, cert: bytes, crl?: bytes, services?: [text] }
 *            the sender's certificate (DER), CRL (DER) and the services it runs [OVL-31]
 *   refuse = { v: 1, error: "GM_ERR_..." }         the receiver refused the sender
 * The dialer sends hello; the listener answers hello or refuse. [OVL-3]
 */
import { lpStream } from '@libp2p/utils'
import { encode, decode, rfc8949EncodeOptions } from 'cborg'
import { GatemeshError } from '../../core/index.ts'
import type { ErrorCode } from '../../core/index.ts'
import type { AbortOptions, Stream } from '@libp2p/interface'

export const CERT_PROTOCOL = '/gatemesh/cert/1.0.0'
export const MAX_MESSAGE_BYTES = 64 * 1024

export interface Hello { v: 1, cert: Uint8Array, crl?: Uint8Array, services?: string[] }

/** [OVL-31] At most this many service names, each a lower-case name of at most 32 characters. */
export const MAX_SERVICES = 16
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,31}$/
export interface Refuse { v: 1, error: ErrorCode }
export type CertMessage = Hello | Refuse

export function encodeMessage (message: CertMessage): Uint8Array {
  return encode(message, rfc8949EncodeOptions)
}

export function decodeMessage (bytes: Uint8Array): CertMessage {
  if (bytes.length > MAX_MESSAGE_BYTES) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'Too large.')
  let value: unknown
  try {
    value = decode(bytes, { strict: true, useMaps: false, rejectDuplicateMapKeys: true, allowUndefined: false })
  } catch (err) {
    throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'Not CBOR.', { cause: err })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'Not a map.')
  const map = value as Record<string, unknown>
  if (map.v !== 1) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'Unsupported version.')
  if (typeof map.error === 'string' && /^GM_ERR_[A-Z0-9_]{1,64}$/.test(map.error)) return { v: 1, error: map.error as ErrorCode }
  if (map.cert === undefined) throw new GatemeshError('GM_ERR_CERT_MISSING')
  if (!(map.cert instanceof Uint8Array) || map.cert.length === 0) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'cert must be bytes.')
  if (map.crl !== undefined && !(map.crl instanceof Uint8Array)) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'crl must be bytes.')
  const hello: Hello = { v: 1, cert: map.cert }
  if (map.crl !== undefined) hello.crl = map.crl
  if (map.services !== undefined) hello.services = decodeServices(map.services)
  return hello
}

function decodeServices (value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_SERVICES || !value.every(s => typeof s === 'string' && SERVICE_NAME.test(s))) {
    throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'services must be a list of service names.')
  }
  return [...new Set(value as string[])]
}

/** @libp2p/utils' length-prefix errors: the bytes received are not a message (not a stream failure). */
const MALFORMED_FRAMING = new Set(['InvalidMessageLengthError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError', 'StreamBufferError', 'InvalidParametersError'])

export interface MessageChannel {
  read (options?: AbortOptions): Promise<CertMessage>
  write (message: CertMessage, options?: AbortOptions): Promise<void>
}

export function messageChannel (stream: Stream): MessageChannel {
  const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
  return {
    async read (options) {
      let data
      try {
        data = await lp.read(options)
      } catch (err) {
        if (options?.signal?.aborted === true) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_TIMEOUT', undefined, { cause: err })
        // a bad length prefix is malformed; a stream reset or closed before a whole message was
        // cut short, which says nothing about the peer [OVL-3]
        if (MALFORMED_FRAMING.has((err as Error).name)) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'Could not read a message.', { cause: err })
        throw new GatemeshError('GM_ERR_CERT_EXCHANGE_INTERRUPTED', undefined, { cause: err })
      }
      return decodeMessage(data.subarray())
    },
    async write (message, options) {
      await lp.write(encodeMessage(message), options)
    }
  }
}
