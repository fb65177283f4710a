// The canonical decoder [ENC-3]: every form that is not RFC 8949 §4.2.1 deterministic CBOR, or
// that the core does not allow, is refused with the code it always had; and it gives the same
// verdict and value as the reference check it replaced (cborg's strict decode, then the value
// re-encoded with the RFC 8949 key sorter and compared byte for byte), over canonical
// structures of every kind and over many thousands of mutants of them.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { decode, encode, rfc8949EncodeOptions } from 'cborg'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { GatemeshError, isGatemeshError } from './errors.ts'
import { equalBytes, fromHex } from './bytes.ts'

/** The check decodeCanonical made before it was one pass: decode, re-encode, compare. */
function reference (bytes: Uint8Array, maxBytes = 1024 * 1024): unknown {
  if (bytes.length > maxBytes) throw new GatemeshError('GM_ERR_TOO_LARGE')
  let value: unknown
  try {
    value = decode(bytes, { strict: true, allowIndefinite: false, rejectDuplicateMapKeys: true, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false, useMaps: false })
  } catch (err) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'Not valid CBOR.', { cause: err })
  }
  let again: Uint8Array
  try {
    again = encode(value, rfc8949EncodeOptions)
  } catch (err) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'Not encodable.', { cause: err })
  }
  if (!equalBytes(again, bytes)) throw new GatemeshError('GM_ERR_NON_CANONICAL')
  return value
}

type Verdict = { ok: true, value: unknown } | { ok: false, code: string }

function verdict (run: () => unknown): Verdict {
  try {
    return { ok: true, value: run() }
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    return { ok: false, code: err.code }
  }
}

/** Forms the reference refuses, and the code it gives. */
const REFUSED: Array<[string, string, string]> = [
  ['uint 5 in one extra byte', '1805', 'GM_ERR_MALFORMED'],
  ['uint 255 in two extra bytes', '1900ff', 'GM_ERR_MALFORMED'],
  ['uint 65535 in four extra bytes', '1a0000ffff', 'GM_ERR_MALFORMED'],
  ['uint 2^32-1 in eight extra bytes', '1b00000000ffffffff', 'GM_ERR_MALFORMED'],
  ['uint above 2^53', '1b0020000000000001', 'GM_ERR_MALFORMED'],
  ['uint 2^64-1', '1bffffffffffffffff', 'GM_ERR_MALFORMED'],
  ['negint -1 in one extra byte', '3800', 'GM_ERR_MALFORMED'],
  ['negint below -2^53', '3b0020000000000001', 'GM_ERR_MALFORMED'],
  ['reserved additional info 28', '1c', 'GM_ERR_MALFORMED'],
  ['bytes of length 1 in one extra byte', '580161', 'GM_ERR_MALFORMED'],
  ['text of length 1 in two extra bytes', '79000161', 'GM_ERR_MALFORMED'],
  ['array of 1 in one extra byte', '980100', 'GM_ERR_MALFORMED'],
  ['map of 1 in one extra byte', 'b8016161 00'.replace(' ', ''), 'GM_ERR_MALFORMED'],
  ['indefinite bytes', '5f4161ff', 'GM_ERR_MALFORMED'],
  ['indefinite text', '7f6161ff', 'GM_ERR_MALFORMED'],
  ['indefinite array', '9f00ff', 'GM_ERR_MALFORMED'],
  ['indefinite map', 'bf616100ff', 'GM_ERR_MALFORMED'],
  ['a break alone', 'ff', 'GM_ERR_MALFORMED'],
  ['map keys out of order (aa before b)', 'a2626161006162 01'.replace(' ', ''), 'GM_ERR_NON_CANONICAL'],
  ['map keys out of order (b before a)', 'a2616201616100', 'GM_ERR_NON_CANONICAL'],
  ['a duplicate map key', 'a2616100616101', 'GM_ERR_MALFORMED'],
  ['a non-string map key', 'a10000', 'GM_ERR_MALFORMED'],
  ['a bytes map key', 'a1416100', 'GM_ERR_MALFORMED'],
  ['trailing bytes', '0000', 'GM_ERR_MALFORMED'],
  ['truncated uint', '19ff', 'GM_ERR_MALFORMED'],
  ['truncated bytes', '4561', 'GM_ERR_MALFORMED'],
  ['truncated array', '820001'.slice(0, 4), 'GM_ERR_MALFORMED'],
  ['truncated map', 'a26161', 'GM_ERR_MALFORMED'],
  ['empty input', '', 'GM_ERR_MALFORMED'],
  ['undefined', 'f7', 'GM_ERR_MALFORMED'],
  ['a simple value (16)', 'f0', 'GM_ERR_MALFORMED'],
  ['a simple value in one extra byte (32)', 'f820', 'GM_ERR_MALFORMED'],
  ['float16 1.0 (an integer as a float)', 'f93c00', 'GM_ERR_NON_CANONICAL'],
  ['float64 1.5 (not the shortest float)', 'fb3ff8000000000000', 'GM_ERR_NON_CANONICAL'],
  ['float32 1.5 (not the shortest float)', 'fa3fc00000', 'GM_ERR_NON_CANONICAL'],
  ['float16 NaN', 'f97e00', 'GM_ERR_MALFORMED'],
  ['float16 Infinity', 'f97c00', 'GM_ERR_MALFORMED'],
  ['a tag (0, a date string)', 'c07818323031332d30332d32315432303a30343a30305a', 'GM_ERR_MALFORMED'],
  ['a tag (2, a bignum)', 'c249010000000000000000', 'GM_ERR_MALFORMED'],
  ['invalid UTF-8 (a lone continuation byte)', '6180', 'GM_ERR_NON_CANONICAL'],
  ['overlong UTF-8 (a slash in two bytes)', '62c0af', 'GM_ERR_NON_CANONICAL'],
  ['UTF-8 of a surrogate', '63eda080', 'GM_ERR_NON_CANONICAL'],
  ['text that starts with a byte order mark (decoders drop it)', '66efbbbf626f6d', 'GM_ERR_NON_CANONICAL'],
  ['a non-canonical uint inside an array', '82001805', 'GM_ERR_MALFORMED'],
  ['unsorted keys inside a nested map', 'a16161a2616201616100', 'GM_ERR_NON_CANONICAL'],
  ['a duplicate key inside a nested map', '81a2616100616101', 'GM_ERR_MALFORMED'],
  ['an integer-valued float inside a map', 'a16161f93c00', 'GM_ERR_NON_CANONICAL']
]

/** Canonical structures of the kinds the core signs, and edge values of each type. */
const ACCEPTED: unknown[] = [
  0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER,
  -1, -24, -25, -256, -257, -65536, -65537, -(2 ** 32), -(2 ** 32) - 1, -Number.MAX_SAFE_INTEGER,
  true, false, null, 1.5, -0.25, 3.4028234663852886e38, 1e300, 5.960464477539063e-8,
  '', 'a', 'x'.repeat(23), 'x'.repeat(24), 'x'.repeat(256), 'é', '日本', '😀', '\u0000', 'a\ufeff',
  new Uint8Array(0), new Uint8Array(24), new Uint8Array(300).fill(7),
  [], [1, [2, [3, []]]], new Array(30).fill('z'),
  {}, { a: 1 }, { b: 1, aa: 2, a: 3, ab: 4, B: 5, '': 6 }, { 10: 'x', 9: 'y', a: { z: [], y: new Uint8Array(2) } },
  Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i])),
  { v: 1, ct: new Uint8Array(45), gw: new Uint8Array(32), ts: 1_765_000_000_000, seq: 1_765_000_000_000_000, nonce: new Uint8Array(12), wraps: [{ w: new Uint8Array(48), to: 'p'.repeat(43), ctr: 7, enc: new Uint8Array(32) }], sensor: 'orchard-1' }
]

describe('decodeCanonical [ENC-3]', () => {
  for (const [name, hex, code] of REFUSED) {
    it(`refuses ${name} (${code})`, () => {
      const bytes = fromHex(hex)
      assert.deepEqual(verdict(() => reference(bytes)), { ok: false, code }, 'the reference check refuses it so')
      assert.deepEqual(verdict(() => decodeCanonical(bytes)), { ok: false, code })
    })
  }

  it('reads a __proto__ key as the reference does: an own field, the prototype untouched', () => {
    const bytes = fromHex('a1695f5f70726f746f5f5f00')
    assert.deepEqual(verdict(() => decodeCanonical(bytes)), verdict(() => reference(bytes)))
    const value = decodeCanonical(bytes) as object
    assert.deepEqual(Object.getOwnPropertyNames(value), ['__proto__'])
    assert.equal(Object.getPrototypeOf(value), Object.prototype)
  })

  it('refuses nesting too deep to decode, as a GatemeshError', () => {
    const bytes = new Uint8Array(200_001).fill(0x81)
    bytes[200_000] = 0
    assert.equal(verdict(() => decodeCanonical(bytes)).ok, false)
  })

  it('bounds the size before parsing (GM_ERR_TOO_LARGE)', () => {
    assert.deepEqual(verdict(() => decodeCanonical(new Uint8Array(10), { maxBytes: 9 })), { ok: false, code: 'GM_ERR_TOO_LARGE' })
  })

  it('accepts every canonical form, with the value the reference gives', () => {
    for (const value of ACCEPTED) {
      const bytes = encodeCanonical(value)
      assert.deepEqual(verdict(() => decodeCanonical(bytes)), verdict(() => reference(bytes)), `value ${JSON.stringify(value)}`)
      assert.deepEqual(decodeCanonical(bytes), value)
    }
  })

  it('gives a copy of byte strings, not a view of its input', () => {
    const bytes = encodeCanonical({ b: new Uint8Array([1, 2, 3]) })
    const value = decodeCanonical(bytes) as { b: Uint8Array }
    bytes.fill(0)
    assert.deepEqual(value.b, new Uint8Array([1, 2, 3]))
    const buffer = Buffer.from(encodeCanonical({ b: new Uint8Array([1, 2, 3]) }))
    const fromBuffer = decodeCanonical(buffer) as { b: Uint8Array }
    buffer.fill(0)
    assert.deepEqual(fromBuffer.b, new Uint8Array([1, 2, 3]))
  })

  it('gives views of an input the caller owns (inputOwned), plain Uint8Arrays either way', () => {
    const bytes = encodeCanonical({ b: new Uint8Array([1, 2, 3]), c: [new Uint8Array(100).fill(9)] })
    const value = decodeCanonical(bytes, { inputOwned: true }) as { b: Uint8Array, c: Uint8Array[] }
    assert.equal(value.b.buffer, bytes.buffer)
    assert.deepEqual(value, decodeCanonical(Buffer.from(bytes)))
    assert.equal(Object.getPrototypeOf(value.b), Uint8Array.prototype)
    assert.equal(Object.getPrototypeOf((decodeCanonical(Buffer.from(bytes), { inputOwned: true }) as { b: Uint8Array }).b), Uint8Array.prototype)
  })

  it('gives the reference verdict and value for 60 000 mutants of canonical structures', () => {
    let seed = 0x2545f491
    const random = (n: number): number => {
      seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5
      return (seed >>> 0) % n
    }
    const seeds = ACCEPTED.map(v => encodeCanonical(v)).filter(b => b.length > 0)
    let accepted = 0
    for (let i = 0; i < 60_000; i++) {
      const base = seeds[random(seeds.length)] as Uint8Array
      let bytes = Uint8Array.from(base)
      for (let m = 1 + random(3); m > 0; m--) {
        const at = random(bytes.length + 1)
        const kind = random(4)
        if (kind === 0 && bytes.length > 0) bytes[at % bytes.length] = random(256)
        else if (kind === 1 && bytes.length > 0) bytes[at % bytes.length] = (bytes[at % bytes.length] as number) ^ (1 << random(8))
        else if (kind === 2) bytes = Uint8Array.from([...bytes.subarray(0, at), random(256), ...bytes.subarray(at)])
        else bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + 1)])
      }
      const expected = verdict(() => reference(bytes))
      if (expected.ok) accepted++
      assert.deepEqual(verdict(() => decodeCanonical(bytes)), expected, `mutant ${Buffer.from(bytes).toString('hex')}`)
    }
    assert.ok(accepted > 1000, `enough mutants are canonical to compare values (${accepted})`)
  })
})
