import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { allocBytes, SLAB_BYTES, SLAB_MAX_BYTES } from './slab.ts'

describe('byte slab', () => {
  it('allocates zeroed arrays that never share a byte, small ones from a slab', () => {
    const arrays: Uint8Array[] = []
    for (let i = 0; i < 2000; i++) {
      const a = allocBytes(i % 1100)
      assert.equal(a.length, i % 1100)
      assert.ok(a.every(b => b === 0), 'zeroed')
      assert.equal(a.byteOffset % 8, 0, 'aligned')
      a.fill(0xff)
      arrays.push(a)
    }
    // had two arrays overlapped, filling one would have shown in the other
    for (const a of arrays) a.fill(0)
    for (const [i, a] of arrays.entries()) { a.fill(i % 255 + 1) }
    for (const [i, a] of arrays.entries()) assert.ok(a.every(b => b === i % 255 + 1), `array ${i} kept its bytes`)
    assert.equal(allocBytes(100).buffer.byteLength, SLAB_BYTES, 'a small array is a view of the slab')
    assert.equal(allocBytes(SLAB_MAX_BYTES + 1).buffer.byteLength, SLAB_MAX_BYTES + 1, 'a large one has its own buffer')
  })
})
