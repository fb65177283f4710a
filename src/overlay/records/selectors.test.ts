import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from 'cborg'
import { newestIndex, selectors } from './selectors.ts'
import { compareRecords } from './versions.ts'

const rec = (seq: number, extra = 0): Uint8Array => encode({ seq, body: { extra } })

describe('selectors', () => {
  it('pick the highest seq, whatever the order', () => {
    const records = [rec(1), rec(7), rec(3)]
    assert.equal(newestIndex(records, 'seq'), 1)
    assert.equal(selectors['gm-account']?.(new Uint8Array(), records), 1)
    assert.equal(selectors['gm-crl']?.(new Uint8Array(), [encode({ n: 4 }), encode({ n: 9 }), encode({ n: 2 })]), 1)
  })

  it('break a seq tie the same way on every peer (by bytes) and rank unreadable values last', () => {
    const a = rec(5, 1)
    const b = rec(5, 2)
    const winner = compareRecords(a, b) > 0 ? 0 : 1
    assert.equal(newestIndex([a, b], 'seq'), winner)
    assert.equal(newestIndex([b, a], 'seq'), 1 - winner)
    assert.equal(newestIndex([new Uint8Array([0xff]), rec(0)], 'seq'), 1)
    assert.equal(newestIndex([encode({ seq: -1 }), rec(0)], 'seq'), 1)
  })
})
