/**
 * The few DER encodings gatemesh writes itself (RFC 5280 / X.690): a SEQUENCE OF UTF8String for
 * the roles extension, a GeneralizedTime for the request-time extension and a non-negative
 * INTEGER for the CRL number. Decoders are strict: definite short or long lengths only, minimal
 * length forms, no trailing bytes. They throw a plain Error; callers map it to their own code.
 */

const SEQUENCE = 0x30
const UTF8_STRING = 0x0c
const GENERALIZED_TIME = 0x18
const INTEGER = 0x02

function encodeLength (length: number): number[] {
  if (length < 0x80) return [length]
  const bytes: number[] = []
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  return [0x80 | bytes.length, ...bytes]
}

function tlv (tag: number, value: Uint8Array): Uint8Array<ArrayBuffer> {
  return Uint8Array.from([tag, ...encodeLength(value.length), ...value])
}

interface Element { tag: number, value: Uint8Array, end: number }

function readElement (bytes: Uint8Array, offset: number): Element {
  const tag = bytes[offset]
  const first = bytes[offset + 1]
  if (tag === undefined || first === undefined) throw new Error('truncated element')
  let length = first
  let start = offset + 2
  if (first >= 0x80) {
    const count = first & 0x7f
    if (count === 0 || count > 3) throw new Error('unsupported length form')
    length = 0
    for (let i = 0; i < count; i++) {
      const byte = bytes[start + i]
      if (byte === undefined) throw new Error('truncated length')
      if (i === 0 && byte === 0) throw new Error('non-minimal length')
      length = length * 256 + byte
    }
    if (length < 0x80) throw new Error('non-minimal length')
    start += count
  }
  const end = start + length
  if (end > bytes.length) throw new Error('truncated value')
  return { tag, value: bytes.subarray(start, end), end }
}

function readOnly (bytes: Uint8Array, tag: number): Uint8Array {
  const element = readElement(bytes, 0)
  if (element.tag !== tag) throw new Error(`expected tag ${tag}, found ${element.tag}`)
  if (element.end !== bytes.length) throw new Error('trailing bytes')
  return element.value
}

export function encodeUtf8StringSequence (items: readonly string[]): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder()
  const parts = items.map(item => tlv(UTF8_STRING, encoder.encode(item)))
  const body = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) { body.set(part, offset); offset += part.length }
  return tlv(SEQUENCE, body)
}

export function decodeUtf8StringSequence (bytes: Uint8Array): string[] {
  const body = readOnly(bytes, SEQUENCE)
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const items: string[] = []
  for (let offset = 0; offset < body.length;) {
    const element = readElement(body, offset)
    if (element.tag !== UTF8_STRING) throw new Error('expected UTF8String')
    items.push(decoder.decode(element.value))
    offset = element.end
  }
  return items
}

/** GeneralizedTime in the RFC 5280 form `YYYYMMDDHHMMSSZ` (whole seconds, UTC). */
export function encodeGeneralizedTime (date: Date): Uint8Array<ArrayBuffer> {
  const text = date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:T]/g, '')
  return tlv(GENERALIZED_TIME, new TextEncoder().encode(text))
}

export function decodeGeneralizedTime (bytes: Uint8Array): Date {
  const text = new TextDecoder().decode(readOnly(bytes, GENERALIZED_TIME))
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (match === null) throw new Error('not an RFC 5280 GeneralizedTime')
  const [, year, month, day, hour, minute, second] = match
  const date = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`)
  if (Number.isNaN(date.getTime())) throw new Error('invalid date')
  return date
}

export function encodeInteger (value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error('only non-negative safe integers')
  const bytes: number[] = []
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256)
  if (bytes.length === 0 || (bytes[0] ?? 0) >= 0x80) bytes.unshift(0)
  return tlv(INTEGER, Uint8Array.from(bytes))
}

export function decodeInteger (bytes: Uint8Array): number {
  const value = readOnly(bytes, INTEGER)
  if (value.length === 0 || value.length > 7) throw new Error('integer out of range')
  if ((value[0] ?? 0) >= 0x80) throw new Error('negative integer')
  if (value.length > 1 && value[0] === 0 && (value[1] ?? 0) < 0x80) throw new Error('non-minimal integer')
  let result = 0
  for (const byte of value) result = result * 256 + byte
  return result
}

const OBJECT_IDENTIFIER = 0x06

/** DER of an OBJECT IDENTIFIER (tag and length included); arcs of any size (BigInt). */
export function encodeObjectIdentifier (oid: string): Uint8Array<ArrayBuffer> {
  const arcs = oid.split('.').map(arc => {
    if (!/^\d+$/.test(arc)) throw new Error('not a dotted OID')
    return BigInt(arc)
  })
  const [first, second, ...rest] = arcs
  if (first === undefined || second === undefined || first > 2n) throw new Error('not a dotted OID')
  const bytes: number[] = []
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)]
    for (let value = arc >> 7n; value > 0n; value >>= 7n) chunk.unshift(Number(value & 0x7fn) | 0x80)
    bytes.push(...chunk)
  }
  return tlv(OBJECT_IDENTIFIER, Uint8Array.from(bytes))
}

/**
 * The OID (DER, tag included) of an encoded Extension ::= SEQUENCE { extnID, critical, extnValue }.
 * Used instead of the x509 library's OID strings, which do not round-trip arcs above 2^53.
 */
export function extensionOid (extensionDer: Uint8Array): Uint8Array {
  const body = readOnly(extensionDer, SEQUENCE)
  const oid = readElement(body, 0)
  if (oid.tag !== OBJECT_IDENTIFIER) throw new Error('expected OBJECT IDENTIFIER')
  return body.subarray(0, oid.end)
}
