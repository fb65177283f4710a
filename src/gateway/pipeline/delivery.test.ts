import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { GatemeshError } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { Delivery } from './delivery.ts'
import type { ReadingSink, SealedReading } from './types.ts'

const logger = createLogger('test', { level: 'silent' })
const reading = (seq: number): SealedReading => ({ sensorId: 's', ts: 1, seq, envelope: new Uint8Array([seq]) })

/** A sink whose batches the test settles one by one. */
function gatedSink (name: string): ReadingSink & { calls: Array<{ readings: readonly SealedReading[], settle: (err?: Error) => void }>, events: EventEmitter } {
  const calls: Array<{ readings: readonly SealedReading[], settle: (err?: Error) => void }> = []
  const events = new EventEmitter()
  return {
    name,
    calls,
    events,
    deliver: async readings => await new Promise<void>((resolve, reject) => {
      calls.push({ readings: [...readings], settle: err => { if (err === undefined) resolve(); else reject(err) } })
      events.emit('call')
    })
  }
}

function released (): { handles: number[], events: EventEmitter, release: (h: number) => void } {
  const handles: number[] = []
  const events = new EventEmitter()
  return { handles, events, release: h => { handles.push(h); events.emit('release') } }
}

describe('delivery', () => {
  it('gives one turn\'s readings to every sink as one batch and releases them only once all have settled', async () => {
    const a = gatedSink('a')
    const b = gatedSink('b')
    const r = released()
    const delivery = new Delivery<number>({ sinks: [a, b], release: r.release, logger })
    delivery.push(reading(1), 10)
    delivery.push(reading(2), 20)
    assert.equal(delivery.held, 2)
    await once(b.events, 'call')
    assert.equal(a.calls.length, 1)
    assert.deepEqual(a.calls[0]?.readings.map(x => x.seq), [1, 2])
    a.calls[0]?.settle()
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(r.handles, [], 'one sink settled: nothing released')
    assert.equal(delivery.stats().sinks.a?.awaiting, 0, 'a settled its batch')
    assert.equal(delivery.stats().sinks.b?.awaiting, 2, 'b has not')
    const releasedAll = once(r.events, 'release')
    b.calls[0]?.settle()
    await releasedAll
    assert.deepEqual(r.handles, [10, 20])
    assert.equal(delivery.held, 0)
    assert.deepEqual(delivery.stats().sinks, {
      a: { delivered: 2, failedBatches: 0, timedOut: 0, failing: false, awaiting: 0 },
      b: { delivered: 2, failedBatches: 0, timedOut: 0, failing: false, awaiting: 0 }
    })
  })

  it('gives a batch again to the sink that failed it, and only to that one, until it holds; then releases', async () => {
    const a = gatedSink('a')
    const b = gatedSink('b')
    const r = released()
    const delivery = new Delivery<number>({ sinks: [a, b], release: r.release, logger }, { retryMinMs: 1, retryMaxMs: 4 })
    delivery.push(reading(1), 1)
    await once(b.events, 'call')
    a.calls[0]?.settle()
    let again = once(b.events, 'call')
    b.calls[0]?.settle(new GatemeshError('GM_ERR_DHT_PUT_FAILED'))
    await again
    again = once(b.events, 'call')
    b.calls[1]?.settle(new GatemeshError('GM_ERR_DHT_PUT_FAILED'))
    await again
    assert.deepEqual(r.handles, [], 'kept while a sink fails')
    assert.equal(delivery.stats().sinks.b?.failing, true)
    assert.equal(delivery.stats().sinks.b?.failedBatches, 2)
    const done = once(r.events, 'release')
    b.calls[2]?.settle()
    await done
    assert.equal(a.calls.length, 1, 'the sink that held it was not asked again')
    assert.deepEqual(b.calls[2]?.readings.map(x => x.seq), [1], 'the same batch again')
    assert.deepEqual(r.handles, [1])
    assert.equal(delivery.stats().sinks.b?.failing, false)
  })

  it('counts a batch a sink does not settle in time as failed and gives it again; a sink that throws is failed too', async () => {
    const slow = gatedSink('slow')
    let throws = 1
    const thrower: ReadingSink = { name: 'thrower', deliver: () => { if (throws-- > 0) throw new Error('boom'); return Promise.resolve() } }
    const r = released()
    const delivery = new Delivery<number>({ sinks: [slow, thrower], release: r.release, logger }, { timeoutMs: 20, retryMinMs: 1, retryMaxMs: 2 })
    delivery.push(reading(1), 1)
    await once(slow.events, 'call')
    await once(slow.events, 'call') // the first call timed out
    assert.equal(delivery.stats().sinks.slow?.timedOut, 1)
    assert.equal(delivery.stats().sinks.thrower?.failedBatches, 1)
    const done = once(r.events, 'release')
    slow.calls[1]?.settle()
    await done
    assert.deepEqual(r.handles, [1])
    // the first attempt settling late changes nothing
    slow.calls[0]?.settle()
    assert.deepEqual(r.handles, [1])
  })

  it('is full at maxHeld readings awaiting a sink, until they drain; drain asks the sinks to flush', async () => {
    const a = gatedSink('a')
    let flushed = 0
    a.flush = async () => { flushed++; for (const call of a.calls.splice(0)) call.settle() }
    const r = released()
    const delivery = new Delivery<number>({ sinks: [a], release: r.release, logger }, { maxHeld: 3 })
    for (let i = 0; i < 3; i++) delivery.push(reading(i), i)
    assert.equal(delivery.full, true)
    await once(a.events, 'call')
    await delivery.drain()
    assert.equal(flushed, 1)
    assert.equal(delivery.full, false)
    assert.deepEqual(r.handles, [0, 1, 2])
  })

  it('releases at once with no sink, and after stop() neither retries nor releases what it held', async (t) => {
    const r = released()
    new Delivery<number>({ sinks: [], release: r.release, logger }).push(reading(1), 1)
    assert.deepEqual(r.handles, [1])

    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] })
    const a = gatedSink('a')
    const r2 = released()
    const delivery = new Delivery<number>({ sinks: [a], release: r2.release, logger }, { retryMinMs: 1, retryMaxMs: 1 })
    delivery.push(reading(1), 1)
    t.mock.timers.tick(1)
    assert.equal(a.calls.length, 1)
    delivery.stop()
    a.calls[0]?.settle(new Error('down'))
    while (delivery.stats().sinks.a?.failedBatches === 0) await Promise.resolve()
    delivery.push(reading(2), 2)
    t.mock.timers.tick(1000)
    assert.equal(a.calls.length, 1, 'no retry after stop')
    assert.deepEqual(r2.handles, [])
  })

  it('gives a sink that retries by itself each batch once, and waits for it past the time-out', async () => {
    const a = Object.assign(gatedSink('a'), { retriesItself: true })
    const r = released()
    const delivery = new Delivery<number>({ sinks: [a], release: r.release, logger }, { timeoutMs: 5, retryMinMs: 1, retryMaxMs: 1 })
    delivery.push(reading(1), 1)
    await once(a.events, 'call')
    while (delivery.stats().sinks.a?.timedOut === 0) await new Promise(resolve => setImmediate(resolve))
    assert.equal(delivery.stats().sinks.a?.failing, true)
    assert.equal(a.calls.length, 1, 'not given again after the time-out')
    assert.deepEqual(r.handles, [], 'still journaled')
    const done = once(r.events, 'release')
    a.calls[0]?.settle()
    await done
    assert.deepEqual(r.handles, [1])
    assert.equal(delivery.stats().sinks.a?.failing, false)
  })

  it('counts a sink that retries by itself late only once the delay it expects for a batch has passed too; the other sinks at the time-out', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] })
    // [COL-14] [COL-20] the latest publisher with 400 fast sensors at 10 puts a second expects ~40 s
    const queued = Object.assign(gatedSink('queued'), { retriesItself: true, expectedDelayMs: () => 40_000 })
    const bare = Object.assign(gatedSink('bare'), { retriesItself: true })
    // a sink given batches again is not the one that expects: it times out as before
    const plain = Object.assign(gatedSink('plain'), { expectedDelayMs: () => 40_000 })
    const r = released()
    const delivery = new Delivery<number>({ sinks: [queued, bare, plain], release: r.release, logger }, { retryMinMs: 1000, retryMaxMs: 1000 })
    delivery.push(reading(1), 1)
    t.mock.timers.tick(1)
    assert.equal(queued.calls.length, 1)
    t.mock.timers.tick(30_000)
    assert.equal(delivery.stats().sinks.bare?.timedOut, 1, 'no expected delay: late at the time-out')
    assert.equal(delivery.stats().sinks.plain?.timedOut, 1, 'not retrying by itself: timed out at the time-out')
    assert.equal(delivery.stats().sinks.queued?.timedOut, 0, 'not late at 30 s: it expects 40 s more')
    assert.equal(delivery.stats().sinks.queued?.failing, false)
    t.mock.timers.tick(39_999)
    assert.equal(delivery.stats().sinks.queued?.timedOut, 0, 'not late 1 ms before its expected delay and the time-out')
    t.mock.timers.tick(1)
    assert.equal(delivery.stats().sinks.queued?.timedOut, 1, 'late once the expected delay and the time-out have passed')
    assert.equal(delivery.stats().sinks.queued?.failing, true)
    assert.equal(queued.calls.length, 1, 'still not given again')
    assert.deepEqual(r.handles, [], 'still journaled')
    delivery.stop()
  })

  it('takes at most maxExpectedDelayMs (5 min by default) of what a sink expects, and none of what is not a positive number', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setImmediate'] })
    const expecting = (name: string, expectedDelayMs: () => number): ReturnType<typeof gatedSink> => Object.assign(gatedSink(name), { retriesItself: true, expectedDelayMs })
    const sinks = [
      expecting('absurd', () => 1e12),
      expecting('infinite', () => Infinity),
      expecting('nan', () => NaN),
      expecting('negative', () => -5000),
      expecting('throws', () => { throw new Error('bug') })
    ]
    const delivery = new Delivery<number>({ sinks, release: () => {}, logger })
    delivery.push(reading(1), 1)
    t.mock.timers.tick(1)
    const timedOut = (): Record<string, number | undefined> => Object.fromEntries(Object.entries(delivery.stats().sinks).map(([name, s]) => [name, s.timedOut]))
    t.mock.timers.tick(30_000)
    assert.deepEqual(timedOut(), { absurd: 0, infinite: 0, nan: 1, negative: 1, throws: 1 })
    t.mock.timers.tick(5 * 60_000 - 1)
    assert.deepEqual(timedOut(), { absurd: 0, infinite: 0, nan: 1, negative: 1, throws: 1 }, 'the cap is not reached yet')
    t.mock.timers.tick(1)
    assert.deepEqual(timedOut(), { absurd: 1, infinite: 1, nan: 1, negative: 1, throws: 1 }, 'a stall is counted late at the time-out plus the cap')
    delivery.stop()
  })

  it('refuses two sinks of the same name', () => {
    assert.throws(() => new Delivery<number>({ sinks: [gatedSink('x'), gatedSink('x')], release: () => {}, logger }), { code: 'GM_ERR_GATEWAY_CONFIG' })
  })
})
