import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CborWriter } from './cbor-writer.ts'
import { encodeCanonical } from './encoding.ts'

/** A value of the shapes the writer supports, written by the writer; the pair must agree with cborg. */
type Value = number | string | Uint8Array | Value[] | Map<string, Value>

function write (w: CborWriter, value: Value): void {
  if (typeof value === 'number') w.uint(value)
  else if (typeof value === 'string') w.text(value)
  else if (value instanceof Uint8Array) w.bytes(value)
  else if (Array.isArray(value)) { w.array(value.length); for (const v of value) write(w, v) }
  else {
    // canonical key order (RFC 8949 §4.2.1): shorter encoded key first, then bytewise
    const keys = [...value.keys()].sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)))
    w.map(keys.length)
    for (const k of keys) { w.text(k); write(w, value.get(k) as Value) }
  }
}

function plain (value: Value): unknown {
  if (Array.isArray(value)) return value.map(plain)
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]))
  return value
}

const EDGES = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 1_795_580_158_714, 1_795_580_158_714_123]

function random (depth: number): Value {
  const r = Math.random()
  if (r < 0.25) return Math.random() < 0.5 ? EDGES[Math.floor(Math.random() * EDGES.length)] as number : Math.floor(Math.random() * 2 ** (Math.random() * 53))
  if (r < 0.45) return Array.from({ length: Math.floor(Math.random() * 30) }, () => String.fromCharCode(Math.random() < 0.9 ? 32 + Math.floor(Math.random() * 95) : 0xa0 + Math.floor(Math.random() * 0x2000))).join('')
  if (r < 0.65 || depth > 3) return crypto.getRandomValues(new Uint8Array([0, 1, 23, 24, 255, 256, 300, 65_536][Math.floor(Math.random() * 8)] as number))
  if (r < 0.8) return Array.from({ length: Math.floor(Math.random() * 5) }, () => random(depth + 1))
  const map = new Map<string, Value>()
  for (let i = 0; i < Math.floor(Math.random() * 9); i++) map.set(Math.random().toString(36).slice(2, 2 + Math.ceil(Math.random() * 8)), random(depth + 1))
  return map
}

describe('CborWriter', () => {
  it('writes every edge-case integer as cborg does', () => {
    const w = new CborWriter()
    for (const n of EDGES) assert.deepEqual(w.begin().uint(n).finish(), new Uint8Array(encodeCanonical(n)), String(n))
  })

  it('writes 2 000 random values byte for byte as cborg encodes them canonically', () => {
    const w = new CborWriter()
    for (let i = 0; i < 2000; i++) {
      const value = random(0)
      w.begin()
      write(w, value)
      assert.deepEqual(w.finish(), new Uint8Array(encodeCanonical(plain(value))))
    }
  })

  it('starts over after finish and grows past its first buffer', () => {
    const w = new CborWriter()
    const big = new Uint8Array(5000).fill(7)
    assert.deepEqual(w.begin().bytes(big).finish(), new Uint8Array(encodeCanonical(big)))
    assert.deepEqual(w.begin().text('a').finish(), new Uint8Array(encodeCanonical('a')))
  })

  it('refuses what is not a non-negative safe integer', () => {
    const w = new CborWriter()
    for (const bad of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) assert.throws(() => w.begin().map(1).text('n').uint(bad), RangeError)
    // each refusal dropped its value: the writer takes the next one
    assert.deepEqual(w.begin().uint(1).finish(), new Uint8Array(encodeCanonical(1)))
  })

  it('refuses a value begun inside another (a shared writer re-entered) and writing outside begin() and finish()', () => {
    const w = new CborWriter()
    const inner = (): Uint8Array => w.begin().text('inner').finish()
    assert.throws(() => w.begin().map(1).text('k').bytes(inner()), /re-entered/)
    w.reset()
    assert.throws(() => w.uint(1), /begin\(\)/)
    assert.throws(() => w.raw(new Uint8Array([1])), /begin\(\)/)
    // after the refusal and a reset, the writer writes as before
    assert.deepEqual(w.begin().map(1).text('k').uint(1).finish(), new Uint8Array(encodeCanonical({ k: 1 })))
    assert.throws(() => w.text('after finish'), /begin\(\)/)
  })
})
