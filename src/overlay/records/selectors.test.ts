import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from 'cborg'
import { newestIndex, selectors } from './selectors.ts'
import { compareBytes } from './versions.ts'

const rec = (seq: number, extra = 0): Uint8Array => encode({ seq, body: { extra } })

/** Every order of `values`, to hold a selector to picking the same bytes whatever order peers see. */
function permutations<T> (values: T[]): T[][] {
  if (values.length <= 1) return [values]
  return values.flatMap((value, i) => permutations([...values.slice(0, i), ...values.slice(i + 1)]).map(rest => [value, ...rest]))
}

describe('selectors', () => {
  it('pick the highest seq, whatever the order', () => {
    const records = [rec(1), rec(7), rec(3)]
    assert.equal(newestIndex(records, 'seq'), 1)
    assert.equal(selectors['gm-account']?.(new Uint8Array(), records), 1)
    assert.equal(selectors['gm-crl']?.(new Uint8Array(), [encode({ n: 4 }), encode({ n: 9 }), encode({ n: 2 })]), 1)
  })

  it('[REC-5] at equal seq the bytewise greater record wins, in every order', () => {
    const a = rec(5, 1)
    const b = rec(5, 2)
    const c = rec(5, 300)
    const greatest = [a, b, c].reduce((x, y) => compareBytes(x, y) >= 0 ? x : y)
    assert.equal(greatest, c, 'the fixture: the longest encoding is the greatest')
    for (const order of permutations([a, b, c])) {
      assert.equal(order[newestIndex(order, 'seq')], greatest)
      assert.equal(order[selectors['gm-sensor']?.(new Uint8Array(), order) as number], greatest)
    }
    // A lower seq never wins on its bytes.
    const low = encode({ seq: 4, body: { extra: 999_999 } })
    assert.equal(newestIndex([low, a], 'seq'), 1)
  })

  it('rank unreadable values last, and pick among them by bytes too (the same on every peer)', () => {
    assert.equal(newestIndex([new Uint8Array([0xff]), rec(0)], 'seq'), 1)
    assert.equal(newestIndex([encode({ seq: -1 }), rec(0)], 'seq'), 1)
    const junkLow = new Uint8Array([0xff, 0x00])
    const junkHigh = new Uint8Array([0xff, 0x01])
    assert.equal(newestIndex([junkLow, junkHigh], 'seq'), 1)
    assert.equal(newestIndex([junkHigh, junkLow], 'seq'), 0)
    assert.equal(newestIndex([encode({ n: 'x' }), encode({ n: 'y' })], 'n'), 1)
    assert.equal(newestIndex([encode({ n: 'y' }), encode({ n: 'x' })], 'n'), 0)
  })
})
