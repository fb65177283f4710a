/**
 * The few DER values gatemesh encodes itself (RFC 5280 / X.690): a SEQUENCE OF UTF8String for the
 * roles extension, a GeneralizedTime for the request-time extension, a non-negative INTEGER for
 * the CRL number, and the OBJECT IDENTIFIER used to find an extension by its bytes. asn1js does
 * the encoding and the parsing; this module only narrows it to DER.
 *
 * asn1js parses BER, so the decoders insist on DER themselves: the outer element must have a
 * definite, minimal length and span exactly the input (no trailing bytes), and the roles, time and
 * integer decoders re-encode the value they read and require exactly the input bytes, which rules
 * out non-minimal lengths and integers, indefinite lengths and constructed strings anywhere
 * inside. extensionOid returns the OID's bytes as found, for a byte comparison with a DER OID.
 * Everything throws a plain Error; callers map it to their own code.
 */
import * as asn1js from 'asn1js'

type Block = asn1js.AsnType

function toBytes (block: asn1js.BaseBlock): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(block.toBER())
  if (block.error !== '' || bytes.length === 0) throw new Error(`cannot encode ${block.constructor.name}: ${block.error}`)
  return bytes
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

/** The number of length octets X.690 8.1.3 allows for a content of `length` octets in DER. */
function derLengthOctets (length: number): number {
  return length < 0x80 ? 1 : 1 + Math.ceil(length.toString(16).length / 2)
}

/**
 * Parses one element that must span all of `bytes`, with a definite minimal length. The header is
 * checked against asn1js's own parse because asn1js reads BER and lets a child run past its parent.
 */
function parseOne (bytes: Uint8Array): Block {
  let parsed: ReturnType<typeof asn1js.fromBER>
  try {
    parsed = asn1js.fromBER(bytes)
  } catch (cause) {
    throw new Error(`malformed element: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
  const { offset, result } = parsed
  const { idBlock, lenBlock } = result
  if (idBlock.blockLength > 0 && lenBlock.blockLength > 0) {
    if (lenBlock.isIndefiniteForm) throw new Error('indefinite length')
    if (lenBlock.blockLength !== derLengthOctets(lenBlock.length)) throw new Error('non-minimal length')
    const end = idBlock.blockLength + lenBlock.blockLength + lenBlock.length
    if (end > bytes.length) throw new Error('truncated value')
    if (offset !== -1 && offset !== end) throw new Error('content overruns its length')
    if (offset !== -1 && end !== bytes.length) throw new Error('trailing bytes')
  }
  if (offset === -1) throw new Error(`malformed element: ${result.error}`)
  return result
}

/** Exactly this asn1js class: asn1js's DATE, DateTime and Duration are subclasses of Utf8String. */
function isA<T> (block: Block, type: abstract new (...args: never[]) => T): block is Block & T {
  return block.constructor === type
}

function requireDer (bytes: Uint8Array, canonical: Uint8Array, problem: string): void {
  if (!sameBytes(bytes, canonical)) throw new Error(problem)
}

export function encodeUtf8StringSequence (items: readonly string[]): Uint8Array<ArrayBuffer> {
  const value = items.map(item => {
    if (!item.isWellFormed()) throw new Error('a UTF8String needs well-formed text')
    return new asn1js.Utf8String({ value: item })
  })
  return toBytes(new asn1js.Sequence({ value }))
}

export function decodeUtf8StringSequence (bytes: Uint8Array): string[] {
  const sequence = parseOne(bytes)
  if (!isA(sequence, asn1js.Sequence)) throw new Error('expected SEQUENCE')
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const items = sequence.valueBlock.value.map(item => {
    if (!isA(item, asn1js.Utf8String)) throw new Error('expected UTF8String')
    try {
      return decoder.decode(item.valueBlock.valueHexView)
    } catch (cause) {
      throw new Error('UTF8String is not valid UTF-8', { cause })
    }
  })
  requireDer(bytes, encodeUtf8StringSequence(items), 'not a DER SEQUENCE OF UTF8String')
  return items
}

/** GeneralizedTime in the RFC 5280 form `YYYYMMDDHHMMSSZ` (whole seconds, UTC). */
export function encodeGeneralizedTime (date: Date): Uint8Array<ArrayBuffer> {
  const time = date.getTime()
  if (Number.isNaN(time)) throw new Error('invalid date')
  const year = date.getUTCFullYear()
  if (year < 0 || year > 9999) throw new Error('year outside the GeneralizedTime range')
  return toBytes(new asn1js.GeneralizedTime({ valueDate: new Date(Math.floor(time / 1000) * 1000) }))
}

export function decodeGeneralizedTime (bytes: Uint8Array): Date {
  try {
    const time = parseOne(bytes)
    if (!isA(time, asn1js.GeneralizedTime)) throw new Error('expected GeneralizedTime')
    // The fields, not toDate(): Date.UTC reads the years 0 to 99 as 1900 to 1999.
    const date = new Date(0)
    date.setUTCFullYear(time.year, time.month - 1, time.day)
    date.setUTCHours(time.hour, time.minute, time.second, time.millisecond)
    // Re-encoding rejects fractions, offsets, a missing Z and out-of-range fields (which roll over).
    requireDer(bytes, encodeGeneralizedTime(date), 'not YYYYMMDDHHMMSSZ')
    return date
  } catch (cause) {
    throw new Error(`not an RFC 5280 GeneralizedTime: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
  }
}

export function encodeInteger (value: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error('only non-negative safe integers')
  return toBytes(asn1js.Integer.fromBigInt(BigInt(value)))
}

export function decodeInteger (bytes: Uint8Array): number {
  const integer = parseOne(bytes)
  if (!isA(integer, asn1js.Integer)) throw new Error('expected INTEGER')
  if (integer.valueBlock.valueHexView.length === 0) throw new Error('empty integer')
  const value = integer.toBigInt()
  if (value < 0n) throw new Error('negative integer')
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('integer out of range')
  requireDer(bytes, encodeInteger(Number(value)), 'non-minimal integer')
  return Number(value)
}

/** DER of an OBJECT IDENTIFIER (tag and length included); arcs of any size. */
export function encodeObjectIdentifier (oid: string): Uint8Array<ArrayBuffer> {
  // asn1js encodes a malformed dotted string without complaint ('1.x.3' as 1), so check it first.
  const arcs = oid.split('.')
  if (arcs.length < 2 || !arcs.every(arc => /^\d+$/.test(arc))) throw new Error('not a dotted OID')
  const [first, second] = arcs.map(BigInt)
  // X.690 8.19.4: the first arc is 0, 1 or 2, and the second below 40 unless the first is 2.
  if (first === undefined || second === undefined || first > 2n || (first < 2n && second >= 40n)) throw new Error('not a dotted OID')
  return toBytes(new asn1js.ObjectIdentifier({ value: oid }))
}

/**
 * The OID (DER, tag included) of an encoded Extension ::= SEQUENCE { extnID, critical, extnValue },
 * as the bytes found in the input. Used instead of the x509 library's OID strings, which do not
 * round-trip arcs above 2^53.
 */
export function extensionOid (extensionDer: Uint8Array): Uint8Array {
  const extension = parseOne(extensionDer)
  if (!isA(extension, asn1js.Sequence)) throw new Error('expected SEQUENCE')
  const oid = extension.valueBlock.value[0]
  if (oid === undefined || !isA(oid, asn1js.ObjectIdentifier)) throw new Error('expected OBJECT IDENTIFIER')
  return oid.valueBeforeDecodeView
}
