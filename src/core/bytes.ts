/** Byte helpers shared by the core: encodings, comparison, concatenation. Browser-safe. */

import { allocBytes } from './slab.ts'

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

export function utf8 (text: string): Uint8Array {
  return utf8Encoder.encode(text)
}

export function fromUtf8 (bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes)
}

export { allocBytes } from './slab.ts'

export function concat (...parts: readonly Uint8Array[]): Uint8Array {
  return concatAll(parts)
}

/** `concat` of a list: for any number of parts (spreading many as arguments overflows the stack). */
export function concatAll (parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = allocBytes(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** Constant-time for equal lengths; used for MACs, verifiers and key comparisons. */
export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

const HEX_DIGITS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'))

export function toHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i++) out += HEX_DIGITS[bytes[i] as number] as string
  return out
}

export function fromHex (hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new TypeError('not a hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'

/**
 * Node's Buffer when the platform has one (its base64 codecs are native: ~20× the loops below on
 * a page of 1 000 envelopes); browsers use the loops. Decoding through it is held to the same
 * strictness first (alphabet, length, zero pad bits), since Buffer skips what it does not know.
 */
interface NativeBuffer {
  from (data: ArrayBufferLike, byteOffset: number, length: number): { toString (encoding: 'base64' | 'base64url'): string }
  from (text: string, encoding: 'base64' | 'base64url'): Uint8Array
}
const native = (globalThis as { Buffer?: NativeBuffer }).Buffer

export function toBase64 (bytes: Uint8Array): string {
  if (native !== undefined) return native.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
  return portableToBase64(bytes)
}

function portableToBase64 (bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number)
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!
  }
  const rest = bytes.length - i
  if (rest === 1) {
    const n = (bytes[i] as number) << 16
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + '=='
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8)
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '='
  }
  return out
}

/** Each char code's value in an alphabet, or 255: standard base64, then base64url. */
function alphabetTable (alphabet: string): Uint8Array {
  const table = new Uint8Array(128).fill(255)
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i
  return table
}
const B64_TABLE = alphabetTable(B64)
const B64URL_TABLE = alphabetTable(B64.slice(0, 62) + '-_')

/**
 * Decodes `length` chars of `text` (no padding among them) with `table`; undefined when a char
 * is not in it, or when the bits past the last byte are not zero (so one encoding per value).
 */
function decodeBase64Chars (text: string, length: number, table: Uint8Array): Uint8Array | undefined {
  if (length % 4 === 1) return undefined
  const out = new Uint8Array(Math.floor(length * 3 / 4))
  let o = 0
  let n = 0
  let bits = 0
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    const v = code < 128 ? table[code] as number : 255
    if (v === 255) return undefined
    n = ((n << 6) | v) & 0xffffff
    bits += 6
    if (bits >= 8) {
      bits -= 8
      out[o++] = (n >> bits) & 255
    }
  }
  // RFC 4648 §3.5: the pad bits are zero in the one canonical encoding
  if ((n & ((1 << bits) - 1)) !== 0) return undefined
  return out
}

const B64_CHARS = /^[A-Za-z0-9+/]*$/
const B64URL_CHARS = /^[A-Za-z0-9_-]*$/

/**
 * decodeBase64Chars through Buffer: the same verdicts (every char of `chars` in the alphabet, a
 * length that is not 1 mod 4, zero pad bits), then the native decode; a plain Uint8Array view.
 */
function nativeDecode (buffer: NativeBuffer, text: string, chars: string, table: Uint8Array, pattern: RegExp, encoding: 'base64' | 'base64url'): Uint8Array | undefined {
  const length = chars.length
  if (length % 4 === 1 || !pattern.test(chars)) return undefined
  const last = length === 0 ? 0 : table[chars.charCodeAt(length - 1)] as number
  if ((length % 4 === 2 && (last & 0x0f) !== 0) || (length % 4 === 3 && (last & 0x03) !== 0)) return undefined
  const out = buffer.from(text, encoding)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/** Strict standard base64 with padding (RFC 4648 §4); throws TypeError on anything else. */
export function fromBase64 (text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new TypeError('not base64')
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
  const out = native !== undefined
    ? nativeDecode(native, text, pad === 0 ? text : text.slice(0, text.length - pad), B64_TABLE, B64_CHARS, 'base64')
    : decodeBase64Chars(text, text.length - pad, B64_TABLE)
  if (out === undefined) throw new TypeError('not base64')
  return out
}

export function toBase64Url (bytes: Uint8Array): string {
  if (native !== undefined) return native.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
  return portableToBase64Url(bytes)
}

function portableToBase64Url (bytes: Uint8Array): string {
  return portableToBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Strict base64url without padding (RFC 4648 §5); throws TypeError on anything else. */
export function fromBase64Url (text: string): Uint8Array {
  const out = native !== undefined
    ? nativeDecode(native, text, text, B64URL_TABLE, B64URL_CHARS, 'base64url')
    : decodeBase64Chars(text, text.length, B64URL_TABLE)
  if (out === undefined) throw new TypeError('not base64url')
  return out
}

/** The browser's codecs (no Buffer), for tests that hold the native path to them. */
export const portableBase64 = {
  toBase64: portableToBase64,
  toBase64Url: portableToBase64Url,
  fromBase64 (text: string): Uint8Array | undefined {
    if (text.length % 4 !== 0) return undefined
    const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0
    return decodeBase64Chars(text, text.length - pad, B64_TABLE)
  },
  fromBase64Url: (text: string): Uint8Array | undefined => decodeBase64Chars(text, text.length, B64URL_TABLE)
}

const B32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32, lower case, no padding: URL-safe and case-insensitive-friendly. */
export function toBase32 (bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31]
  return out
}

/**
 * Writes an integer below 2^53 as 8 bytes, big-endian, at `at`: byte by byte, since a DataView
 * would move a small array's bytes off the V8 heap (~1.5 µs).
 */
export function writeUint64be (out: Uint8Array, at: number, value: number): void {
  const high = Math.floor(value / 0x100000000)
  const low = value >>> 0
  out[at] = high >>> 24
  out[at + 1] = high >>> 16
  out[at + 2] = high >>> 8
  out[at + 3] = high
  out[at + 4] = low >>> 24
  out[at + 5] = low >>> 16
  out[at + 6] = low >>> 8
  out[at + 7] = low
}

/** An integer below 2^53 as 8 bytes, big-endian. */
export function uint64be (value: number): Uint8Array {
  const out = new Uint8Array(8)
  writeUint64be(out, 0, value)
  return out
}

/** 96-bit big-endian nonce from a counter below 2^53 (NIST SP 800-38D §8.2.1 deterministic). */
export function counterNonce (counter: number): Uint8Array {
  const nonce = new Uint8Array(12)
  writeUint64be(nonce, 4, counter)
  return nonce
}
