import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isGatemeshError } from '../../core/index.ts'
import { PacketSizeGuard } from './packet-guard.ts'
import { RateLimiter } from './rate-limit.ts'
import { Sequencer } from './sequencer.ts'

describe('sequencer', () => {
  it('is ts * 1000 + a counter, strictly increasing even when the clock steps back', () => {
    const s = new Sequencer()
    assert.equal(s.next('a', 1000), 1_000_000)
    assert.equal(s.next('a', 1000), 1_000_001)
    assert.equal(s.next('b', 1000), 1_000_000)
    assert.equal(s.next('a', 999), 1_000_002)
    assert.equal(s.next('a', 1001), 1_001_000)
    assert.equal(s.next('a', 5000), 5_000_000)
  })
})

describe('rate limiter', () => {
  it('allows a burst, then the sustained rate', () => {
    let t = 0
    const r = new RateLimiter({ perSecond: 10, burst: 5 }, () => t)
    for (let i = 0; i < 5; i++) assert.ok(r.take('s'))
    assert.equal(r.take('s'), false)
    assert.ok(r.retryAfter('s') >= 1)
    t = 100
    assert.ok(r.take('s'))
    assert.equal(r.take('s'), false)
    assert.equal(r.take('s', 6), false, 'a batch above the burst never passes')
    assert.ok(r.take('other', 5))
  })
})

/** Feeds the chunks in order; the bytes passed, or the guard's refusal. */
function pass (guard: PacketSizeGuard, chunks: Buffer[]): Buffer {
  for (const chunk of chunks) if (!guard.feed(chunk)) throw guard.refused as Error
  return Buffer.concat(chunks)
}

describe('MQTT packet size guard', () => {
  it('passes packets within the limit, split anywhere', () => {
    // PINGREQ, a PUBLISH with 200 bytes (two-byte length 0xc8 0x01), PINGREQ
    const publish = Buffer.concat([Buffer.from([0x30, 0xc8, 0x01]), Buffer.alloc(200, 7)])
    const stream = Buffer.concat([Buffer.from([0xc0, 0x00]), publish, Buffer.from([0xc0, 0x00])])
    for (const cut of [1, 2, 3, 4, 100, stream.length - 1]) {
      const guard = new PacketSizeGuard(1000)
      assert.deepEqual(pass(guard, [stream.subarray(0, cut), stream.subarray(cut)]), stream)
      assert.equal(guard.refused, undefined)
    }
    // the header of a packet of exactly the limit (1000 = 0xe8 0x07)
    assert.ok(new PacketSizeGuard(1000).feed(Buffer.from([0x30, 0xe8, 0x07])))
  })

  it('refuses on the header of a packet above the limit, and everything after', () => {
    const guard = new PacketSizeGuard(1000)
    assert.throws(() => pass(guard, [Buffer.from([0xc0, 0x00, 0x30, 0xe9]), Buffer.from([0x07])]), /at most 1000 bytes/)
    assert.ok(isGatemeshError(guard.refused, 'GM_ERR_READING_TOO_LARGE'))
    assert.equal(guard.feed(Buffer.from([0xc0, 0x00])), false, 'a refused stream stays refused')
    // a Remaining Length of more than 4 bytes is malformed (MQTT 3.1.1 §2.2.3)
    assert.throws(() => pass(new PacketSizeGuard(10 ** 9), [Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]))
  })
})
