import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeGeneralizedTime, decodeInteger, decodeUtf8StringSequence, encodeGeneralizedTime, encodeInteger,
  encodeObjectIdentifier, encodeUtf8StringSequence
} from './der.ts'

test('integers round-trip in minimal two\'s complement form', () => {
  for (const value of [0, 1, 127, 128, 255, 256, 65535, 2 ** 40]) assert.equal(decodeInteger(encodeInteger(value)), value)
  assert.deepEqual([...encodeInteger(128)], [0x02, 0x02, 0x00, 0x80])
  assert.throws(() => decodeInteger(Uint8Array.from([0x02, 0x02, 0x00, 0x01])), /non-minimal/)
  assert.throws(() => decodeInteger(Uint8Array.from([0x02, 0x01, 0x80])), /negative/)
  assert.throws(() => decodeInteger(Uint8Array.from([0x02, 0x01, 0x01, 0x00])), /trailing/)
})

test('string sequences round-trip, also with long-form lengths', () => {
  const long = ['x'.repeat(200), 'y']
  assert.deepEqual(decodeUtf8StringSequence(encodeUtf8StringSequence(long)), long)
  assert.deepEqual(decodeUtf8StringSequence(encodeUtf8StringSequence([])), [])
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x81, 0x01, 0x00])), /non-minimal/)
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x05, 0x0c, 0x01])), /truncated/)
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x02, 0x04, 0x00])), /UTF8String/)
})

test('times round-trip as RFC 5280 GeneralizedTime', () => {
  const date = new Date('2026-11-25T01:02:03Z')
  assert.equal(new TextDecoder().decode(encodeGeneralizedTime(date).subarray(2)), '20261125010203Z')
  assert.equal(decodeGeneralizedTime(encodeGeneralizedTime(date)).getTime(), date.getTime())
  assert.throws(() => decodeGeneralizedTime(Uint8Array.from([0x18, 0x03, 0x31, 0x32, 0x33])), /GeneralizedTime/)
})

test('object identifiers encode like X.690 says', () => {
  assert.deepEqual([...encodeObjectIdentifier('2.5.29.20')], [0x06, 0x03, 0x55, 0x1d, 0x14])
  assert.deepEqual([...encodeObjectIdentifier('1.3.6.1.4.1.32473.1.1')], [0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xfd, 0x59, 0x01, 0x01])
  assert.deepEqual([...encodeObjectIdentifier('2.25.133204361054189647253674453350182728134')].slice(0, 3), [0x06, 0x14, 0x69])
  assert.throws(() => encodeObjectIdentifier('1.x.3'), /dotted/)
})

test('decoders reject the BER forms asn1js reads', () => {
  const time = (text: string) => Uint8Array.from([0x18, text.length, ...new TextEncoder().encode(text)])
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x80, 0x0c, 0x01, 0x61, 0x00, 0x00])), /indefinite/)
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x04, 0x0c, 0x81, 0x01, 0x61])), /DER/)
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x05, 0x2c, 0x03, 0x0c, 0x01, 0x61])), /DER/)
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x03, 0x0c, 0x02, 0x61, 0x62])), /overruns/)
  assert.throws(() => decodeUtf8StringSequence(Uint8Array.from([0x30, 0x04, 0x0c, 0x02, 0xc3, 0x28])), /UTF-8/)
  assert.throws(() => decodeGeneralizedTime(time('20261125010203.5Z')), /GeneralizedTime/)
  assert.throws(() => decodeGeneralizedTime(time('20261125010203+0100')), /GeneralizedTime/)
  assert.throws(() => decodeGeneralizedTime(time('20260230010203Z')), /GeneralizedTime/)
  assert.equal(decodeGeneralizedTime(time('00050607080910Z')).toISOString(), '0005-06-07T08:09:10.000Z')
  assert.throws(() => decodeInteger(Uint8Array.from([0x02, 0x80, 0x01, 0x00, 0x00])), /indefinite/)
  assert.throws(() => decodeInteger(Uint8Array.from([0x02, 0x07, 0x20, 0, 0, 0, 0, 0, 0])), /out of range/)
  assert.throws(() => encodeObjectIdentifier('1.40'), /dotted/)
})
