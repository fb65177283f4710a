// The subscription's message handling (decode → check → open, with real envelopes and
// certificates) and its connection logic (round robin, back-off, tokens, states, codes) over a
// fake MQTT connection. The real broker path is in test/stream/client-subscribe.test.ts.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { EnvelopeSealer, encodeCanonical, encodeStreamPayload, utf8, verifyStreamToken, type Identity, type SigningKey } from '../core/index.ts'
import { createClient } from './client.ts'
import type { Session } from './session.ts'
import type { StreamConnect, StreamConnection, StreamReading, StreamState, StreamStateInfo, SubscribeResult } from './stream.ts'
import { certifiedKey, networkCa, newUser, otherCa, suite, type CertifiedKey } from '../../test/access/helpers.ts'

class FakeConnection extends EventEmitter implements StreamConnection {
  readonly url: string
  readonly options: Record<string, unknown>
  subscribed: string[] = []
  grant: (topic: string) => number = () => 1
  ended = false
  handleMessage: StreamConnection['handleMessage'] = (_packet, callback) => { callback() }

  constructor (url: string, options: Record<string, unknown>) {
    super()
    this.url = url
    this.options = options
  }

  /** As mqtt.js 5 answers: a SUBACK with any 0x80 fails the callback, the SUBACK's codes in its packet. */
  subscribe (topics: string[], options: { qos: 0 | 1 }, callback: (err: Error | null | undefined, granted?: Array<{ topic: string, qos: number }>, suback?: { granted?: unknown[] }) => void): void {
    this.subscribed.push(...topics)
    const codes = topics.map(topic => this.grant(topic) === 0x80 ? 0x80 : options.qos)
    queueMicrotask(() => {
      if (codes.includes(0x80)) callback(Object.assign(new Error('Subscribe error: Unspecified error'), { code: 0x80 }), topics.map(topic => ({ topic, qos: options.qos })), { granted: codes })
      else callback(null, topics.map((topic, i) => ({ topic, qos: codes[i] as number })), { granted: codes })
    })
  }

  end (_force: boolean, callback: () => void): void {
    if (!this.ended) {
      this.ended = true
      queueMicrotask(() => { this.emit('close'); callback() })
    } else {
      callback()
    }
  }

  /** A message as the broker would send it; resolves once the subscription handled it (its PUBACK). */
  async deliver (topic: string, payload: Uint8Array): Promise<void> {
    await new Promise<void>(resolve => { this.handleMessage({ topic, payload }, () => { resolve() }) })
  }
}

interface Harness {
  connections: FakeConnection[]
  readings: StreamReading[]
  errors: Array<{ code: string, message: string }>
  states: Array<[StreamState, StreamStateInfo]>
  waitFor: (what: string, check: () => boolean) => Promise<void>
}

function harness (): Harness & { connect: StreamConnect, onReading: (r: StreamReading) => void } {
  const h = {
    connections: [] as FakeConnection[],
    readings: [] as StreamReading[],
    errors: [] as Array<{ code: string, message: string }>,
    states: [] as Array<[StreamState, StreamStateInfo]>,
    waiters: [] as Array<() => void>,
    connect: (url: string, options: object): StreamConnection => {
      const conn = new FakeConnection(url, options as Record<string, unknown>)
      h.connections.push(conn)
      h.poke()
      return conn
    },
    onReading: (r: StreamReading): void => { h.readings.push(r); h.poke() },
    poke: (): void => { for (const w of h.waiters.splice(0)) w() },
    waitFor: async (what: string, check: () => boolean): Promise<void> => {
      const deadline = Date.now() + 5000
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`)
        await new Promise<void>(resolve => { h.waiters.push(resolve); setTimeout(resolve, 20) })
      }
    }
  }
  return h
}

describe('stream subscription', () => {
  let alice: { identity: Identity, bundle: Uint8Array }
  let bob: { identity: Identity, bundle: Uint8Array }
  let session: Session
  let collector: CertifiedKey
  let sealer: EnvelopeSealer

  before(async () => {
    const ca = await networkCa()
    alice = await newUser()
    bob = await newUser()
    collector = await certifiedKey(ca, ['collector'])
    sealer = new EnvelopeSealer({ suite, signer: collector.signer })
    const client = createClient({ gateway: 'http://127.0.0.1:9', caCertificate: ca.certificate, suite, allowWeakKdfForTests: true })
    session = await client.resume(alice.bundle, 'correct horse')
  })

  async function payload (sensor: string, seq: number, text: string, options: { for?: Identity[], signer?: SigningKey, cert?: Uint8Array } = {}): Promise<Uint8Array> {
    const readers = options.for ?? [alice.identity]
    const env = options.signer === undefined
      ? await sealer.seal({ sensor, ts: Date.now(), seq }, utf8(text), readers.map(r => ({ id: r.pseudonym, publicKey: r.encPub })))
      : await new EnvelopeSealer({ suite, signer: options.signer }).seal({ sensor, ts: Date.now(), seq }, utf8(text), readers.map(r => ({ id: r.pseudonym, publicKey: r.encPub })))
    return encodeStreamPayload({ env, cert: options.cert ?? collector.certificate })
  }

  it('verifies and opens each message; skips readings not for this user; refuses forged ones with their code', async () => {
    const h = harness()
    const sub = session.subscribe(['greenhouse-1', 'barn'], h.onReading, { urls: ['mqtt://127.0.0.1:1'], connect: h.connect, onError: err => { h.errors.push({ code: err.code, message: err.message }) } })
    await h.waitFor('a connection', () => h.connections.length === 1)
    const conn = h.connections[0]!
    conn.emit('connect')
    await h.waitFor('the subscription', () => conn.subscribed.length === 2)
    assert.deepEqual(conn.subscribed.sort(), ['sensors/barn/readings', 'sensors/greenhouse-1/readings'])

    await conn.deliver('sensors/greenhouse-1/readings', await payload('greenhouse-1', 1, '{"t":21.5}'))
    assert.equal(h.readings.length, 1)
    const reading = h.readings[0]!
    assert.equal(reading.sensorId, 'greenhouse-1')
    assert.equal(reading.seq, 1)
    assert.equal(reading.text, '{"t":21.5}')
    assert.deepEqual(reading.json, { t: 21.5 })
    assert.equal(reading.gatewayPeerId, collector.peerId)
    assert.deepEqual(reading.gatewayCert, collector.certificate)

    // [STR-43] sealed for bob only: skipped, not an error
    await conn.deliver('sensors/greenhouse-1/readings', await payload('greenhouse-1', 2, 'for bob', { for: [bob.identity] }))
    // [STR-44] the same reading again (a retained copy after a reconnection): delivered once
    const again = await payload('greenhouse-1', 3, 'three')
    await conn.deliver('sensors/greenhouse-1/readings', again)
    await conn.deliver('sensors/greenhouse-1/readings', again)
    assert.deepEqual(h.readings.map(r => r.text), ['{"t":21.5}', 'three'])
    assert.deepEqual(h.errors.map(e => e.code), [])

    // forged or misfiled: each refused with its code, nothing delivered
    const other = await certifiedKey(await otherCa(), ['collector'])
    const notCollector = await certifiedKey(await networkCa(), ['access'])
    const cases: Array<[string, Uint8Array, string]> = [
      ['sensors/barn/readings', await payload('greenhouse-1', 4, 'x'), 'GM_ERR_CLIENT_READING_MISMATCH'],
      ['sensors/barn/readings', await payload('barn', 5, 'x', { signer: other.signer, cert: other.certificate }), 'GM_ERR_CLIENT_READING_UNAUTHENTIC'],
      ['sensors/barn/readings', await payload('barn', 6, 'x', { signer: notCollector.signer, cert: notCollector.certificate }), 'GM_ERR_CLIENT_READING_UNAUTHENTIC'],
      // a genuine certificate that does not certify the sealing key
      ['sensors/barn/readings', await payload('barn', 7, 'x', { signer: other.signer }), 'GM_ERR_CLIENT_READING_UNAUTHENTIC'],
      ['sensors/other/readings', await payload('other', 8, 'x'), 'GM_ERR_CLIENT_STREAM_TOPIC'],
      ['users/x/readings', await payload('barn', 9, 'x'), 'GM_ERR_CLIENT_STREAM_TOPIC'],
      ['sensors/barn/readings', utf8('not cbor'), 'GM_ERR_MALFORMED'],
      ['sensors/barn/readings', encodeCanonical({ v: 1, env: utf8('not an envelope'), cert: collector.certificate }), 'GM_ERR_MALFORMED']
    ]
    const tampered = await payload('barn', 10, 'x')
    const at = tampered.length - collector.certificate.length - 20
    tampered[at] = (tampered[at] as number) ^ 1
    cases.push(['sensors/barn/readings', tampered, 'GM_ERR_BAD_SIGNATURE'])
    for (const [topic, bytes, code] of cases) {
      const count: number = h.errors.length
      await conn.deliver(topic, bytes)
      const got = h.errors.slice(count)
      assert.deepEqual(got.map(e => e.code), [code], got.map(e => e.message).join(' / '))
    }
    assert.equal(h.readings.length, 2)
    await sub.close()
  })

  it('an onReading that throws is reported, and later readings still arrive', async () => {
    const h = harness()
    let first = true
    const sub = session.subscribe('all', r => { if (first) { first = false; throw new Error('app bug') } h.onReading(r) }, { urls: ['ws://127.0.0.1:1/mqtt'], connect: h.connect, onError: err => { h.errors.push({ code: err.code, message: err.message }) } })
    await h.waitFor('a connection', () => h.connections.length === 1)
    const conn = h.connections[0]!
    conn.emit('connect')
    await h.waitFor('the subscription', () => conn.subscribed.length === 1)
    assert.deepEqual(conn.subscribed, ['sensors/+/readings'])
    await conn.deliver('sensors/a/readings', await payload('a', 1, 'one'))
    await conn.deliver('sensors/b/readings', await payload('b', 2, 'two'))
    assert.deepEqual(h.errors.map(e => e.code), ['GM_ERR_CLIENT_STREAM_FAILED'])
    assert.deepEqual(h.readings.map(r => [r.sensorId, r.text]), [['b', 'two']])
    await sub.close()
  })

  it('moves round robin with a doubling back-off, a fresh token per connection, and reports states and refusals', async () => {
    const h = harness()
    const urls = ['mqtt://127.0.0.1:1', 'mqtt://127.0.0.1:2', 'ws://127.0.0.1:3/mqtt']
    const sub = session.subscribe(['greenhouse-1'], h.onReading, {
      urls,
      connect: h.connect,
      backoff: { initialMs: 5, maxMs: 20 },
      clean: false,
      onState: (state, info) => { h.states.push([state, info]) },
      onError: err => { h.errors.push({ code: err.code, message: err.message }) }
    })
    // five attempts fail in turn: refused (CONNACK 4), then closed without a CONNACK (unreachable)
    for (let i = 0; i < 5; i++) {
      await h.waitFor(`connection ${i}`, () => h.connections.length === i + 1)
      const conn = h.connections[i]!
      assert.equal(conn.url, urls[i % 3])
      if (i === 0) conn.emit('error', Object.assign(new Error('Connection refused: Bad username or password'), { code: 4 }))
      else conn.emit('error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
      conn.emit('close')
    }
    await h.waitFor('connection 6', () => h.connections.length === 6)
    const conn = h.connections[5]!
    conn.emit('connect')
    await h.waitFor('subscribed', () => conn.subscribed.length === 1)
    assert.deepEqual(h.errors.map(e => e.code), ['GM_ERR_CLIENT_STREAM_REFUSED', ...Array(4).fill('GM_ERR_CLIENT_UNREACHABLE')])
    assert.match(h.errors[0]!.message, /CONNACK return code 4/)
    // delays double from 5 ms to the 20 ms cap (jitter adds up to 20 %)
    const delays = h.states.filter(s => s[0] === 'reconnecting').map(s => s[1].delayMs as number)
    assert.equal(delays.length, 5)
    assert.deepEqual(h.states.filter(s => s[0] === 'reconnecting').map(s => s[1].wasConnected), Array(5).fill(false), 'refused or unreachable: never connected')
    for (const [i, base] of [5, 10, 20, 20, 20].entries()) assert.ok(delays[i]! >= base && delays[i]! <= Math.min(20, base * 1.2), `delay ${i}: ${delays[i]}`)
    assert.deepEqual(h.states.map(s => s[0]).slice(-2), ['connecting', 'connected'])
    assert.deepEqual(h.states.at(-1)![1], { url: urls[2] })

    // every connection: MQTT 3.1.1, the pseudonym, a token of its own that verifies, one client id
    const tokens = new Set<string>()
    for (const c of h.connections) {
      assert.equal(c.options.protocolVersion, 4)
      assert.equal(c.options.username, alice.identity.pseudonym)
      assert.equal(c.options.clean, false)
      assert.equal(c.options.reconnectPeriod, 0)
      assert.equal(c.options.clientId, h.connections[0]!.options.clientId)
      const token = c.options.password as string
      await verifyStreamToken(suite, token, { sigPub: alice.identity.sigPub, pseudonym: alice.identity.pseudonym })
      tokens.add(token)
    }
    assert.equal(tokens.size, 6)

    // a working connection that ends: the back-off starts again from its first step, at the next URL
    conn.emit('close')
    await h.waitFor('connection 7', () => h.connections.length === 7)
    assert.equal(h.connections[6]!.url, urls[0])
    const last = h.states.filter(s => s[0] === 'reconnecting').at(-1)![1]
    assert.equal(last.previous, urls[2])
    assert.equal(last.wasConnected, true, 'a working connection that ended was lost')
    assert.ok((last.delayMs as number) <= 6)

    // SUBACK 0x80: reported with its topic; the connection stays
    const seventh = h.connections[6]!
    seventh.grant = () => 0x80
    seventh.emit('connect')
    await h.waitFor('the refusal', () => h.errors.some(e => e.code === 'GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED'))
    assert.match(h.errors.at(-1)!.message, /sensors\/greenhouse-1\/readings/)
    assert.equal(seventh.ended, false)

    await sub.close()
    assert.equal(seventh.ended, true)
    assert.equal(h.states.at(-1)![0], 'closed')
    // nothing after close
    const count = h.connections.length
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(h.connections.length, count)
  })

  it('tells onSubscribed each SUBACK: the topics granted and those refused [STR-41]', async () => {
    const h = harness()
    const results: SubscribeResult[] = []
    const sub = session.subscribe(['greenhouse-1', 'no-such-sensor'], h.onReading, {
      urls: ['mqtt://127.0.0.1:1'],
      connect: h.connect,
      backoff: { initialMs: 5 },
      onSubscribed: result => { results.push(result) },
      onError: err => { h.errors.push({ code: err.code, message: err.message }) }
    })
    await h.waitFor('a connection', () => h.connections.length === 1)
    const first = h.connections[0]!
    first.grant = topic => topic === 'sensors/no-such-sensor/readings' ? 0x80 : 1
    first.emit('connect')
    await h.waitFor('the SUBACK', () => results.length === 1)
    assert.deepEqual(results[0], { url: 'mqtt://127.0.0.1:1', granted: ['sensors/greenhouse-1/readings'], refused: ['sensors/no-such-sensor/readings'] })
    assert.deepEqual(h.errors.map(e => e.code), ['GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED'])
    // the next connection's SUBACK, all granted, and one all refused
    first.emit('close')
    await h.waitFor('a second connection', () => h.connections.length === 2)
    h.connections[1]!.emit('connect')
    await h.waitFor('the second SUBACK', () => results.length === 2)
    assert.deepEqual(results[1], { url: 'mqtt://127.0.0.1:1', granted: ['sensors/greenhouse-1/readings', 'sensors/no-such-sensor/readings'], refused: [] })
    h.connections[1]!.emit('close')
    await h.waitFor('a third connection', () => h.connections.length === 3)
    h.connections[2]!.grant = () => 0x80
    h.connections[2]!.emit('connect')
    await h.waitFor('the third SUBACK', () => results.length === 3)
    assert.deepEqual(results[2]!.granted, [])
    assert.equal(results[2]!.refused.length, 2)
    await sub.close()
  })

  it('close() during a back-off stops every further attempt', async () => {
    const h = harness()
    const sub = session.subscribe('all', h.onReading, { urls: ['mqtt://127.0.0.1:1'], connect: h.connect, backoff: { initialMs: 30 }, onState: (s, i) => { h.states.push([s, i]) } })
    await h.waitFor('a connection', () => h.connections.length === 1)
    h.connections[0]!.emit('close')
    await h.waitFor('reconnecting', () => h.states.some(s => s[0] === 'reconnecting'))
    await sub.close()
    await new Promise(resolve => setTimeout(resolve, 80))
    assert.equal(h.connections.length, 1)
    assert.equal(h.states.at(-1)![0], 'closed')
  })

  it('refuses bad arguments at once with a code', () => {
    const h = harness()
    const bad: Array<[() => unknown, string]> = [
      [() => session.subscribe('all', h.onReading, { urls: [], connect: h.connect }), 'GM_ERR_CLIENT_STREAM_URL'],
      [() => session.subscribe('all', h.onReading, { urls: ['http://127.0.0.1:1'], connect: h.connect }), 'GM_ERR_CLIENT_STREAM_URL'],
      [() => session.subscribe('all', h.onReading, { urls: ['mqtt://'], connect: h.connect }), 'GM_ERR_CLIENT_STREAM_URL'],
      [() => session.subscribe([], h.onReading, { urls: ['mqtt://127.0.0.1:1'], connect: h.connect }), 'GM_ERR_MALFORMED'],
      [() => session.subscribe(['#'], h.onReading, { urls: ['mqtt://127.0.0.1:1'], connect: h.connect }), 'GM_ERR_MALFORMED'],
      [() => session.subscribe(['a/b'], h.onReading, { urls: ['mqtt://127.0.0.1:1'], connect: h.connect }), 'GM_ERR_MALFORMED'],
      [() => session.subscribe('all', h.onReading, { urls: ['mqtt://127.0.0.1:1'], connect: h.connect, qos: 2 as 1 }), 'GM_ERR_MALFORMED']
    ]
    for (const [action, code] of bad) assert.throws(action, (err: { code?: string }) => err.code === code, code)
    assert.equal(h.connections.length, 0)
  })
})
