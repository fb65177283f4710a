// The stream broker over real sockets: mqtt.js over TCP and WebSocket, mosquitto_sub, raw bytes.
// Log-in and its CONNACK codes [STR-6] [STR-7] [STR-8], topics and SUBACK [STR-10] .. [STR-13],
// the user's namespace with ordinary MQTT semantics [STR-12], forwarding by wrap [STR-14],
// injection [STR-15], bounded persistent sessions [STR-16], limits [STR-9], status [STR-18].
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { connect as netConnect, type Socket } from 'node:net'
import { promisify } from 'node:util'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { generateIdentity, type Identity } from '../../src/core/index.ts'
import { eventuallyValue } from '../support/eventually.ts'
import { counter, makeToken, payload, startBroker, suite, verifyToken, type Fixture } from './helpers.ts'

const run = promisify(execFile)

async function login (url: string, user: Identity, options: IClientOptions = {}): Promise<MqttClient> {
  return await mqtt.connectAsync(url, { username: user.pseudonym, password: await makeToken(user), reconnectPeriod: 0, connectTimeout: 5000, ...options }, false)
}

/** Resolves with the CONNACK return code of a refused log-in (mqtt.js's error code). */
async function refusedWith (url: string, options: IClientOptions): Promise<number> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options }, false)
    await client.endAsync()
  } catch (err) {
    return (err as { code: number }).code
  }
  throw new Error('the CONNECT was accepted')
}

/** The granted QoS per filter: mqtt.js rejects a SUBACK that refuses any, with the packet. */
async function subscribe (client: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(Object.fromEntries(filters.map(topic => [topic, { qos }])))
    return granted.map(g => g.qos)
  } catch (err) {
    const granted = (err as { packet?: { granted?: number[] } }).packet?.granted
    if (granted === undefined) throw err
    return granted
  }
}

interface Received { topic: string, payload: Buffer, retain: boolean }
/** Every message a client receives, and a wait for the count to reach n. */
function inbox (client: MqttClient): { messages: Received[], wait: (n: number) => Promise<void> } {
  const messages: Received[] = []
  const waiters: Array<() => void> = []
  client.on('message', (topic, body, packet) => {
    messages.push({ topic, payload: typeof body === 'string' ? Buffer.from(body) : body, retain: packet.retain })
    for (const wake of waiters.splice(0)) wake()
  })
  return {
    messages,
    wait: async (n: number) => {
      const deadline = Date.now() + 10_000
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`${messages.length} of ${n} messages within 10 s`)
        await new Promise<void>(resolve => { waiters.push(resolve); setTimeout(resolve, 500) })
      }
    }
  }
}

/** MQTT packets by hand. */
function remainingLength (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}
function str (text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}
function connectPacket (clientId: string, username: string, password: string, level = 4): Buffer {
  const props = level === 5 ? Buffer.from([0]) : Buffer.alloc(0)
  const body = Buffer.concat([str('MQTT'), Buffer.from([level, 0xc2, 0, 60]), props, str(clientId), str(username), str(password)])
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(body.length)]), body])
}
async function rawSocket (port: number): Promise<{ socket: Socket, data: Buffer[], closed: Promise<unknown> }> {
  const socket = netConnect(port, '127.0.0.1')
  const data: Buffer[] = []
  socket.on('data', (chunk: Buffer) => data.push(chunk))
  socket.on('error', () => {})
  // a connection the broker should close and does not fails the test in 5 s, not at its timeout
  const closed = once(socket, 'close', { signal: AbortSignal.timeout(5000) })
  closed.catch(() => {})
  await once(socket, 'connect')
  return { socket, data, closed }
}

describe('stream broker: log-in [STR-6] [STR-7] [STR-8]', { timeout: 60_000 }, () => {
  let f: Fixture
  let alice: Identity
  before(async () => { f = await startBroker(); alice = await f.newUser() })
  after(async () => { await f.close() })

  it('answers each refusal with its CONNACK code, and logs the code, never the token', async () => {
    const stranger = await generateIdentity(suite) // a key pair with no account here
    const now = Math.floor(Date.now() / 1000)
    const good = await makeToken(alice)
    // no user name or no password: 5
    assert.equal(await refusedWith(f.mqtt, {}), 5)
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym }), 5)
    // unknown pseudonym: 4 (a pseudonym with no account; a user name that is no pseudonym)
    assert.equal(await refusedWith(f.mqtt, { username: stranger.pseudonym, password: await makeToken(stranger) }), 4)
    assert.equal(await refusedWith(f.mqtt, { username: 'sensors/#', password: good }), 4)
    // bad signature: another user's key signed alice's claims
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(stranger, { sub: alice.pseudonym }) }), 4)
    // malformed, expired, not yet valid, too long a window, another subject, another audience: 4
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: 'not-a-token' }), 4)
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice, { iat: now - 7200, exp: now - 3600 }) }), 4)
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice, { iat: now + 600, exp: now + 1200 }) }), 4)
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice, { iat: now, exp: now + 90_000 }) }), 4)
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice, { sub: stranger.pseudonym }) }), 4)
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice, { aud: 'elsewhere' }) }), 4)
    // a will outside the user's namespace: 5
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: good, will: { topic: 'sensors/s1/readings', payload: Buffer.from('x'), qos: 0, retain: false } }), 5)
    // the DHT cannot answer: 3 (a fresh user, so that no cached key answers instead)
    const bob = await f.newUser()
    f.dht.down = true
    try {
      assert.equal(await refusedWith(f.mqtt, { username: bob.pseudonym, password: await makeToken(bob) }), 3)
    } finally { f.dht.down = false }
    const { refused } = f.broker.status()
    assert.deepEqual(refused, {
      GM_ERR_STREAM_NOT_AUTHORIZED: 2,
      GM_ERR_STREAM_UNKNOWN_USER: 2,
      GM_ERR_STREAM_BAD_TOKEN: 7,
      GM_ERR_STREAM_WILL_FORBIDDEN: 1,
      GM_ERR_STREAM_DIRECTORY: 1
    })
    const logs = f.logs()
    assert.match(logs, /"code":"GM_ERR_STREAM_BAD_TOKEN","reason":"GM_ERR_EXPIRED"/)
    assert.ok(!logs.includes(good.split('.')[2] as string), 'a token signature is in the log')
    assert.ok(!logs.includes('not-a-token'), 'a password is in the log')
  })

  it('accepts a good token, and the same token again inside its window (a reconnect); the account key is cached', async () => {
    const token = await makeToken(alice)
    const lookups = f.dht.accountLookups
    for (let i = 0; i < 2; i++) {
      const client = await mqtt.connectAsync(f.mqtt, { username: alice.pseudonym, password: token, reconnectPeriod: 0 }, false)
      assert.equal(client.connected, true)
      await client.endAsync()
    }
    assert.ok(f.dht.accountLookups - lookups <= 1, 'the verified key is looked up at most once')
  })

  it('refuses another user\'s CONNECT naming a held client id (CONNACK 2); the same user may take it over', async () => {
    const bob = await f.newUser()
    const first = await login(f.mqtt, alice, { clientId: 'alice-app', clean: false })
    assert.equal(await refusedWith(f.mqtt, { username: bob.pseudonym, password: await makeToken(bob), clientId: 'alice-app' }), 2)
    assert.equal(first.connected, true)
    const closed = once(first as unknown as NodeJS.EventEmitter, 'close')
    const second = await login(f.mqtt, alice, { clientId: 'alice-app', clean: false })
    await closed
    await second.endAsync()
    // a persistent session keeps the id for its user while offline
    assert.equal(await refusedWith(f.mqtt, { username: bob.pseudonym, password: await makeToken(bob), clientId: 'alice-app', clean: true }), 2)
  })

  it('a CONNECT refused for its will holds no client id', async () => {
    const bob = await f.newUser()
    const will = { topic: `users/${bob.pseudonym}/status`, payload: Buffer.from('x'), qos: 0 as const, retain: false }
    assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice), clientId: 'shared-phone', clean: false, will }), 5)
    const client = await login(f.mqtt, bob, { clientId: 'shared-phone' })
    await client.endAsync()
  })

  it('answers an MQTT 5 CONNECT with CONNACK 1 (unacceptable protocol version) [STR-5]', async () => {
    const { socket, data, closed } = await rawSocket(f.port)
    socket.write(connectPacket('v5', alice.pseudonym, await makeToken(alice), 5))
    await closed
    assert.deepEqual([...Buffer.concat(data)], [0x20, 0x02, 0x00, 0x01])
    assert.equal(f.broker.status().refused.GM_ERR_STREAM_PROTOCOL_VERSION, 1)
  })
})

describe('stream broker: subscriptions, namespaces and delivery [STR-10] .. [STR-15]', { timeout: 60_000 }, () => {
  let f: Fixture
  let alice: Identity
  let bob: Identity
  let carol: Identity
  before(async () => {
    f = await startBroker()
    alice = await f.newUser()
    bob = await f.newUser()
    carol = await f.newUser()
    f.sensors.set('s1', { owner: alice, readers: [bob] })
    f.sensors.set('s2', { owner: carol, readers: [] })
  })
  after(async () => { await f.close() })

  it('grants a listed sensor, sensors/+/readings and the own namespace; refuses everything else with 0x80', async () => {
    const client = await login(f.mqtt, bob)
    const filters = ['sensors/s1/readings', 'sensors/+/readings', `users/${bob.pseudonym}/#`, `users/${bob.pseudonym}/+/cmd`,
      '#', '+/#', 'sensors/#', '$SYS/#', `users/${alice.pseudonym}/#`, 'users/+/#', 'sensors/s2/readings', 'sensors/none/readings', `users/${bob.pseudonym}`]
    assert.deepEqual(await subscribe(client, filters), [1, 1, 1, 1, 128, 128, 128, 128, 128, 128, 128, 128, 128])
    assert.equal(f.broker.status().subscriptions, 4)
    // a sensor look-up that fails refuses too
    f.dht.down = true
    try {
      f.sensors.set('s3', { owner: bob, readers: [] })
      assert.deepEqual(await subscribe(client, ['sensors/s3/readings']), [128])
    } finally { f.dht.down = false }
    await client.endAsync()
  })

  it('fetches a cached record that does not list the subscriber again before refusing: a share made meanwhile counts at once [STR-10]', async () => {
    // the cache still holds the record from before carol shared s2 with bob; the overlay has the new one
    f.staleSensors.set('s2', { owner: carol, readers: [] })
    f.sensors.set('s2', { owner: carol, readers: [bob] })
    try {
      const client = await login(f.mqtt, bob)
      assert.deepEqual(await subscribe(client, ['sensors/s2/readings']), [1])
      await client.endAsync()
      // still refused when the fresh record does not list the user either
      f.sensors.set('s2', { owner: carol, readers: [] })
      const again = await login(f.mqtt, bob)
      assert.deepEqual(await subscribe(again, ['sensors/s2/readings']), [128])
      await again.endAsync()
    } finally {
      f.staleSensors.delete('s2')
      f.sensors.set('s2', { owner: carol, readers: [] })
    }
  })

  it('fetches records again for a user\'s refused SUBSCRIBEs 10 times at once, then once a second [STR-10]', async () => {
    // a user not on s2's list subscribes again and again: each refusal would be one more DHT look-up
    f.sensors.set('s2', { owner: carol, readers: [] })
    const client = await login(f.mqtt, bob)
    const before = f.dht.freshSensorLookups
    const started = Date.now()
    for (let i = 0; i < 50; i++) assert.deepEqual(await subscribe(client, ['sensors/s2/readings']), [128])
    const seconds = Math.ceil((Date.now() - started) / 1000)
    assert.ok(f.dht.freshSensorLookups - before <= 10 + seconds, `${f.dht.freshSensorLookups - before} fresh look-ups in ${seconds} s for 50 SUBSCRIBEs`)
    await client.endAsync()
  })

  it('delivers a reading only to subscribers its envelope carries a wrap for; retains the newest for new subscribers with a wrap', async () => {
    const withWrap = await login(f.mqtt, bob)
    const without = await login(f.mqtt, carol)
    const b = inbox(withWrap)
    const c = inbox(without)
    await withWrap.subscribeAsync('sensors/s1/readings', { qos: 1 })
    await without.subscribeAsync('sensors/+/readings', { qos: 1 })
    const delivered = f.broker.status().delivered
    f.broker.deliver([{ sensorId: 's1', payload: payload('s1', [alice, bob], 1) }])
    await b.wait(1)
    // a later reading for carol shows what carol's subscription would have had by now
    f.broker.deliver([{ sensorId: 's2', payload: payload('s2', [carol], 2) }])
    await c.wait(1)
    assert.deepEqual(b.messages.map(m => [m.topic, counter(m.payload)]), [['sensors/s1/readings', 1]])
    assert.deepEqual(c.messages.map(m => [m.topic, counter(m.payload)]), [['sensors/s2/readings', 2]])
    assert.equal(f.broker.status().delivered - delivered, 2)
    // the newest reading of s1 is retained: a new subscriber with a wrap gets it at once
    const late = await login(f.mqtt, alice)
    const a = inbox(late)
    await late.subscribeAsync('sensors/+/readings', { qos: 1 })
    await a.wait(1)
    assert.equal(counter(a.messages[0]!.payload), 1)
    assert.equal(a.messages[0]!.retain, true)
    // a reading whose payload names another sensor than its topic is dropped
    f.broker.deliver([{ sensorId: 's1', payload: payload('s2', [alice], 3) }])
    assert.equal(f.broker.status().dropped.malformed, 1)
    // a new subscriber without a wrap gets none of the retained readings: the next one for it comes first
    const late2 = await login(f.mqtt, carol)
    const c2 = inbox(late2)
    await late2.subscribeAsync('sensors/+/readings', { qos: 1 })
    f.broker.deliver([{ sensorId: 's2', payload: payload('s2', [carol], 4) }])
    await c2.wait(2)
    // s2's retained reading (2, for carol) arrives too, s1's (1, for alice and bob) never: a marker after both
    f.broker.deliver([{ sensorId: 's2', payload: payload('s2', [carol], 6) }])
    await c2.wait(3)
    assert.deepEqual(c2.messages.map(m => counter(m.payload)).sort(), [2, 4, 6])
    for (const client of [withWrap, without, late, late2]) await client.endAsync()
  })

  it('disconnects a client publishing outside its namespace, and delivers nothing of it', async () => {
    const watcher = await login(f.mqtt, alice)
    const w = inbox(watcher)
    await watcher.subscribeAsync(`users/${alice.pseudonym}/#`, { qos: 1 })
    for (const topic of [`users/${alice.pseudonym}/inbox`, 'sensors/s1/readings', `users/${bob.pseudonym}`]) {
      const intruder = await login(f.mqtt, bob)
      const closed = once(intruder as unknown as NodeJS.EventEmitter, 'close')
      intruder.publish(topic, 'forged', { qos: 1 })
      await closed
      intruder.end(true)
    }
    // alice's own message comes through; bob's went nowhere
    await watcher.publishAsync(`users/${alice.pseudonym}/inbox`, 'own', { qos: 1 })
    await w.wait(1)
    assert.deepEqual(w.messages.map(m => m.payload.toString()), ['own'])
    assert.equal(f.broker.status().denied.GM_ERR_STREAM_PUBLISH_FORBIDDEN, 3)
    assert.match(f.logs(), /"code":"GM_ERR_STREAM_PUBLISH_FORBIDDEN"/)
    await watcher.endAsync()
  })

  it('keeps ordinary MQTT semantics inside the namespace: retained, will, QoS 0/1/2, unsubscribe', async () => {
    const ns = `users/${alice.pseudonym}`
    const pub = await login(f.mqtt, alice, { will: { topic: `${ns}/status`, payload: Buffer.from('gone'), qos: 1, retain: false } })
    await pub.publishAsync(`${ns}/config`, 'v1', { qos: 1, retain: true })
    const sub = await login(f.mqtt, alice)
    const s = inbox(sub)
    await sub.subscribeAsync({ [`${ns}/config`]: { qos: 1 }, [`${ns}/status`]: { qos: 1 }, [`${ns}/q/+`]: { qos: 2 } })
    await s.wait(1)
    assert.deepEqual([s.messages[0]!.payload.toString(), s.messages[0]!.retain], ['v1', true])
    for (const qos of [0, 1, 2] as const) await pub.publishAsync(`${ns}/q/${qos}`, `qos${qos}`, { qos })
    await s.wait(4)
    assert.deepEqual(s.messages.slice(1).map(m => m.payload.toString()).sort(), ['qos0', 'qos1', 'qos2'])
    // unsubscribe: nothing more on q/+, while status still arrives
    await sub.unsubscribeAsync(`${ns}/q/+`)
    await pub.publishAsync(`${ns}/q/1`, 'after', { qos: 1 })
    // the will: the publisher's connection drops without a DISCONNECT
    pub.stream.destroy()
    await s.wait(5)
    assert.deepEqual(s.messages.slice(4).map(m => [m.topic, m.payload.toString()]), [[`${ns}/status`, 'gone']])
    pub.end(true)
    await sub.endAsync()
  })

  it('serves MQTT over WebSocket (path /mqtt) with the same rules', async () => {
    const client = await login(f.ws, bob)
    const b = inbox(client)
    assert.deepEqual(await subscribe(client, ['sensors/s1/readings', '#']), [1, 128])
    // the retained reading of s1 (1, for alice and bob)
    await b.wait(1)
    f.broker.deliver([{ sensorId: 's1', payload: payload('s1', [bob], 5) }])
    await b.wait(2)
    assert.deepEqual(b.messages.map(m => counter(m.payload)), [1, 5])
    await client.endAsync()
  })

  it('lets mosquitto_sub log in with a token and receive the retained reading; refuses a bad token', async () => {
    const args = ['-h', '127.0.0.1', '-p', String(f.port), '-V', 'mqttv311', '-t', 'sensors/s1/readings', '-C', '1', '-W', '10', '-u', bob.pseudonym]
    const { stdout } = await run('mosquitto_sub', [...args, '-P', await makeToken(bob)])
    assert.equal(counter(Buffer.from(stdout.trim())), 5)
    await assert.rejects(run('mosquitto_sub', [...args, '-P', await makeToken(alice, { sub: bob.pseudonym })]), (err: { stderr: string }) => /bad user name or password/i.test(err.stderr))
  })
})

describe('stream broker: bounds [STR-9] [STR-15] [STR-16]', { timeout: 60_000 }, () => {
  it('drops injections past the in-flight bound, counted', async () => {
    const f = await startBroker({ maxInFlight: 5 })
    try {
      const alice = await f.newUser()
      f.broker.deliver(Array.from({ length: 100 }, (_, n) => ({ sensorId: 's1', payload: payload('s1', [alice], n) })))
      const status = f.broker.status()
      assert.equal(status.injected, 100)
      assert.equal(status.dropped.overload, 95)
    } finally { await f.close() }
  })

  it('keeps the newest streamSessionMax readings for an offline persistent session, and only readings for its user', async () => {
    const f = await startBroker({ sessionMax: 5 })
    try {
      const alice = await f.newUser()
      const bob = await f.newUser()
      const options = { clientId: 'alice-phone', clean: false }
      const first = await login(f.mqtt, alice, options)
      // a refused filter in the same SUBSCRIBE is not kept in the session (Aedes would store it)
      assert.deepEqual(await subscribe(first, ['sensors/+/readings', '#', `users/${bob.pseudonym}/#`]), [1, 128, 128])
      await first.endAsync()
      // 12 readings for alice and 20 for bob only, while alice is away
      for (let n = 1; n <= 12; n++) {
        f.broker.deliver([{ sensorId: 's1', payload: payload('s1', [alice], n) }, { sensorId: 's2', payload: payload('s2', [bob], 100 + n) }])
        // one at a time, so that the queue's order is the readings' order
        await eventuallyValue('the readings are queued', async () => f.broker.status().inFlight === 0 ? true : undefined, 5000, 2)
      }
      await eventuallyValue('seven dropped', async () => f.broker.status().dropped.session === 7 ? true : undefined, 5000, 20)
      const back = await login(f.mqtt, alice, options)
      const a = inbox(back)
      await a.wait(5)
      // a marker after the queue: everything before it is what the session kept
      f.broker.deliver([{ sensorId: 's1', payload: payload('s1', [alice], 99) }])
      await a.wait(6)
      assert.deepEqual(a.messages.map(m => counter(m.payload)), [8, 9, 10, 11, 12, 99])
      assert.equal(f.broker.status().dropped.session, 7)
      await back.endAsync()
    } finally { await f.close() }
  })

  it('ends an offline persistent session after the session expiry: its subscriptions and queue go, its client id is free [STR-48]', async () => {
    const f = await startBroker({ sessionExpiryMs: 400 })
    try {
      const alice = await f.newUser()
      const bob = await f.newUser()
      const options = { clientId: 'alice-tablet', clean: false }
      const first = await login(f.mqtt, alice, options)
      assert.deepEqual(await subscribe(first, ['sensors/+/readings']), [1])
      assert.deepEqual(f.broker.status().sessions, { persistent: 1, offline: 0, ended: { expired: 0, limit: 0 } })
      await first.endAsync()
      await eventuallyValue('offline', async () => f.broker.status().sessions.offline === 1 ? true : undefined, 5000, 20)
      await eventuallyValue('expired', async () => f.broker.status().sessions.ended.expired === 1 ? true : undefined, 10_000, 50)
      assert.deepEqual(f.broker.status().sessions, { persistent: 0, offline: 0, ended: { expired: 1, limit: 0 } })
      // nothing is queued for it any more, and the id is free: another user may take it
      f.broker.deliver([{ sensorId: 's1', payload: payload('s1', [alice], 1) }])
      await eventuallyValue('delivered', async () => f.broker.status().inFlight === 0 ? true : undefined, 5000, 5)
      const other = await login(f.mqtt, bob, { clientId: 'alice-tablet' })
      await other.endAsync()
      // alice coming back with the same id finds no session (CONNACK session present 0)
      const back = mqtt.connect(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice), reconnectPeriod: 0, connectTimeout: 5000, ...options })
      const connack = once(back as unknown as NodeJS.EventEmitter, 'connect') as Promise<[{ sessionPresent: boolean }]>
      assert.equal((await connack)[0].sessionPresent, false)
      await back.endAsync()
    } finally { await f.close() }
  })

  it('keeps at most sessionsPerUser persistent sessions per user: a new one ends the longest offline, and is refused (CONNACK 3) when all are connected [STR-48]', async () => {
    const f = await startBroker({ sessionsPerUser: 2 })
    try {
      const alice = await f.newUser()
      const a1 = await login(f.mqtt, alice, { clientId: 'a1', clean: false })
      await a1.endAsync()
      await eventuallyValue('a1 offline', async () => f.broker.status().sessions.offline === 1 ? true : undefined, 5000, 20)
      const a2 = await login(f.mqtt, alice, { clientId: 'a2', clean: false })
      await a2.endAsync()
      await eventuallyValue('a2 offline', async () => f.broker.status().sessions.offline === 2 ? true : undefined, 5000, 20)
      // a third ends a1, the longest offline
      const a3 = await login(f.mqtt, alice, { clientId: 'a3', clean: false })
      assert.deepEqual(f.broker.status().sessions, { persistent: 2, offline: 1, ended: { expired: 0, limit: 1 } })
      // coming back to a held session is no new one; clean sessions are not counted
      const a2back = await login(f.mqtt, alice, { clientId: 'a2', clean: false })
      const clean = await login(f.mqtt, alice, { clientId: 'a-clean', clean: true })
      assert.equal(f.broker.status().sessions.persistent, 2)
      // both held sessions connected: a new persistent one is refused, Server unavailable
      assert.equal(await refusedWith(f.mqtt, { username: alice.pseudonym, password: await makeToken(alice), clientId: 'a4', clean: false }), 3)
      assert.equal(f.broker.status().refused.GM_ERR_STREAM_SESSIONS_FULL, 1)
      // another user's sessions are its own
      const bob = await f.newUser()
      const b1 = await login(f.mqtt, bob, { clientId: 'b1', clean: false })
      assert.equal(f.broker.status().sessions.persistent, 3)
      for (const c of [a3, a2back, clean, b1]) await c.endAsync()
    } finally { await f.close() }
  })

  it('two users naming the same new client id at once, one of them at its session bound: one session holds the id, and nothing is left stuck [STR-48] [STR-8]', async () => {
    // both log-ins are held after their token check and let go in the same tick (alice's first):
    // alice's CONNECT, past its bound, waits for its oldest session to end; bob's runs meanwhile
    const held: Array<{ pseudonym: string, go: () => void }> = []
    let gate = false
    let bothHeld: () => void = () => {}
    const heldTwo = new Promise<void>(resolve => { bothHeld = resolve })
    const f = await startBroker({ sessionsPerUser: 1 }, {
      verifyToken: async (token, expected) => {
        await verifyToken(token, expected)
        if (!gate) return
        await new Promise<void>(resolve => {
          held.push({ pseudonym: expected.pseudonym, go: resolve })
          if (held.length === 2) bothHeld()
        })
      }
    })
    try {
      const alice = await f.newUser()
      const bob = await f.newUser()
      const old = await login(f.mqtt, alice, { clientId: 'alice-old', clean: false })
      await old.endAsync()
      await eventuallyValue('alice-old offline', async () => f.broker.status().sessions.offline === 1 ? true : undefined, 5000, 20)
      gate = true
      const aliceTry = login(f.mqtt, alice, { clientId: 'shared', clean: false }).then(c => ({ client: c, code: 0 }), (err: { code: number }) => ({ client: undefined, code: err.code }))
      const bobTry = login(f.mqtt, bob, { clientId: 'shared', clean: false }).then(c => ({ client: c, code: 0 }), (err: { code: number }) => ({ client: undefined, code: err.code }))
      await heldTwo
      gate = false
      held.sort((x, y) => (x.pseudonym === alice.pseudonym ? 0 : 1) - (y.pseudonym === alice.pseudonym ? 0 : 1))
      for (const h of held) h.go()
      const [a, b] = await Promise.all([aliceTry, bobTry])
      // exactly one of them holds the id; the other is refused (identifier rejected)
      assert.equal([a, b].filter(r => r.client !== undefined).length, 1, `alice ${a.code}, bob ${b.code}`)
      assert.deepEqual([a, b].map(r => r.code).filter(c => c !== 0), [2])
      for (const r of [a, b]) {
        if (r.client !== undefined) assert.deepEqual(await subscribe(r.client, ['sensors/+/readings']), [1])
        await r.client?.endAsync()
      }
      // the held session goes offline when its client leaves: none is left counted as connected
      await eventuallyValue('every session offline', async () => {
        const { persistent, offline } = f.broker.status().sessions
        return persistent === offline ? true : undefined
      }, 5000, 20)
      // alice's one slot is free again: a new persistent session of hers is accepted
      const fresh = await login(f.mqtt, alice, { clientId: 'alice-new', clean: false })
      await fresh.endAsync()
      // the winner's session is its own: it resumes it (alice's bound did not end it)
      const winner = a.client !== undefined ? alice : bob
      const back = mqtt.connect(f.mqtt, { username: winner.pseudonym, password: await makeToken(winner), reconnectPeriod: 0, connectTimeout: 5000, clientId: 'shared', clean: false })
      const connack = once(back as unknown as NodeJS.EventEmitter, 'connect') as Promise<[{ sessionPresent: boolean }]>
      assert.equal((await connack)[0].sessionPresent, true)
      await back.endAsync()
    } finally { await f.close() }
  })

  it('bounds subscriptions per client and retained messages per user', async () => {
    const f = await startBroker({ maxSubscriptions: 3, maxRetainedPerUser: 2 })
    try {
      const alice = await f.newUser()
      const ns = `users/${alice.pseudonym}`
      const client = await login(f.mqtt, alice)
      assert.deepEqual(await subscribe(client, [`${ns}/a`, `${ns}/b`, `${ns}/c`, `${ns}/d`]), [1, 1, 1, 128])
      // an unsubscribe frees a place; a filter held already is granted again
      await client.unsubscribeAsync(`${ns}/a`)
      assert.deepEqual(await subscribe(client, [`${ns}/d`, `${ns}/b`]), [1, 1])
      assert.equal(f.broker.status().denied.GM_ERR_STREAM_TOO_MANY_SUBSCRIPTIONS, 1)
      await client.publishAsync(`${ns}/r1`, 'x', { qos: 1, retain: true })
      await client.publishAsync(`${ns}/r2`, 'x', { qos: 1, retain: true })
      // clearing one (an empty retained message) makes room for another
      await client.publishAsync(`${ns}/r1`, '', { qos: 1, retain: true })
      await client.publishAsync(`${ns}/r3`, 'x', { qos: 1, retain: true })
      const closed = once(client as unknown as NodeJS.EventEmitter, 'close')
      client.publish(`${ns}/r4`, 'x', { qos: 1, retain: true })
      await closed
      client.end(true)
      assert.equal(f.broker.status().denied.GM_ERR_STREAM_RETAINED_LIMIT, 1)
    } finally { await f.close() }
  })

  it('disconnects a subscriber that does not read within the drain timeout; the others keep receiving [STR-17]', async () => {
    const f = await startBroker({ drainTimeoutMs: 1000, maxInFlight: 50 })
    try {
      const alice = await f.newUser()
      const bob = await f.newUser()
      const live = await login(f.mqtt, bob)
      const b = inbox(live)
      await live.subscribeAsync('sensors/+/readings', { qos: 1 })
      // a subscriber that stops reading its socket
      const frozen = await rawSocket(f.port)
      frozen.socket.write(connectPacket('frozen', alice.pseudonym, await makeToken(alice)))
      const subscribe = Buffer.concat([Buffer.from([0x00, 0x01]), str('sensors/+/readings'), Buffer.from([1])])
      frozen.socket.write(Buffer.concat([Buffer.from([0x82, ...remainingLength(subscribe.length)]), subscribe]))
      await eventuallyValue('frozen subscribed', async () => f.broker.status().subscriptions === 2 ? true : undefined, 5000, 10)
      frozen.socket.pause()
      const big = 'x'.repeat(100_000)
      const reading = (n: number): Uint8Array => new TextEncoder().encode(JSON.stringify({ s: 's1', to: [alice.pseudonym, bob.pseudonym], n, big }))
      // enough to fill the frozen socket's buffers many times over
      for (let n = 1; n <= 100; n++) f.broker.deliver([{ sensorId: 's1', payload: reading(n) }])
      // after the drain timeout the frozen subscriber is gone, and readings flow to bob again
      await eventuallyValue('the frozen subscriber is disconnected', async () => f.broker.status().clients === 1 ? true : undefined, 10_000, 50)
      const before = b.messages.length
      await eventuallyValue('in flight settles', async () => f.broker.status().inFlight === 0 ? true : undefined, 10_000, 50)
      f.broker.deliver([{ sensorId: 's1', payload: reading(1000) }])
      await b.wait(before + 1)
      assert.equal(counter(b.messages.at(-1)!.payload), 1000)
      frozen.socket.destroy()
      await live.endAsync()
    } finally { await f.close() }
  })

  it('closes malformed and oversized input and a CONNECT flood; the broker stays up for the others', async () => {
    const f = await startBroker({ connectRate: { perSecond: 1, burst: 10 }, maxPacketBytes: 64 * 1024 })
    try {
      const alice = await f.newUser()
      const ok = await login(f.mqtt, alice)
      const o = inbox(ok)
      await ok.subscribeAsync(`users/${alice.pseudonym}/#`, { qos: 1 })
      // malformed: a reserved packet type; a remaining length that never ends
      for (const bytes of [Buffer.from([0x00, 0x00]), Buffer.from([0x10, 0x06, 0x00, 0x04, 0x4e, 0x4f, 0x50, 0x45])]) {
        const raw = await rawSocket(f.port)
        raw.socket.write(bytes)
        await raw.closed
      }
      // oversized: a PUBLISH announcing 100 KiB after a good CONNECT
      const big = await rawSocket(f.port)
      big.socket.write(connectPacket('big', alice.pseudonym, await makeToken(alice)))
      await eventuallyValue('CONNACK', async () => Buffer.concat(big.data).length >= 4 ? true : undefined, 5000, 10)
      big.socket.write(Buffer.from([0x30, ...[0x80, 0x80, 0x06]]))
      big.socket.write(Buffer.alloc(1000))
      await big.closed
      assert.equal(f.broker.status().denied.GM_ERR_STREAM_TOO_LARGE, 1)
      // a flood of CONNECTs from one address: past the burst, closed without a look-up
      const lookups = f.dht.accountLookups
      const flood = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
        const raw = await rawSocket(f.port)
        raw.socket.write(connectPacket(`flood-${i}`, alice.pseudonym, 'x'))
        await raw.closed
        return Buffer.concat(raw.data)
      }))
      const refused = f.broker.status().refused.GM_ERR_STREAM_RATE_LIMITED ?? 0
      assert.ok(refused >= 20, `refused ${refused} of 30`)
      assert.equal(flood.filter(d => d.length === 0).length, refused, 'a rate-limited CONNECT gets no CONNACK')
      assert.ok(f.dht.accountLookups - lookups <= 1)
      // the established client still works
      await ok.publishAsync(`users/${alice.pseudonym}/ping`, 'pong', { qos: 1 })
      await o.wait(1)
      assert.equal(o.messages[0]!.payload.toString(), 'pong')
      const status = f.broker.status()
      assert.equal(status.clients, 1)
      assert.equal(status.subscriptions, 1)
      await ok.endAsync()
    } finally { await f.close() }
  })
})
