import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isGatemeshError } from '../../core/index.ts'
import { parseKey, recordKey } from './keys.ts'

describe('DHT keys', () => {
  it('parses the gatemesh namespaces', () => {
    assert.deepEqual(parseKey('/gm-account/abc234'), { namespace: 'gm-account', id: 'abc234' })
    assert.deepEqual(parseKey(new TextEncoder().encode('/gm-latest/s-1.a')), { namespace: 'gm-latest', id: 's-1.a' })
    assert.equal(recordKey('gm-crl', 'ca'), '/gm-crl/ca')
  })

  it('refuses anything else with GM_ERR_RECORD_KEY', () => {
    const bad: Array<string | Uint8Array> = [
      '', '/', '/gm-account', '/gm-account/', 'gm-account/x', '/gm-account/x/y', '/pk/x', '/ipns/x', '/gm-account/a b',
      `/gm-sensor/${'x'.repeat(201)}`, '/gm-crl/other', new Uint8Array([0x2f, 0xff, 0xfe])
    ]
    for (const key of bad) {
      assert.throws(() => parseKey(key), err => isGatemeshError(err, 'GM_ERR_RECORD_KEY'), String(key))
    }
  })
})
