/**
 * The collector's stream sink [STR-35] [STR-36] [STR-37] and its links to stream peers
 * (relay-link.ts) with fake libp2p streams: it settles every batch at once whatever the streams
 * do, writes each relay message as one frame to every stream peer, bounds each peer's queue in
 * bytes (a stalled peer drops, counted, while the others receive), reopens a broken stream with
 * back-off, follows the set of stream peers and hands batches to a local broker directly.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeCanonical } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { createRelayFrameDecoder } from './relay-frames.ts'
import { decodeRelayMessage } from './relay-message.ts'
import { createStreamSink } from './sink.ts'
import type { SealedReading } from '../pipeline/index.ts'
import type { StreamReading } from './relay-validator.ts'
import type { Stream } from '@libp2p/interface'

const logger = createLogger('test:stream-sink', { level: 'silent' })
const CERT = new Uint8Array([0x30, 1, 2, 3])
const readings = (n: number, from = 0, size = 3): SealedReading[] => Array.from({ length: n }, (_, i) => ({ sensorId: `s-${from + i}`, ts: 1, seq: from + i, envelope: new Uint8Array(size).fill((from + i) % 256) }))

/** A libp2p stream stand-in: records what is sent; `stall` makes it ask for 'drain' until released. */
interface FakeStream {
  stream: Stream
  sent: Uint8Array[]
  stall: boolean
  release: () => void
  /** The remote end resets the stream. */
  reset: () => void
}

function fakeStream (): FakeStream {
  const target = new EventTarget() as EventTarget & Record<string, unknown>
  let drained: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  const fake: FakeStream = {
    stream: target as unknown as Stream,
    sent: [],
    stall: false,
    release: () => {
      target.writableNeedsDrain = false
      for (const d of drained.splice(0)) d.resolve()
    },
    reset: () => {
      target.status = 'reset'
      for (const d of drained.splice(0)) d.reject(new Error('reset'))
      target.dispatchEvent(new Event('close'))
    }
  }
  Object.assign(target, {
    status: 'open',
    writableNeedsDrain: false,
    send: (data: Uint8Array) => {
      if (target.status !== 'open') throw new Error('closed')
      fake.sent.push(Uint8Array.from(data))
      if (fake.stall) { target.writableNeedsDrain = true; return false }
      return true
    },
    onDrain: async () => { if (target.writableNeedsDrain !== true) return; await new Promise<void>((resolve, reject) => { drained.push({ resolve, reject }) }) },
    close: async () => { target.status = 'closed'; drained = []; target.dispatchEvent(new Event('close')) },
    abort: () => { target.status = 'aborted'; drained = []; target.dispatchEvent(new Event('close')) }
  })
  return fake
}

/** The relay messages written on a fake stream, decoded frame by frame. */
function messagesOf (fake: FakeStream): Array<{ cert: Uint8Array, envs: Uint8Array[] }> {
  const decoder = createRelayFrameDecoder()
  return fake.sent.flatMap(chunk => decoder.push(chunk)).map(frame => decodeRelayMessage(frame))
}

/** Dials that hand out fake streams, per peer, and can be held or failed. */
function dialer (): { dial: (peer: string) => Promise<Stream>, streams: Map<string, FakeStream[]>, hold: boolean, failing: Set<string>, let: () => void, dials: string[] } {
  const held: Array<() => void> = []
  const state = {
    streams: new Map<string, FakeStream[]>(),
    hold: false,
    failing: new Set<string>(),
    dials: [] as string[],
    let: () => { for (const go of held.splice(0)) go() },
    dial: async (peer: string): Promise<Stream> => {
      state.dials.push(peer)
      if (state.hold) await new Promise<void>(resolve => held.push(resolve))
      if (state.failing.has(peer)) throw new Error('unreachable')
      const fake = fakeStream()
      state.streams.set(peer, [...(state.streams.get(peer) ?? []), fake])
      return fake.stream
    }
  }
  return state
}

const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise(resolve => setImmediate(resolve)) }
async function until (what: string, test: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
const last = (d: ReturnType<typeof dialer>, peer: string): FakeStream => (d.streams.get(peer) ?? []).at(-1) as FakeStream

describe('the collector\'s stream sink [STR-35]', () => {
  it('is the retrying-itself sink named stream, settles each batch at once though no stream is open yet, then writes it as one frame to every stream peer', async () => {
    const d = dialer()
    d.hold = true
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => ['p1', 'p2'], self: 'me', certificate: () => CERT, logger })
    assert.equal(sink.name, 'stream')
    assert.equal(sink.retriesItself, true)
    sink.start()
    await sink.deliver(readings(3))
    assert.equal(d.streams.size, 0, 'settled before any stream opened')
    d.let()
    await until('both streams written', () => ['p1', 'p2'].every(p => d.streams.get(p)?.[0]?.sent.length === 1))
    for (const p of ['p1', 'p2']) assert.deepEqual(messagesOf(last(d, p)), [{ cert: CERT, envs: readings(3).map(r => r.envelope) }])
    assert.deepEqual(sink.status().dropped, { noPeers: 0, queueFull: 0, publishFailed: 0 })
    assert.equal(sink.status().relayed, 6, 'three readings to each of two stream peers')
    assert.equal(sink.status().open, 2)
    await sink.stop()
  })

  it('micro-batches: the batches of one turn of the event loop go out in one write, each its own frame, in order', async () => {
    const d = dialer()
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => ['p1'], self: 'me', certificate: () => CERT, logger })
    sink.start()
    await until('open', () => sink.status().open === 1)
    for (let i = 0; i < 4; i++) void sink.deliver(readings(2, i * 2))
    await settle()
    const fake = last(d, 'p1')
    assert.equal(fake.sent.length, 1, 'one write')
    assert.deepEqual(messagesOf(fake).map(m => m.envs.length), [2, 2, 2, 2])
    assert.equal(sink.status().messages, 4)
    await sink.stop()
  })

  it('drops and counts a batch when no stream peer is known, and never links to itself', async () => {
    const d = dialer()
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => ['me'], self: 'me', certificate: () => CERT, logger })
    sink.start()
    await sink.deliver(readings(4))
    assert.equal(sink.status().dropped.noPeers, 4)
    assert.equal(sink.status().peers, 0)
    assert.deepEqual(d.dials, [])
    await sink.stop()
  })

  it('a stalled stream peer\'s queue is bounded in bytes and drops, counted; the other stream peer gets everything', async () => {
    const d = dialer()
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => ['slow', 'fast'], self: 'me', certificate: () => CERT, logger }, { link: { maxQueuedBytes: 20_000, flushBytes: 4096 } })
    sink.start()
    await until('open', () => sink.status().open === 2)
    last(d, 'slow').stall = true
    // 50 batches of 4 readings of 1 000 bytes: ~4 KiB a frame, 200 KiB in all
    for (let i = 0; i < 50; i++) {
      await sink.deliver(readings(4, i * 4, 1000))
      await settle()
      assert.ok(sink.status().queuedBytes <= 20_000, `queued ${sink.status().queuedBytes} bytes`)
    }
    assert.equal(messagesOf(last(d, 'fast')).flatMap(m => m.envs).length, 200, 'the fast peer got every reading')
    const dropped = sink.status().dropped.queueFull
    assert.ok(dropped >= 100, `${dropped} readings dropped for the stalled peer`)
    const slowGot = messagesOf(last(d, 'slow')).flatMap(m => m.envs).length
    assert.equal(sink.status().relayed, 200 + slowGot)
    // released, the stalled peer gets what its queue held, then the readings that follow
    last(d, 'slow').stall = false
    last(d, 'slow').release()
    await settle()
    assert.equal(sink.status().queuedBytes, 0)
    assert.equal(messagesOf(last(d, 'slow')).flatMap(m => m.envs).length, 200 - dropped, 'every reading it did not drop')
    assert.equal(sink.status().relayed, 400 - dropped)
    await sink.stop()
  })

  it('reopens a broken stream with back-off and sends what was queued meanwhile; a peer that cannot be reached is retried', async () => {
    const d = dialer()
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => ['p1'], self: 'me', certificate: () => CERT, logger }, { link: { minBackoffMs: 20, maxBackoffMs: 40 } })
    sink.start()
    await until('open', () => sink.status().open === 1)
    last(d, 'p1').reset()
    d.failing.add('p1')
    await sink.deliver(readings(2))
    await until('a failed reopening', () => d.dials.length >= 3)
    assert.equal(sink.status().open, 0)
    d.failing.delete('p1')
    await until('reopened', () => sink.status().open === 1)
    await until('sent after reopening', () => messagesOf(last(d, 'p1')).length === 1)
    assert.equal(d.streams.get('p1')?.length, 2, 'a second stream')
    assert.deepEqual(sink.status().dropped, { noPeers: 0, queueFull: 0, publishFailed: 0 })
    await sink.stop()
  })

  it('follows the stream peers: a new one is linked on refresh, one gone is closed (what it had queued counted)', async () => {
    const d = dialer()
    let peers = ['p1']
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => peers, self: 'me', certificate: () => CERT, logger })
    sink.start()
    await until('p1', () => sink.status().open === 1)
    peers = ['p1', 'p2']
    sink.refresh()
    await until('p2', () => sink.status().open === 2)
    last(d, 'p1').stall = true
    await sink.deliver(readings(2))
    await settle()
    await sink.deliver(readings(3, 2))
    await settle()
    peers = ['p2']
    sink.refresh()
    assert.equal(sink.status().peers, 1)
    assert.equal(last(d, 'p1').stream.status, 'closed')
    assert.equal(sink.status().dropped.publishFailed, 3, 'the batch p1 had queued behind its stalled write')
    await sink.stop()
  })

  it('[STR-37] links to the stream peers a lookup finds, beside the connected ones, at most maxPeers', async () => {
    const d = dialer()
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => ['p1'], discover: async () => ['me', 'p1', 'far-1', 'far-2', 'far-3'], self: 'me', certificate: () => CERT, logger }, { maxPeers: 3 })
    sink.start()
    await until('three links', () => sink.status().open === 3)
    assert.deepEqual([...new Set(d.dials)].sort(), ['far-1', 'far-2', 'p1'])
    await sink.stop()
  })

  it('[STR-36] hands each batch to the local broker as stream payloads; with no other stream peer that is no drop', async () => {
    const local: StreamReading[][] = []
    const d = dialer()
    const sink = createStreamSink({ dial: d.dial, streamPeers: () => [], self: 'me', certificate: () => CERT, localDeliver: () => readings => { local.push(readings) }, logger })
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
