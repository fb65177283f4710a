import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { concat, counterNonce, equalBytes, uint64be, fromBase64, fromBase64Url, fromHex, portableBase64, toBase32, toBase64, toBase64Url, toHex } from './bytes.ts'

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
    for (const bad of ['Zg=', 'Z===', 'Zh==', '****', 'Zm9v\n', 'Zm9=', '====', 'Zg=a', 'Z=g=', 'Zm\u00e99', '-_AA']) assert.throws(() => fromBase64(bad), TypeError, bad)
    for (const bad of ['a+b', 'Zh', 'Zm9', 'Zg==', 'a', 'abcde', 'ab/c', 'Zm\u00e9v']) assert.throws(() => fromBase64Url(bad), TypeError, bad)
    assert.deepEqual(fromBase64Url('-_8'), new Uint8Array([0xfb, 0xff]))
    assert.throws(() => fromHex('abc'), TypeError)
    assert.throws(() => fromHex('zz'), TypeError)
  })

  it('Node\'s native base64 gives the browser codecs\' answers and verdicts, on views too', () => {
    const verdict = (decode: (text: string) => Uint8Array | undefined, text: string): string => {
      try {
        const out = decode(text)
        return out === undefined ? 'refused' : toHex(out)
      } catch {
        return 'refused'
      }
    }
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=. \n\u00e9'
    for (let n = 0; n < 40; n++) {
      const whole = crypto.getRandomValues(new Uint8Array(n + 7))
      const bytes = whole.subarray(3, 3 + n)
      assert.equal(toBase64(bytes), portableBase64.toBase64(bytes))
      assert.equal(toBase64Url(bytes), portableBase64.toBase64Url(bytes))
      const decoded = fromBase64Url(toBase64Url(bytes))
      assert.equal(Object.getPrototypeOf(decoded), Uint8Array.prototype)
      // every one-char change of the encodings, and every pad-bit variant of the last char
      for (const [text, native, portable] of [
        [toBase64(bytes), fromBase64, portableBase64.fromBase64],
        [toBase64Url(bytes), fromBase64Url, portableBase64.fromBase64Url]
      ] as const) {
        const variants = [text, text + '=', text + 'A', text.slice(0, -1), text.slice(1)]
        for (let i = 0; i < text.length; i++) variants.push(text.slice(0, i) + (alphabet[(i * 7 + n) % alphabet.length] as string) + text.slice(i + 1))
        for (const variant of variants) assert.equal(verdict(native, variant), verdict(portable, variant), JSON.stringify(variant))
      }
    }
  })

  it('compares bytes and builds counter nonces', () => {
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true)
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false)
    assert.equal(equalBytes(Uint8Array.of(1), Uint8Array.of(1, 3)), false)
    assert.equal(toHex(counterNonce(0)), '000000000000000000000000')
    assert.equal(toHex(counterNonce(2 ** 32 + 1)), '000000000000000100000001')
    // every byte of both halves, up to the largest counter (2^53 - 1)
    assert.equal(toHex(counterNonce(0x123456 * 2 ** 32 + 0x89abcdef)), '0000000000123456' + '89abcdef')
    assert.equal(toHex(counterNonce(Number.MAX_SAFE_INTEGER)), '00000000001fffffffffffff')
    assert.equal(toHex(uint64be(Number.MAX_SAFE_INTEGER)), '001fffffffffffff')
    assert.equal(toHex(uint64be(32)), '0000000000000020')
  })

  it('concatenates', () => {
    assert.equal(toHex(concat(Uint8Array.of(1), Uint8Array.of(2, 3))), '010203')
  })
})
