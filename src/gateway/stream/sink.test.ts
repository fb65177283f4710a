/**
 * The collector's stream sink [STR-35] [STR-36] with a fake publish: it settles every batch at
 * once whatever gossipsub does, bounds what it queues, counts what it drops and hands batches to
 * a local broker directly.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeCanonical } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { decodeRelayMessage } from './relay-message.ts'
import { createStreamSink } from './sink.ts'
import type { SealedReading } from '../pipeline/index.ts'
import type { StreamReading } from './relay-validator.ts'

const logger = createLogger('test:stream-sink', { level: 'silent' })
const CERT = new Uint8Array([0x30, 1, 2, 3])
const readings = (n: number, from = 0): SealedReading[] => Array.from({ length: n }, (_, i) => ({ sensorId: `s-${from + i}`, ts: 1, seq: from + i, envelope: new Uint8Array([from + i, 7, 7]) }))

/** A publish whose calls wait until released. */
function gatedPublish (): { publish: (data: Uint8Array) => Promise<void>, published: Uint8Array[], release: () => void, fail: boolean } {
  const waiting: Array<() => void> = []
  const state = {
    published: [] as Uint8Array[],
    fail: false,
    publish: async (data: Uint8Array) => {
      await new Promise<void>(resolve => waiting.push(resolve))
      if (state.fail) throw new Error('boom')
      state.published.push(data)
    },
    release: () => { for (const resolve of waiting.splice(0)) resolve() }
  }
  return state
}

const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }

describe('the collector\'s stream sink [STR-35]', () => {
  it('is the retrying-itself sink named stream, and settles each batch at once though gossipsub has not sent it', async () => {
    const gate = gatedPublish()
    const sink = createStreamSink({ publish: gate.publish, peers: () => 2, certificate: () => CERT, logger })
    assert.equal(sink.name, 'stream')
    assert.equal(sink.retriesItself, true)
    sink.start()
    await sink.deliver(readings(3))
    assert.equal(gate.published.length, 0, 'settled before the publish finished')
    gate.release()
    await settle()
    assert.equal(gate.published.length, 1)
    assert.deepEqual(decodeRelayMessage(gate.published[0] as Uint8Array), { cert: CERT, envs: readings(3).map(r => r.envelope) })
    assert.deepEqual(sink.status().dropped, { noPeers: 0, queueFull: 0, publishFailed: 0 })
    assert.equal(sink.status().relayed, 3)
    await sink.stop()
  })

  it('drops and counts a batch when no stream peer is known, without publishing', async () => {
    const gate = gatedPublish()
    const sink = createStreamSink({ publish: gate.publish, peers: () => 0, certificate: () => CERT, logger })
    sink.start()
    await sink.deliver(readings(4))
    assert.equal(sink.status().dropped.noPeers, 4)
    assert.equal(sink.status().queued + sink.status().inFlight, 0)
    await sink.stop()
  })

  it('bounds the queue: past maxQueued messages and maxInFlight publishes, batches are dropped and counted', async () => {
    const gate = gatedPublish()
    const sink = createStreamSink({ publish: gate.publish, peers: () => 1, certificate: () => CERT, logger }, { maxQueued: 3, maxInFlight: 2 })
    sink.start()
    for (let i = 0; i < 10; i++) await sink.deliver(readings(2, i * 2))
    assert.equal(sink.status().inFlight, 2)
    assert.equal(sink.status().queued, 3)
    assert.equal(sink.status().dropped.queueFull, 10, 'five batches of two readings dropped')
    gate.release()
    await settle()
    gate.release()
    await settle()
    gate.release()
    await settle()
    assert.equal(sink.status().relayed, 10)
    await sink.stop()
  })

  it('counts a failed publish as dropped', async () => {
    const gate = gatedPublish()
    gate.fail = true
    const sink = createStreamSink({ publish: gate.publish, peers: () => 1, certificate: () => CERT, logger })
    sink.start()
    await sink.deliver(readings(2))
    gate.release()
    await settle()
    assert.equal(sink.status().dropped.publishFailed, 2)
    await sink.stop()
  })

  it('[STR-36] hands each batch to the local broker as stream payloads; with no other stream peer that is no drop', async () => {
    const local: StreamReading[][] = []
    const gate = gatedPublish()
    const sink = createStreamSink({ publish: gate.publish, peers: () => 0, certificate: () => CERT, localDeliver: () => readings => { local.push(readings) }, logger })
    sink.start()
    await sink.deliver(readings(2))
    assert.equal(local.length, 1)
    assert.deepEqual(local[0]?.map(r => r.sensorId), ['s-0', 's-1'])
    assert.deepEqual(decodeCanonical(local[0]?.[1]?.payload as Uint8Array), { v: 1, env: readings(2)[1]?.envelope, cert: CERT })
    assert.deepEqual(sink.status().dropped, { noPeers: 0, queueFull: 0, publishFailed: 0 })
    assert.equal(sink.status().local, 2)
    await sink.stop()
  })
})
