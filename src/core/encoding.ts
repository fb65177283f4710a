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
  /**
   * The input is the caller's own copy, which nothing changes afterwards (a byte string that an
   * earlier decodeCanonical gave it): byte strings in the value may then be views of it instead
   * of a copy. By default they are copies.
   */
  inputOwned?: boolean
}

const STRICT_DECODE_OPTIONS = { strict: true, allowIndefinite: false, rejectDuplicateMapKeys: true, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false, useMaps: false }

/** Decodes CBOR strictly; any failure is a GatemeshError, never another exception. */
export function decodeCanonical (bytes: Uint8Array, options: DecodeOptions = {}): unknown {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
  if (!(bytes instanceof Uint8Array)) throw new GatemeshError('GM_ERR_MALFORMED', 'Expected bytes.')
  // [ENC-4] Bound the size before parsing anything.
  if (bytes.length > maxBytes) throw new GatemeshError('GM_ERR_TOO_LARGE', `${bytes.length} > ${maxBytes} bytes.`)
  if (options.requireCanonical !== false) {
    // [ENC-3] one pass that checks the canonical form while it decodes; what it does not take
    // (anything non-canonical, and the rare kinds it leaves alone) is decided by the full check
    const value = readCanonical(bytes, options.inputOwned === true)
    if (value !== BAIL) return value
  }
  let value: unknown
  try {
    value = decode(bytes, STRICT_DECODE_OPTIONS)
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

/**
 * [ENC-3]'s one pass alone, for input that need not be canonical (a wire frame): the value when
 * the bytes are the deterministic CBOR of the kinds that pass reads, which is exactly what a
 * strict decode of them gives; undefined otherwise (never a value of strict CBOR), and the caller
 * decodes them its own way. Byte strings in the value are views of one copy of the input.
 */
export function readIfCanonical (bytes: Uint8Array): unknown {
  const value = readCanonical(bytes, false)
  return value === BAIL ? undefined : value
}

/**
 * [ENC-3] The canonical check in one pass over the bytes: decodes the deterministic CBOR
 * (RFC 8949 §4.2.1) of unsigned and negative safe integers, byte strings, UTF-8 text, arrays,
 * maps with text keys, false, true and null, and returns the value, or BAIL for anything else:
 * an argument or length not in its shortest form, an indefinite length, map keys not strictly in
 * bytewise order of their encodings (so no duplicate), trailing or missing bytes, ill-formed
 * UTF-8, and the kinds it does not decode itself (floats, tags, other simple values, an integer
 * beyond 2^53, a text that starts with U+FEFF, a `__proto__` key, nesting deeper than 64).
 * It returns a value only where decoding it strictly and re-encoding it canonically gives these
 * very bytes (the check it stands in for); everything else goes to that check, which refuses it
 * with its own code or, for the rare kinds, takes it.
 */
function readCanonical (bytes: Uint8Array, inputOwned: boolean): unknown {
  reader.bytes = bytes
  reader.pos = 0
  reader.copy = inputOwned ? bytes : undefined
  try {
    const value = readItem(0)
    return reader.pos === bytes.length ? value : BAIL
  } catch (err) {
    if (err === BAIL) return BAIL
    throw err
  } finally {
    reader.bytes = EMPTY
    reader.copy = undefined
  }
}

const BAIL = Symbol('not read in one pass')
const EMPTY = new Uint8Array(0)
const MAX_DEPTH = 64
const TWO_32 = 2 ** 32
/** [ENC-3] a BOM is refused: decoders drop it, so it would not survive a re-encoding. */
const FATAL_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const reader: { bytes: Uint8Array, pos: number, copy: Uint8Array | undefined } = { bytes: EMPTY, pos: 0, copy: undefined }

/** The argument of the head whose additional information is `info`, in its shortest form only. */
function readArgument (info: number): number {
  if (info < 24) return info
  const b = reader.bytes
  const at = reader.pos
  let value: number
  if (info === 24) {
    if (at + 1 > b.length) throw BAIL
    value = b[at] as number
    if (value < 24) throw BAIL
    reader.pos = at + 1
  } else if (info === 25) {
    if (at + 2 > b.length) throw BAIL
    value = ((b[at] as number) << 8) | (b[at + 1] as number)
    if (value < 0x100) throw BAIL
    reader.pos = at + 2
  } else if (info === 26) {
    if (at + 4 > b.length) throw BAIL
    value = (b[at] as number) * 0x1000000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
    if (value < 0x10000) throw BAIL
    reader.pos = at + 4
  } else if (info === 27) {
    if (at + 8 > b.length) throw BAIL
    const high = (b[at] as number) * 0x1000000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number))
    const low = (b[at + 4] as number) * 0x1000000 + (((b[at + 5] as number) << 16) | ((b[at + 6] as number) << 8) | (b[at + 7] as number))
    // shortest form: above 2^32 - 1; a safe integer: below 2^53
    if (high === 0 || high >= 0x200000) throw BAIL
    value = high * TWO_32 + low
    reader.pos = at + 8
  } else {
    throw BAIL
  }
  return value
}

function readText (length: number): string {
  const b = reader.bytes
  const start = reader.pos
  const end = start + length
  if (end > b.length) throw BAIL
  reader.pos = end
  let ascii = true
  for (let i = start; i < end; i++) {
    if ((b[i] as number) >= 0x80) { ascii = false; break }
  }
  if (ascii && length <= 32) {
    let text = ''
    for (let i = start; i < end; i++) text += String.fromCharCode(b[i] as number)
    return text
  }
  let text: string
  try {
    text = FATAL_UTF8.decode(b.subarray(start, end))
  } catch {
    throw BAIL
  }
  if (text.charCodeAt(0) === 0xfeff) throw BAIL
  return text
}

/**
 * Map keys seen lately, by length: a key read again is the same string, which V8 has already
 * made a property name (a fresh string costs a hash and a table look-up at every property store).
 */
const KEYS: string[][] = Array.from({ length: 17 }, () => [])
const KEYS_PER_LENGTH = 16

function readKey (length: number): string {
  if (length > 16) return readText(length)
  const b = reader.bytes
  const start = reader.pos
  if (start + length > b.length) throw BAIL
  const known = KEYS[length] as string[]
  search: for (const key of known) {
    for (let i = 0; i < length; i++) if (key.charCodeAt(i) !== b[start + i]) continue search
    reader.pos = start + length
    return key
  }
  const key = readText(length)
  // only ASCII keys are remembered: a key's string then matches its bytes char for char
  if (key.length === length) {
    if (known.length >= KEYS_PER_LENGTH) known.shift()
    known.push(key)
  }
  return key
}

function readItem (depth: number): unknown {
  const b = reader.bytes
  if (reader.pos >= b.length || depth > MAX_DEPTH) throw BAIL
  const initial = b[reader.pos++] as number
  const major = initial >> 5
  const info = initial & 31
  switch (major) {
    case 0: return readArgument(info)
    case 1: {
      const n = readArgument(info)
      if (n >= Number.MAX_SAFE_INTEGER) throw BAIL
      return -1 - n
    }
    case 2: {
      const length = readArgument(info)
      const start = reader.pos
      if (start + length > b.length) throw BAIL
      reader.pos = start + length
      // a copy, a plain Uint8Array even when given a Buffer (whose slice is a view): views of one
      // copy of the input, made once per call (an ArrayBuffer per byte string costs microseconds)
      if (reader.copy === undefined) {
        reader.copy = new Uint8Array(b.length)
        reader.copy.set(b)
      }
      const copy = reader.copy
      return new Uint8Array(copy.buffer, copy.byteOffset + start, length)
    }
    case 3: return readText(readArgument(info))
    case 4: {
      const count = readArgument(info)
      // every item takes a byte at least: a count beyond what is left is refused before allocating
      if (count > b.length - reader.pos) throw BAIL
      const items: unknown[] = new Array(count)
      for (let i = 0; i < count; i++) items[i] = readItem(depth + 1)
      return items
    }
    case 5: {
      const count = readArgument(info)
      if (count * 2 > b.length - reader.pos) throw BAIL
      const map: Record<string, unknown> = {}
      let previousStart = -1
      let previousEnd = -1
      for (let i = 0; i < count; i++) {
        const keyStart = reader.pos
        if (keyStart >= b.length || (b[keyStart] as number) >> 5 !== 3) throw BAIL
        reader.pos++
        const key = readKey(readArgument((b[keyStart] as number) & 31))
        const keyEnd = reader.pos
        // RFC 8949 §4.2.1: keys sorted bytewise by their encodings, strictly (no duplicate)
        if (previousStart >= 0 && compareRanges(b, previousStart, previousEnd, keyStart, keyEnd) >= 0) throw BAIL
        if (key === '__proto__') throw BAIL
        previousStart = keyStart
        previousEnd = keyEnd
        map[key] = readItem(depth + 1)
      }
      return map
    }
    case 7:
      if (info === 20) return false
      if (info === 21) return true
      if (info === 22) return null
      throw BAIL
    default:
      throw BAIL
  }
}

/** Bytewise order of b[aStart, aEnd) and b[bStart, bEnd): a prefix first. */
function compareRanges (b: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart
  const bLength = bEnd - bStart
  const length = Math.min(aLength, bLength)
  for (let i = 0; i < length; i++) {
    const d = (b[aStart + i] as number) - (b[bStart + i] as number)
    if (d !== 0) return d
  }
  return aLength - bLength
}
