/**
 * [COL-18] What a reading is, one rule over HTTP and MQTT: one JSON text (RFC 8259) in UTF-8, at
 * most MAX_READING_BYTES bytes, nested at most MAX_READING_DEPTH deep, with no member named
 * `__proto__` nor a `constructor` member holding a `prototype` (what Fastify's JSON parser
 * refuses). The bytes the sensor sent are the plaintext sealed, never a re-serialisation: big
 * integers, duplicate keys, `-0` and white space reach the readers as sent. [COL-3] An HTTP batch
 * keeps the bytes of each of its elements, found by `batchSpans`.
 */
import { GatemeshError, MAX_READING_BYTES } from '../../core/index.ts'

/** [COL-18] Arrays and objects nest at most this deep in a reading (`[[1]]` is 2 deep). */
export const MAX_READING_DEPTH = 64

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const COMMA = 0x2c
const COLON = 0x3a
// what secure-json-parse (Fastify's JSON parser) looks for before it walks a parsed value
const SUSPECT_PROTO = /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/
const SUSPECT_CONSTRUCTOR = /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/

function malformed (message: string): GatemeshError {
  return new GatemeshError('GM_ERR_READING_MALFORMED', message)
}

function isWhiteSpace (byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d
}

/**
 * True when arrays and objects in bytes[start, end) nest deeper than `limit`. Counts brackets
 * outside strings in one pass, without parsing: bytes of UTF-8 sequences (0x80 and up) never
 * look like ASCII brackets or quotes.
 */
export function nestsDeeperThan (bytes: Uint8Array, limit: number, start = 0, end = bytes.length): boolean {
  // n bytes cannot open more than n containers
  if (end - start <= limit) return false
  let depth = 0
  let inString = false
  for (let i = start; i < end; i++) {
    const byte = bytes[i] as number
    if (inString) {
      if (byte === BACKSLASH) i++
      else if (byte === QUOTE) inString = false
    } else if (byte === QUOTE) {
      inString = true
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > limit) return true
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--
    }
  }
  return false
}

/** True when a parsed value holds a `__proto__` member, or a `constructor` member holding `prototype`. */
function hasPrototypeKey (value: unknown): boolean {
  const stack: unknown[] = [value]
  while (stack.length > 0) {
    const item = stack.pop()
    if (item === null || typeof item !== 'object') continue
    if (Array.isArray(item)) {
      for (const element of item) stack.push(element)
      continue
    }
    const record = item as Record<string, unknown>
    if (Object.hasOwn(record, '__proto__')) return true
    const ctor = Object.hasOwn(record, 'constructor') ? record.constructor : undefined
    if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return true
    for (const key of Object.keys(record)) stack.push(record[key])
  }
  return false
}

/** [COL-18] The checks that need no parse: size and depth. */
function checkBounds (bytes: Uint8Array, maxBytes: number, maxDepth: number): void {
  if (bytes.length > maxBytes) throw new GatemeshError('GM_ERR_READING_TOO_LARGE', `A reading is at most ${MAX_READING_BYTES} bytes.`)
  if (nestsDeeperThan(bytes, maxDepth)) throw malformed(`A reading nests arrays and objects at most ${MAX_READING_DEPTH} deep.`)
}

function decode (bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw malformed('A reading is UTF-8.')
  }
}

function parse (text: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw malformed('A reading is one JSON text.')
  }
  if ((SUSPECT_PROTO.test(text) || SUSPECT_CONSTRUCTOR.test(text)) && hasPrototypeKey(value)) {
    throw malformed('A reading has no member named __proto__, nor a constructor member holding prototype.')
  }
  return value
}

/** [COL-18] Checks that bytes are one reading; throws GM_ERR_READING_TOO_LARGE or GM_ERR_READING_MALFORMED. */
export function checkReading (bytes: Uint8Array): void {
  checkBounds(bytes, MAX_READING_BYTES, MAX_READING_DEPTH)
  parse(decode(bytes))
}

/** Index just past the JSON string that starts at bytes[i] (a quote). */
function endOfString (bytes: Uint8Array, i: number): number {
  for (i++; i < bytes.length; i++) {
    const byte = bytes[i]
    if (byte === BACKSLASH) i++
    else if (byte === QUOTE) return i + 1
  }
  return i
}

/** Index just past the JSON value that starts at bytes[i], in a text known to be valid JSON. */
function endOfValue (bytes: Uint8Array, i: number): number {
  const first = bytes[i]
  if (first === QUOTE) return endOfString(bytes, i)
  if (first === OPEN_ARRAY || first === OPEN_OBJECT) {
    let depth = 0
    for (; i < bytes.length; i++) {
      const byte = bytes[i]
      if (byte === QUOTE) {
        i = endOfString(bytes, i) - 1
      } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
        depth++
      } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
        if (--depth === 0) return i + 1
      }
    }
    return i
  }
  // a number, true, false or null
  while (i < bytes.length && !isWhiteSpace(bytes[i]) && bytes[i] !== COMMA && bytes[i] !== CLOSE_ARRAY && bytes[i] !== CLOSE_OBJECT) i++
  return i
}

function skipWhiteSpace (bytes: Uint8Array, i: number): number {
  while (isWhiteSpace(bytes[i])) i++
  return i
}

/**
 * [COL-3] When `bytes`, a valid JSON text, is a batch (an object whose one and only member is
 * `readings`, an array), the span [start, end) of each element of the array, from its first to
 * its last byte; undefined when it is not a batch (then the whole text is one reading).
 */
export function batchSpans (bytes: Uint8Array): Array<[number, number]> | undefined {
  let i = skipWhiteSpace(bytes, 0)
  if (bytes[i] !== OPEN_OBJECT) return undefined
  i = skipWhiteSpace(bytes, i + 1)
  if (bytes[i] !== QUOTE) return undefined
  const keyEnd = endOfString(bytes, i)
  // the member's name as JSON reads it (escapes such as "read\u0069ngs" included)
  if (JSON.parse(UTF8.decode(bytes.subarray(i, keyEnd))) !== 'readings') return undefined
  i = skipWhiteSpace(bytes, keyEnd)
  if (bytes[i] !== COLON) return undefined
  i = skipWhiteSpace(bytes, i + 1)
  if (bytes[i] !== OPEN_ARRAY) return undefined
  i = skipWhiteSpace(bytes, i + 1)
  const spans: Array<[number, number]> = []
  if (bytes[i] === CLOSE_ARRAY) {
    i++
  } else {
    for (;;) {
      const end = endOfValue(bytes, i)
      spans.push([i, end])
      i = skipWhiteSpace(bytes, end)
      if (bytes[i] === COMMA) { i = skipWhiteSpace(bytes, i + 1); continue }
      if (bytes[i] !== CLOSE_ARRAY) return undefined
      i++
      break
    }
  }
  i = skipWhiteSpace(bytes, i)
  // a second member (a duplicate "readings" too): not a batch
  return bytes[i] === CLOSE_OBJECT ? spans : undefined
}

/**
 * [COL-3] [COL-18] The readings of an HTTP body, each as the bytes the sensor sent: the body
 * itself for one reading, each element's bytes for a batch. Throws GM_ERR_READING_MALFORMED or
 * GM_ERR_READING_TOO_LARGE when the body or a reading breaks the rule.
 */
export function readingsOfBody (body: Uint8Array, maxBodyBytes: number): Uint8Array[] {
  // the elements of a batch nest two deeper than its readings: each reading is bounded below
  checkBounds(body, maxBodyBytes, MAX_READING_DEPTH + 2)
  // valid JSON, and no prototype member in any reading
  parse(decode(body))
  const spans = batchSpans(body) ?? [[0, body.length]]
  return spans.map(([start, end]) => {
    const reading = body.subarray(start, end)
    checkBounds(reading, MAX_READING_BYTES, MAX_READING_DEPTH)
    return reading
  })
}
