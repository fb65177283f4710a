import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { counterNonce, equalBytes, fromBase64, fromBase64Url, fromHex, toBase32, toBase64, toBase64Url, toHex } from './bytes.ts'

describe('byte encodings', () => {
  it('match RFC 4648 §10 test vectors', () => {
    const vectors: Array<[string, string, string]> = [['', '', ''], ['f', 'Zg==', 'my'], ['fo', 'Zm8=', 'mzxq'], ['foo', 'Zm9v', 'mzxw6'], ['foob', 'Zm9vYg==', 'mzxw6yq'], ['fooba', 'Zm9vYmE=', 'mzxw6ytb'], ['foobar', 'Zm9vYmFy', 'mzxw6ytboi']]
    for (const [text, b64, b32] of vectors) {
      const bytes = new TextEncoder().encode(text)
      assert.equal(toBase64(bytes), b64)
      assert.deepEqual(fromBase64(b64), bytes)
      assert.equal(toBase32(bytes), b32)
    }
  })

  it('round-trip random bytes and refuse malformed text', () => {
    for (let n = 0; n < 70; n++) {
      const bytes = crypto.getRandomValues(new Uint8Array(n))
      assert.deepEqual(fromBase64(toBase64(bytes)), bytes)
      assert.deepEqual(fromBase64Url(toBase64Url(bytes)), bytes)
      assert.deepEqual(fromHex(toHex(bytes)), bytes)
    }
    for (const bad of ['Zg=', 'Z===', 'Zh==', '****', 'Zm9v\n']) assert.throws(() => fromBase64(bad), TypeError, bad)
    assert.throws(() => fromBase64Url('a+b'), TypeError)
    assert.throws(() => fromHex('abc'), TypeError)
    assert.throws(() => fromHex('zz'), TypeError)
  })

  it('compares bytes and builds counter nonces', () => {
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true)
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false)
    assert.equal(equalBytes(Uint8Array.of(1), Uint8Array.of(1, 3)), false)
    assert.equal(toHex(counterNonce(0)), '000000000000000000000000')
    assert.equal(toHex(counterNonce(2 ** 32 + 1)), '000000000000000100000001')
  })
})
