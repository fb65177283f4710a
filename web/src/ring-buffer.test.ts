import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RingBuffer } from './ring-buffer.ts'

describe('RingBuffer (the live view\'s readings)', () => {
  it('keeps every item, oldest first, until full', () => {
    const ring = new RingBuffer<number>(3)
    assert.deepEqual(ring.toArray(), [])
    ring.push(1)
    ring.push(2)
    assert.deepEqual(ring.toArray(), [1, 2])
    assert.equal(ring.size, 2)
  })

  it('then drops the oldest for each new one, and never holds more than its capacity', () => {
    const ring = new RingBuffer<number>(3)
    for (let i = 1; i <= 10; i++) ring.push(i)
    assert.deepEqual(ring.toArray(), [8, 9, 10])
    assert.equal(ring.size, 3)
    ring.push(11)
    assert.deepEqual(ring.toArray(), [9, 10, 11])
  })

  it('refuses a capacity below one', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new RingBuffer(bad), RangeError)
  })
})
