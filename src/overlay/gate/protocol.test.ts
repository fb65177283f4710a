import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from 'cborg'
import { isGatemeshError } from '../../core/index.ts'
import { decodeMessage, encodeMessage, MAX_MESSAGE_BYTES } from './protocol.ts'

function code (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(isGatemeshError(err), `a GatemeshError, not ${String(err)}`)
    return err.code
  }
  assert.fail('expected a failure')
}

describe('certificate exchange messages', () => {
  it('round-trips hello and refuse', () => {
    const hello = { v: 1 as const, cert: new Uint8Array([1, 2, 3]), crl: new Uint8Array([4]) }
    assert.deepEqual(decodeMessage(encodeMessage(hello)), hello)
    assert.deepEqual(decodeMessage(encodeMessage({ v: 1, cert: new Uint8Array([9]) })), { v: 1, cert: new Uint8Array([9]) })
    assert.deepEqual(decodeMessage(encodeMessage({ v: 1, error: 'GM_ERR_CERT_REJECTED' })), { v: 1, error: 'GM_ERR_CERT_REJECTED' })
  })

  it('carries the services a peer runs [OVL-31], and refuses a malformed list', () => {
    const hello = { v: 1 as const, cert: new Uint8Array([1]), services: ['collector', 'access'] }
    assert.deepEqual(decodeMessage(encodeMessage(hello)), hello)
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: new Uint8Array([1]), services: 'collector' }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: new Uint8Array([1]), services: [1] }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: new Uint8Array([1]), services: ['Bad Name'] }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: new Uint8Array([1]), services: Array.from({ length: 17 }, (_, i) => `s${i}`) }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
  })

  it('refuses malformed messages with stable codes, never another exception', () => {
    assert.equal(code(() => decodeMessage(new Uint8Array([0xff, 0xff]))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode([1, 2]))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 2, cert: new Uint8Array([1]) }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 1 }))), 'GM_ERR_CERT_MISSING')
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: 'pem?' }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: new Uint8Array() }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    assert.equal(code(() => decodeMessage(encode({ v: 1, cert: new Uint8Array([1]), crl: 5 }))), 'GM_ERR_CERT_EXCHANGE_MALFORMED')
    // an error field that is not a code is not a refusal: without a cert it is malformed
    assert.equal(code(() => decodeMessage(encode({ v: 1, error: 'drop table' }))), 'GM_ERR_CERT_MISSING')
  })
})
