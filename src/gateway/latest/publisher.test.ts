import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GatemeshError, openRecord } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createLogger } from '../../platform/logger.ts'
import { Delivery } from '../pipeline/index.ts'
import { createLatestPublisher, latestKey } from './publisher.ts'

const suite = createNodeCryptoSuite()
const signer = await suite.importSigningKey(suite.randomBytes(32))
const logger = createLogger('test', { level: 'silent' })
const certificate = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01])
const reading = (sensorId: string, seq: number): { sensorId: string, ts: number, seq: number, envelope: Uint8Array } => ({ sensorId, ts: 1, seq, envelope: new Uint8Array([seq % 256]) })

/** A put whose calls the test releases one by one. */
function gatedPut (): { put: (key: string, value: Uint8Array) => Promise<void>, calls: Array<{ key: string, value: Uint8Array, release: (err?: Error) => void }>, next: () => Promise<void> } {
  const calls: Array<{ key: string, value: Uint8Array, release: (err?: Error) => void }> = []
  let wake: (() => void) | undefined
  return {
    calls,
    put: async (key, value) => await new Promise<void>((resolve, reject) => {
      calls.push({ key, value, release: err => { if (err === undefined) resolve(); else reject(err) } })
      wake?.()
    }),
    next: async () => await new Promise<void>(resolve => { wake = resolve })
  }
}

describe('latest publisher', () => {
  it('builds the gm-latest record, keeps one put in flight per sensor, and the newest wins', async () => {
    const gate = gatedPut()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: gate.put, logger }, { intervalMs: 1 })
    publisher.start()
    let waiting = gate.next()
    publisher.offer(reading('s1', 10))
    await waiting
    assert.equal(gate.calls.length, 1)
    assert.equal(gate.calls[0]?.key, latestKey('s1'))
    const record = await openRecord(suite, gate.calls[0]!.value, { type: 'latest' })
    assert.equal(record.key, 's1')
    assert.equal(record.seq, 10)
    assert.deepEqual(record.body.gatewayCert, certificate)
    assert.deepEqual(record.body.envelope, new Uint8Array([10]))
    assert.deepEqual(record.signer, signer.publicKey)
    // a fast sensor: many offers while one put is in flight, older ones ignored
    for (let seq = 11; seq <= 100; seq++) publisher.offer(reading('s1', seq))
    publisher.offer(reading('s1', 50))
    assert.equal(gate.calls.length, 1)
    waiting = gate.next()
    gate.calls[0]?.release()
    await waiting
    assert.equal(gate.calls.length, 2)
    assert.equal((await openRecord(suite, gate.calls[1]!.value)).seq, 100)
    gate.calls[1]?.release()
    await publisher.flush()
    assert.equal(gate.calls.length, 2)
    await publisher.stop()
  })

  it('signs the puts that fall due together a few per turn of the event loop, and puts them all', async () => {
    const keys: string[] = []
    const publisher = createLatestPublisher({ suite, signer, certificate, put: async key => { keys.push(key) }, logger }, { intervalMs: 60_000, putsPerSecond: 1000 })
    publisher.start()
    // a sensor's first reading is due at once: 100 of them would be ~100 signatures in one turn
    for (let i = 0; i < 100; i++) publisher.offer(reading(`due-${i}`, 1))
    assert.equal(keys.length, 0, 'nothing is signed inside offer')
    await new Promise(resolve => setImmediate(resolve))
    assert.ok(keys.length >= 1 && keys.length < 100, `one turn signed ${keys.length} of 100`)
    for (let turns = 0; keys.length < 100 && turns < 1000; turns++) await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual([...keys].sort(), Array.from({ length: 100 }, (_, i) => latestKey(`due-${i}`)).sort())
    await publisher.stop()
  })

  it('retries a failed put with backoff unless a newer reading replaced it; stop drains', async () => {
    const gate = gatedPut()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: gate.put, logger }, { intervalMs: 1, maxBackoffMs: 4 })
    publisher.start()
    let waiting = gate.next()
    publisher.offer(reading('s2', 1))
    await waiting
    waiting = gate.next()
    gate.calls[0]?.release(new Error('no peers'))
    await waiting
    assert.equal((await openRecord(suite, gate.calls[1]!.value)).seq, 1, 'retried')
    publisher.offer(reading('s2', 2))
    waiting = gate.next()
    gate.calls[1]?.release(new Error('no peers'))
    await waiting
    assert.equal((await openRecord(suite, gate.calls[2]!.value)).seq, 2, 'the newer reading replaced the failed one')
    // a stale answer (a newer record is held) is not retried
    gate.calls[2]?.release(new GatemeshError('GM_ERR_STALE_RECORD'))
    waiting = gate.next()
    publisher.offer(reading('s3', 5))
    const stopping = publisher.stop()
    await waiting
    assert.equal((await openRecord(suite, gate.calls.at(-1)!.value)).key, 's3')
    gate.calls.at(-1)?.release()
    await stopping
    const count = gate.calls.length
    publisher.offer(reading('s3', 6))
    await publisher.flush()
    assert.equal(gate.calls.length, count, 'nothing after stop')
  })

  it('as a reading sink, settles a batch only once a record at least as new as each sensor\'s newest reading of it is put', async () => {
    const gate = gatedPut()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: gate.put, logger }, { intervalMs: 1, maxBackoffMs: 4 })
    publisher.start()
    let settled: string | undefined
    let waiting = gate.next()
    const delivered = publisher.deliver([reading('a', 1), reading('b', 1), reading('a', 3), reading('a', 2)])
    delivered.then(() => { settled = 'resolved' }, (err: unknown) => { settled = (err as GatemeshError).code })
    await waiting
    if (gate.calls.length < 2) { waiting = gate.next(); await waiting }
    const seqOf = async (i: number): Promise<[string, number]> => { const r = await openRecord(suite, gate.calls[i]!.value); return [r.key, r.seq] }
    assert.deepEqual([await seqOf(0), await seqOf(1)].sort(), [['a', 3], ['b', 1]], 'one put per sensor, its newest reading')
    const a = gate.calls.findIndex(c => c.key === latestKey('a'))
    const b = 1 - a
    gate.calls[a]?.release()
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(settled, undefined, 'b is not put yet: the batch waits')
    // b's put is refused for a newer record: that holds too
    gate.calls[b]?.release(new GatemeshError('GM_ERR_STALE_RECORD'))
    await delivered
    assert.equal(settled, 'resolved')
    // a batch of readings already covered by a put settles at once
    await publisher.deliver([reading('a', 2)])
    await publisher.stop()
  })

  it('as a reading sink, retries by itself: a failed put leaves the batch waiting until the retry holds; stop fails what still waits', async () => {
    const gate = gatedPut()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: gate.put, logger }, { intervalMs: 1, maxBackoffMs: 4, stopTimeoutMs: 10 })
    assert.equal(publisher.retriesItself, true)
    publisher.start()
    let waiting = gate.next()
    let settled = false
    const first = publisher.deliver([reading('c', 7)]).then(() => { settled = true })
    await waiting
    waiting = gate.next()
    gate.calls[0]?.release(new Error('no peers'))
    await waiting // the publisher's own retry
    assert.equal(settled, false, 'the failed put did not settle the batch')
    assert.equal((await openRecord(suite, gate.calls[1]!.value)).seq, 7)
    gate.calls[1]?.release()
    await first
    waiting = gate.next()
    const pending = publisher.deliver([reading('d', 1)])
    await waiting
    // the put never settles: the stop gives up after stopTimeoutMs and fails what waits
    await publisher.stop()
    await assert.rejects(pending, { code: 'GM_ERR_SINK_STOPPED' })
    await assert.rejects(publisher.deliver([reading('d', 2)]), { code: 'GM_ERR_SINK_STOPPED' })
  })

  it('as a reading sink, settles an earlier batch for a sensor once a later batch brings a newer reading of it, before any put holds', async () => {
    const gate = gatedPut()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: gate.put, logger }, { intervalMs: 60_000, stopTimeoutMs: 10 })
    publisher.start()
    const state: Record<string, boolean> = {}
    const track = (name: string, p: Promise<void>): void => { p.then(() => { state[name] = true }, () => { state[name] = false }) }
    const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
    track('first', publisher.deliver([reading('a', 1), reading('b', 1)]))
    await turn()
    track('second', publisher.deliver([reading('a', 2)]))
    await turn()
    assert.equal(state.first, undefined, 'b:1 is neither put nor superseded: the first batch waits')
    // a reading older than one already waiting supersedes nothing
    track('late', publisher.deliver([reading('a', 1)]))
    await turn()
    assert.equal(state.second, undefined, 'a:2 is not superseded by an older reading')
    track('third', publisher.deliver([reading('b', 2)]))
    await turn()
    assert.equal(state.first, true, 'a:1 and b:1 are both superseded: the first batch settles with no put held')
    assert.equal(state.second, undefined, 'a:2 waits for its own put')
    assert.equal(state.third, undefined, 'b:2 waits for its own put')
    // the puts in flight (a:1, b:1) hold; the newer readings wait for the next interval's puts
    for (const call of gate.calls) call.release()
    await turn()
    assert.equal(state.second, undefined, 'a put of a:1 does not cover a:2')
    const flushed = publisher.flush()
    await turn()
    for (const call of gate.calls.slice(2)) call.release()
    await flushed
    await turn()
    assert.deepEqual(state, { first: true, second: true, late: true, third: true })
    await publisher.stop()
  })

  it('keeps the gateway within its put budget, the sensors in turn, oldest due first', async () => {
    const puts: Array<{ key: string, at: number }> = []
    let wake: (() => void) | undefined
    const put = async (key: string): Promise<void> => { puts.push({ key, at: performance.now() }); wake?.() }
    const publisher = createLatestPublisher({ suite, signer, certificate, put, logger }, { intervalMs: 1, putsPerSecond: 20 })
    publisher.start()
    const started = performance.now()
    for (let i = 0; i < 30; i++) publisher.offer(reading(`s${i}`, 1))
    // the burst: one second's worth at once (signed a few per turn)
    while (puts.length < 20) await new Promise<void>(resolve => { wake = resolve })
    for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve))
    assert.equal(puts.length, 20, 'no more than the burst before the budget refills')
    while (puts.length < 30) await new Promise<void>(resolve => { wake = resolve })
    // ten more at 20 a second: at least half a second after the start
    assert.ok(puts[29]!.at - started >= 450, `the 30th put came ${(puts[29]!.at - started).toFixed(0)} ms after the start`)
    assert.deepEqual(puts.map(p => p.key), Array.from({ length: 30 }, (_, i) => latestKey(`s${i}`)), 'oldest due first')
    await publisher.stop()
  })

  it('expects a batch to wait an interval plus its turn in the put budget: 400 sensors queued at 10 a second, about 40 s', async () => {
    const gate = gatedPut()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: gate.put, logger }, { stopTimeoutMs: 10 })
    publisher.start()
    assert.equal(publisher.expectedDelayMs(), 1000, 'nothing queued: an interval')
    for (let i = 0; i < 400; i++) publisher.offer(reading(`q${i}`, 1))
    assert.equal(publisher.expectedDelayMs(), 1000 + 40_000, '400 sensors due at 10 puts a second')
    // the burst (one second's worth) is put; the others wait their turn
    while (gate.calls.length < 10) await gate.next()
    const expected = publisher.expectedDelayMs()
    assert.ok(expected <= 1000 + 39_000 && expected > 1000 + 38_000, `${expected} ms once the burst is put`)
    await publisher.stop()
  })

  it('as a reading sink behind more sensors than a time-out\'s worth of puts, is not counted late by the delivery while it keeps its budget', async () => {
    const keys = new Set<string>()
    const publisher = createLatestPublisher({ suite, signer, certificate, put: async key => { keys.add(key) }, logger }, { intervalMs: 10, putsPerSecond: 50 })
    publisher.start()
    let released = 0
    let done: (() => void) | undefined
    const delivery = new Delivery<number>({ sinks: [publisher], release: () => { if (++released === 75) done?.() }, logger }, { timeoutMs: 100 })
    const all = new Promise<void>(resolve => { done = resolve })
    const started = performance.now()
    // one batch of 75 sensors: 50 put at once (the burst), 25 more at 50 a second, 0.5 s past the 100 ms time-out
    for (let i = 0; i < 75; i++) delivery.push(reading(`b${i}`, 1), i)
    await all
    const took = performance.now() - started
    assert.ok(took >= 450, `settled after ${took.toFixed(0)} ms: past the time-out`)
    assert.equal(keys.size, 75)
    assert.deepEqual(delivery.stats().sinks.latest, { delivered: 75, failedBatches: 0, timedOut: 0, failing: false, awaiting: 0 }, 'never counted late')
    delivery.stop()
    await publisher.stop()
  })
})
