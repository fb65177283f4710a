// session.subscribe() against real MQTT brokers on 127.0.0.1: two plain Aedes brokers (no
// authentication: the stream service's own broker is tested with it), one on TCP and one on
// WebSocket, into which the test publishes real stream payloads ([STR-20]) as a stream peer
// would. The client verifies and opens them, skips what is not for its user, reports forgeries
// with their codes, and moves to the second broker when the first dies.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Aedes } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { EnvelopeSealer, encodeStreamPayload, utf8, type Identity } from '../../src/core/index.ts'
import { createClient, type Session, type StreamReading, type StreamState } from '../../src/client/index.ts'
import { certifiedKey, networkCa, newUser, otherCa, suite, type CertifiedKey } from '../access/helpers.ts'

interface Broker {
  aedes: Aedes
  url: string
  /** Resolves at the next SUBSCRIBE the broker takes. */
  nextSubscribe: () => Promise<string[]>
  publish: (topic: string, payload: Uint8Array) => Promise<void>
  /** Dies: every connection cut, nothing listening any more. */
  kill: () => Promise<void>
}

async function startBroker (transport: 'tcp' | 'ws'): Promise<Broker> {
  const aedes = await Aedes.createBroker({})
  const sockets = new Set<Socket>()
  let server: Server
  let wss: WebSocketServer | undefined
  if (transport === 'tcp') {
    server = createServer(socket => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)); aedes.handle(socket) })
  } else {
    const http = createHttpServer()
    server = http
    http.on('connection', socket => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)) })
    wss = new WebSocketServer({ server: http, path: '/mqtt' })
    wss.on('connection', (ws, request) => { aedes.handle(createWebSocketStream(ws), request) })
  }
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    aedes,
    url: transport === 'tcp' ? `mqtt://127.0.0.1:${port}` : `ws://127.0.0.1:${port}/mqtt`,
    nextSubscribe: async () => await new Promise(resolve => aedes.once('subscribe', subs => { resolve(subs.map((s: { topic: string }) => s.topic)) })),
    publish: async (topic, payload) => { await new Promise<void>((resolve, reject) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, err => { if (err) reject(err); else resolve() })) },
    kill: async () => {
      for (const socket of sockets) socket.destroy()
      wss?.close()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
      await new Promise<void>(resolve => aedes.close(() => { resolve() }))
    }
  }
}

/** Values pushed by callbacks, awaited in order. */
class Inbox<T> {
  private readonly items: T[] = []
  private waiter?: () => void
  push (item: T): void { this.items.push(item); this.waiter?.() }
  async next (what: string, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    while (this.items.length === 0) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`not within ${timeoutMs} ms: ${what}`)
      await new Promise<void>(resolve => { this.waiter = resolve; setTimeout(resolve, left) })
    }
    return this.items.shift() as T
  }

  get size (): number { return this.items.length }
}

describe('session.subscribe against MQTT brokers', () => {
  let tcp: Broker
  let ws: Broker
  let alice: { identity: Identity, bundle: Uint8Array }
  let bob: { identity: Identity, bundle: Uint8Array }
  let session: Session
  let collector: CertifiedKey
  let sealer: EnvelopeSealer

  before(async () => {
    tcp = await startBroker('tcp')
    ws = await startBroker('ws')
    const ca = await networkCa()
    alice = await newUser()
    bob = await newUser()
    collector = await certifiedKey(ca, ['collector'])
    sealer = new EnvelopeSealer({ suite, signer: collector.signer })
    session = await createClient({ gateway: 'http://127.0.0.1:9', caCertificate: ca.certificate, suite, allowWeakKdfForTests: true }).resume(alice.bundle, 'correct horse')
  })
  after(async () => {
    await tcp.kill().catch(() => undefined)
    await ws.kill().catch(() => undefined)
  })

  async function reading (sensor: string, seq: number, text: string, readers: Identity[] = [alice.identity], seal = sealer, cert = collector.certificate): Promise<Uint8Array> {
    const env = await seal.seal({ sensor, ts: Date.now(), seq }, utf8(text), readers.map(r => ({ id: r.pseudonym, publicKey: r.encPub })))
    return encodeStreamPayload({ env, cert })
  }

  it('receives, verifies and opens readings; skips others\'; reports forgeries; fails over to the next broker', async () => {
    const readings = new Inbox<StreamReading>()
    const errors = new Inbox<{ code: string, message: string }>()
    const states = new Inbox<[StreamState, string]>()
    const subscribed = tcp.nextSubscribe()
    const sub = session.subscribe(['greenhouse-1', 'barn'], r => { readings.push(r) }, {
      urls: [tcp.url, ws.url],
      backoff: { initialMs: 100, maxMs: 400 },
      onState: (state, info) => { states.push([state, info.url]) },
      onError: err => { errors.push({ code: err.code, message: err.message }) }
    })
    try {
      assert.deepEqual((await subscribed).sort(), ['sensors/barn/readings', 'sensors/greenhouse-1/readings'])
      assert.deepEqual(await states.next('connecting'), ['connecting', tcp.url])
      assert.deepEqual(await states.next('connected'), ['connected', tcp.url])

      await tcp.publish('sensors/greenhouse-1/readings', await reading('greenhouse-1', 1, '{"t":21.5}'))
      const first = await readings.next('the first reading')
      assert.equal(first.sensorId, 'greenhouse-1')
      assert.deepEqual(first.json, { t: 21.5 })
      assert.equal(first.gatewayPeerId, collector.peerId)

      // for bob only: skipped without an error; then forgeries, each with its code; then a good one
      await tcp.publish('sensors/barn/readings', await reading('barn', 2, 'for bob', [bob.identity]))
      const rogue = await certifiedKey(await otherCa(), ['collector'])
      await tcp.publish('sensors/barn/readings', await reading('barn', 3, 'forged', [alice.identity], new EnvelopeSealer({ suite, signer: rogue.signer }), rogue.certificate))
      await tcp.publish('sensors/barn/readings', await reading('greenhouse-1', 4, 'misfiled'))
      await tcp.publish('sensors/barn/readings', await reading('barn', 5, 'barn five'))
      assert.equal((await errors.next('the forged reading')).code, 'GM_ERR_CLIENT_READING_UNAUTHENTIC')
      assert.equal((await errors.next('the misfiled reading')).code, 'GM_ERR_CLIENT_READING_MISMATCH')
      const fifth = await readings.next('the barn reading')
      assert.deepEqual([fifth.sensorId, fifth.seq, fifth.text], ['barn', 5, 'barn five'])
      assert.equal(readings.size, 0)
      assert.equal(errors.size, 0)

      // the first broker dies: the client moves to the second (WebSocket) and keeps receiving
      const resubscribed = ws.nextSubscribe()
      await tcp.kill()
      assert.deepEqual(await states.next('reconnecting'), ['reconnecting', ws.url])
      assert.deepEqual(await states.next('connecting to the second'), ['connecting', ws.url])
      assert.deepEqual(await states.next('connected to the second'), ['connected', ws.url])
      await resubscribed
      await ws.publish('sensors/greenhouse-1/readings', await reading('greenhouse-1', 6, 'after failover'))
      const sixth = await readings.next('a reading after the failover')
      assert.deepEqual([sixth.sensorId, sixth.seq, sixth.text], ['greenhouse-1', 6, 'after failover'])
      // the connection loss may be reported (GM_ERR_CLIENT_UNREACHABLE) or not; nothing else
      while (errors.size > 0) assert.equal((await errors.next('')).code, 'GM_ERR_CLIENT_UNREACHABLE')
    } finally {
      const gone = new Promise(resolve => ws.aedes.once('clientDisconnect', resolve))
      await sub.close()
      // close() ends the connection: the broker sees its client go
      await gone
    }
    assert.equal(ws.aedes.connectedClients, 0)
  })
})
