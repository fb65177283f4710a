// End to end, with real processes: the stream service (issue 16) over a CA, a small peer that
// collects and serves Data Access but runs no stream, and three stream peers (one of them a
// collector too, one keeping at most 5 messages per persistent session). Readings go in at the
// small peer with stock curl and mosquitto_pub and come out live, decrypted, at other stream peers:
// through the client library (mqtt.js), the stock mosquitto_sub (logged in with `gatemesh token`)
// and headless Chromium over WebSocket. Authorization follows share and revoke; a killed stream
// peer's application moves to another; a persistent session gets the newest readings it missed;
// bad input is refused while the broker keeps serving; no plaintext marker reaches an
// application's socket or any file the peers write.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it } from 'node:test'
import { MqttClient } from 'mqtt'
import type { IClientOptions } from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { EnvelopeOpener, MIN_KDF_ITERATIONS, createStreamToken, decodeStreamPayload, envelopeRecipients, fromHex, readEnvelopeHeader, toBase64, webCryptoSuite } from '../../src/core/index.ts'
import type { Identity } from '../../src/core/index.ts'
import { createClient, readStreamMessage } from '../../src/client/index.ts'
import type { Client, Session, StreamReading, StreamState, Subscription } from '../../src/client/index.ts'
import { ROOT, startNetwork } from '../../src/demo/network.ts'
import type { Network, RunningGateway } from '../../src/demo/network.ts'
import { eventuallyValue } from '../support/eventually.ts'
import { openInChromium } from '../support/browser.ts'
import type { BrowserHarness } from '../support/browser.ts'
import type { BrowserStreamApi } from './browser-entry.ts'

const suite = webCryptoSuite
const SENSOR = 'e2e-stream'
const MAIN = join(ROOT, 'src/cli/main.ts')
const MARKERS: string[] = []
const marker = (): string => { const m = `mk${randomBytes(12).toString('hex')}`; MARKERS.push(m); return m }
const eventually = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> => await eventuallyValue(what, check, timeoutMs, everyMs)

interface Proc { code: number, stdout: string, stderr: string }
async function exec (file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Proc> {
  return await new Promise(resolve => {
    execFile(file, args, { timeout: 30_000, cwd: ROOT, ...(env === undefined ? {} : { env: { ...process.env, ...env } }) }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

const hostPort = (url: string): { host: string, port: number } => { const u = new URL(url); return { host: u.hostname, port: Number(u.port) } }

/** An application through the client library: what it received, its states, its errors. */
interface App {
  sub: Subscription
  readings: StreamReading[]
  states: string[]
  errors: string[]
  markers: () => string[]
  has: (m: string) => boolean
}

function subscribeApp (session: Session, sensors: string[] | 'all', urls: string[], options: { clean?: boolean, clientId?: string } = {}): App {
  const readings: StreamReading[] = []
  const states: string[] = []
  const errors: string[] = []
  const markers = (): string[] => readings.map(r => (r.json as { marker?: string } | undefined)?.marker ?? '')
  const sub = session.subscribe(sensors, r => { readings.push(r) }, {
    urls,
    ...options,
    backoff: { initialMs: 200, maxMs: 1000 },
    onState: (state: StreamState, info) => { states.push(`${state} ${info.url}`) },
    onError: err => { errors.push(err.code) }
  })
  return { sub, readings, states, errors, markers, has: m => markers().includes(m) }
}

/** An mqtt.js client on a TCP socket whose every byte from the broker is kept. */
interface Tapped { client: MqttClient, wire: Buffer[], packets: Array<{ topic: string, payload: Buffer }> }
function tapped (url: string, options: IClientOptions): Tapped {
  const { host, port } = hostPort(url)
  const wire: Buffer[] = []
  const packets: Tapped['packets'] = []
  const client = new MqttClient(() => {
    const socket = tcpConnect(port, host)
    socket.on('data', (d: Buffer) => { wire.push(d) })
    return socket
  }, { protocolVersion: 4, reconnectPeriod: 0, clean: true, keepalive: 30, clientId: `tap-${randomBytes(4).toString('hex')}`, ...options })
  client.on('message', (topic, payload) => { packets.push({ topic, payload }) })
  client.on('error', () => { /* asserted where it matters */ })
  return { client, wire, packets }
}

async function connected (client: MqttClient): Promise<void> {
  if (client.connected) return
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => { resolve() })
    client.once('error', reject)
    client.once('close', () => { reject(new Error('closed before CONNACK')) })
  })
}

/** The SUBACK's return code for one filter (mqtt.js rejects on 0x80 with the SUBACK attached). */
async function grantedQos (client: MqttClient, topic: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(topic, { qos: 1 })
    return (granted[0] as { qos: number }).qos
  } catch (err) {
    const refused = (err as { packet?: { granted?: number[] } }).packet?.granted?.[0]
    if (refused === undefined) throw err
    return refused
  }
}

/** A raw TCP connection: the bytes it writes, the CONNACK return code if one came, whether it closed. */
interface Raw { connack: () => number | undefined, closed: Promise<void>, isClosed: () => boolean, write: (b: Uint8Array) => void }
async function raw (url: string): Promise<Raw> {
  const { host, port } = hostPort(url)
  const socket = tcpConnect(port, host)
  let received = Buffer.alloc(0)
  let isClosed = false
  socket.on('data', (d: Buffer) => { received = Buffer.concat([received, d]) })
  socket.on('error', () => {})
  const closed = new Promise<void>(resolve => socket.once('close', () => { isClosed = true; resolve() }))
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  return {
    connack: () => received.length >= 4 && received[0] === 0x20 ? received[3] : undefined,
    closed,
    isClosed: () => isClosed,
    write: b => { socket.write(b) }
  }
}

const connectPacket = (fields: { clientId: string, username?: string, password?: string }): Buffer => mqttPacket.generate({
  cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: fields.clientId,
  ...(fields.username === undefined ? {} : { username: fields.username }),
  ...(fields.password === undefined ? {} : { password: Buffer.from(fields.password) })
})

async function inPage<K extends keyof BrowserStreamApi> (harness: BrowserHarness, name: K, ...args: Parameters<BrowserStreamApi[K]>): Promise<Awaited<ReturnType<BrowserStreamApi[K]>>> {
  return await harness.page.evaluate(async ([fn, params]) => {
    const api = (globalThis as unknown as { gatemesh: Record<string, (...a: unknown[]) => unknown> }).gatemesh
    return await api[fn as string]!(...(params as unknown[]))
  }, [name, args] as const) as Awaited<ReturnType<BrowserStreamApi[K]>>
}

describe('end to end: live readings through the stream peers [STR-5]..[STR-47]', { timeout: 300_000 }, () => {
  let dir: string
  let net: Network
  let small: RunningGateway, s1: RunningGateway, s2: RunningGateway, s3: RunningGateway
  const password = { alice: 'alice stream password', bob: 'bob stream password', carol: 'carol stream password' }
  const ids: Record<'alice' | 'bob' | 'carol', { identity: Identity, pseudonym: string, bundle: Uint8Array, caCertificate: Uint8Array }> = {} as never
  const at: Record<'alice' | 'bob' | 'carol', Session> = {} as never
  let aliceClient: Client
  let credential: string
  let caDer: Uint8Array
  const apps: App[] = []
  const taps: Tapped[] = []
  const tokens: string[] = []
  let mosquittoSub: ChildProcess | undefined
  let mosquittoOut = ''
  let browser: BrowserHarness | undefined
  /** Each reading's seq as the collector acknowledged it (curl). */
  const seqOf = new Map<string, number>()
  const client = (gw: RunningGateway): Client => createClient({ gateway: gw.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS })

  async function curl (body: unknown): Promise<number> {
    const out = await exec('curl', ['-sS', '-w', '\n%{http_code}', '-H', 'Content-Type: application/json', '-H', `Authorization: Bearer ${credential}`,
      '-d', JSON.stringify(body), `${small.ready.collector?.http}/v1/sensors/${SENSOR}/readings`])
    assert.equal(out.code, 0, out.stderr)
    const lines = out.stdout.trimEnd().split('\n')
    assert.equal(lines.pop(), '202', lines.join('\n'))
    return (JSON.parse(lines.join('\n')) as { seq: number }).seq
  }

  async function mosquittoPub (body: unknown): Promise<void> {
    const { host, port } = hostPort(small.ready.collector?.mqtt as string)
    const out = await exec('mosquitto_pub', ['-h', host, '-p', String(port), '-i', `e2e-${randomBytes(4).toString('hex')}`, '-u', SENSOR, '-P', credential,
      '-t', `sensors/${SENSOR}/readings`, '-q', '1', '-m', JSON.stringify(body)])
    assert.equal(out.code, 0, out.stderr)
  }

  /** One reading with a fresh marker, to the small peer's collector, acknowledged. */
  async function send (how: 'curl' | 'mqtt' = 'curl'): Promise<string> {
    const m = marker()
    const body = { temperature: 21, marker: m }
    if (how === 'curl') seqOf.set(m, await curl(body))
    else await mosquittoPub(body)
    return m
  }

  async function arrives (what: string, apps: App[], markers: string[], timeoutMs = 20_000): Promise<void> {
    await eventually(what, async () => apps.every(app => markers.every(m => app.has(m))) ? true : undefined, timeoutMs)
  }

  /** mosquitto_sub's output: each message's topic and payload (hex, -F '%t %x'). */
  const mosquittoMessages = (): Array<{ topic: string, payload: Uint8Array }> =>
    [...mosquittoOut.matchAll(/(sensors\/\S+) ([0-9a-f]+)/g)].map(m => ({ topic: m[1] as string, payload: fromHex(m[2] as string) }))

  /** A stream message as an application reads it ([STR-42]), with only the core and the pinned CA: for mosquitto_sub's output. */
  async function openAsAlice (topic: string, payload: Uint8Array): Promise<StreamReading | undefined> {
    const opener = new EnvelopeOpener({ suite, reader: { pseudonym: ids.alice.pseudonym, agreementKey: ids.alice.identity.agreementKey } })
    return await readStreamMessage({
      suite,
      pseudonym: ids.alice.pseudonym,
      openCertified: async (envelope, cert) => {
        const collector = await aliceClient.verifyCollector(envelope.gw, cert, envelope.ts)
        const opened = await opener.openVerified(envelope)
        const text = new TextDecoder().decode(opened.plaintext)
        return { plaintext: opened.plaintext, ts: opened.header.ts, seq: opened.header.seq, gateway: Buffer.from(opened.gateway).toString('hex'), gatewayPeerId: collector.peerId, gatewayCert: cert, text, json: JSON.parse(text) as unknown }
      }
    }, topic, payload)
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-e2e-stream-'))
    net = await startNetwork({
      dir,
      gateways: [
        { name: 'small', services: ['collector', 'access'] },
        { name: 's1', services: ['collector', 'access', 'stream'] },
        { name: 's2', services: ['access', 'stream'] },
        { name: 's3', services: ['stream'], args: ['--stream-session-max', '5'] }
      ],
      gatewayArgs: ['--admin-port', '0', '--crl-interval', '2000', '--exchange-timeout', '3000'],
      env: { GATEMESH_LOG_LEVEL: 'debug' },
      readyTimeoutMs: 90_000
    })
    ;[small, s1, s2, s3] = net.gateways as [RunningGateway, RunningGateway, RunningGateway, RunningGateway]
    assert.equal(small.ready.stream, null, 'the small peer runs no stream')
    for (const gw of [s1, s2, s3]) assert.match(gw.ready.stream?.mqtt ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+$/)
    aliceClient = client(small)
    const [a, b, c] = await Promise.all([aliceClient.signup(password.alice), client(small).signup(password.bob), client(small).signup(password.carol)])
    Object.assign(ids, { alice: a, bob: b, carol: c })
    caDer = a.caCertificate
    at.alice = await aliceClient.resume(a.bundle, password.alice)
    at.bob = await client(small).resume(b.bundle, password.bob)
    at.carol = await client(small).resume(c.bundle, password.carol)
    credential = (await at.alice.addSensor(SENSOR)).credential
    await at.alice.share(SENSOR, ids.bob.pseudonym)
  })

  after(async () => {
    for (const app of apps) await app.sub.close().catch(() => {})
    for (const tap of taps) await tap.client.endAsync(true).catch(() => {})
    mosquittoSub?.kill('SIGKILL')
    await browser?.close().catch(() => {})
    await net?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  let aliceAtS2: App
  it('a reading sent to the small peer with curl and with mosquitto_pub arrives, decrypted, at other stream peers: mqtt.js, mosquitto_sub, Chromium over WebSocket', async () => {
    aliceAtS2 = subscribeApp(at.alice, [SENSOR], [s2.ready.stream?.mqtt as string])
    apps.push(aliceAtS2)
    // the relay finds its stream peers and the stream peers the account: readings until one arrives live
    await eventually('a first reading reaches s2 live', async () => {
      if (aliceAtS2.readings.length > 0) return true
      await send()
      return undefined
    }, 60_000, 1000)

    // mosquitto_sub at s2, logged in with the CLI's token: prints topic and payload (hex)
    const env = { GATEMESH_HOME: join(dir, 'cli'), GATEMESH_PASSWORD: password.alice }
    const login = await exec(process.execPath, [MAIN, 'login', '--gateway', small.ready.access as string, '--pseudonym', ids.alice.pseudonym, '--ca-cert', join(net.caDir, 'ca.crt')], env)
    assert.equal(login.code, 0, login.stderr)
    const token = await exec(process.execPath, [MAIN, 'token', '--ttl', '10m'], env)
    assert.equal(token.code, 0, token.stderr)
    tokens.push(token.stdout.trim())
    const { host, port } = hostPort(s2.ready.stream?.mqtt as string)
    mosquittoSub = spawn('mosquitto_sub', ['-h', host, '-p', String(port), '-V', 'mqttv311', '-i', 'e2e-mosquitto-sub', '-u', ids.alice.pseudonym, '-P', token.stdout.trim(),
      '-t', `sensors/${SENSOR}/readings`, '-q', '1', '-F', '%t %x'], { stdio: ['ignore', 'pipe', 'pipe'] })
    mosquittoSub.stdout?.on('data', (d: Buffer) => { mosquittoOut += d.toString() })
    let mosquittoErr = ''
    mosquittoSub.stderr?.on('data', (d: Buffer) => { mosquittoErr += d.toString() })
    // subscribed: the retained newest reading comes at once ([STR-15])
    await eventually('mosquitto_sub gets the retained reading', async () => mosquittoMessages().length > 0 ? true : undefined).catch(err => { throw new Error(`${(err as Error).message}; mosquitto_sub: ${mosquittoErr}`) })

    // headless Chromium, over WebSocket to s3: session.subscribe bundled by Vite
    browser = await openInChromium(fileURLToPath(new URL('./browser-entry.ts', import.meta.url)))
    await inPage(browser, 'subscribe', toBase64(ids.alice.bundle), password.alice, toBase64(caDer), [s3.ready.stream?.ws as string], [SENSOR])
    await browser.page.waitForFunction(() => (globalThis as unknown as { gatemesh: { received: () => unknown[] } }).gatemesh.received().length >= 1, undefined, { timeout: 30_000 })

    const viaCurl = await send('curl')
    const viaMqtt = await send('mqtt')
    await arrives('both readings at s2 through the client library', [aliceAtS2], [viaCurl, viaMqtt])
    for (const m of [viaCurl, viaMqtt]) {
      const r = aliceAtS2.readings.find(x => (x.json as { marker: string }).marker === m) as StreamReading
      assert.equal(r.sensorId, SENSOR)
      assert.equal(r.gatewayPeerId, small.ready.peerId, 'sealed by the small peer\'s collector')
    }
    const fromMosquitto = await eventually('both readings printed by mosquitto_sub', async () => {
      const opened = await Promise.all(mosquittoMessages().map(async m => await openAsAlice(m.topic, m.payload)))
      const markers = opened.map(r => (r?.json as { marker?: string } | undefined)?.marker)
      return markers.includes(viaCurl) && markers.includes(viaMqtt) ? opened : undefined
    })
    assert.ok(fromMosquitto.every(r => r?.gatewayPeerId === small.ready.peerId), 'each payload mosquitto_sub printed verifies ([ENV-6], [ENV-10]) and opens')
    const inBrowser = await eventually('both readings opened in Chromium', async () => {
      const got = await inPage(browser as BrowserHarness, 'received')
      const texts = got.map(r => r.text ?? '')
      return [viaCurl, viaMqtt].every(m => texts.some(t => t.includes(m))) ? got : undefined
    })
    assert.ok(inBrowser.every(r => r.sensorId === SENSOR && r.gatewayPeerId === small.ready.peerId))
    assert.deepEqual(await inPage(browser, 'errors'), [])
    assert.deepEqual(aliceAtS2.errors, [])
    assert.equal(seqOf.get(viaCurl), aliceAtS2.readings.find(x => (x.json as { marker: string }).marker === viaCurl)?.seq, 'the seq curl was acknowledged with')
  })

  it('a user off the access list is refused the sensor\'s topic; after a revoke the revoked user receives nothing more; after a share the new reader receives the next readings', async () => {
    // Carol is on no list: SUBACK 0x80 for the sensor's topic, raw and through the client library
    const carolRaw = tapped(s2.ready.stream?.mqtt as string, { username: ids.carol.pseudonym, password: await at.carol.streamToken() })
    taps.push(carolRaw)
    await connected(carolRaw.client)
    assert.equal(await grantedQos(carolRaw.client, `sensors/${SENSOR}/readings`), 0x80)
    const carolOne = subscribeApp(at.carol, [SENSOR], [s1.ready.stream?.mqtt as string])
    apps.push(carolOne)
    await eventually('carol\'s library reports the refusal', async () => carolOne.errors.includes('GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED') ? true : undefined)
    const carolAll = subscribeApp(at.carol, 'all', [s1.ready.stream?.mqtt as string])
    apps.push(carolAll)

    // Bob reads: through the library at s1, and raw (every byte kept) at s2, both for every sensor
    const bobAll = subscribeApp(at.bob, 'all', [s1.ready.stream?.mqtt as string])
    apps.push(bobAll)
    const bobRaw = tapped(s2.ready.stream?.mqtt as string, { username: ids.bob.pseudonym, password: await at.bob.streamToken() })
    taps.push(bobRaw)
    await connected(bobRaw.client)
    assert.equal(await grantedQos(bobRaw.client, 'sensors/+/readings'), 1)
    await eventually('bob and carol are connected', async () => [bobAll, carolAll].every(a => a.states.some(s => s.startsWith('connected'))) ? true : undefined)
    const before = await send()
    await arrives('a reading reaches alice and bob', [aliceAtS2, bobAll], [before])
    await eventually('bob\'s raw client gets it', async () => bobRaw.packets.length > 0 ? true : undefined)
    assert.equal(carolAll.readings.length, 0, 'nothing is wrapped for carol yet')

    await at.alice.revoke(SENSOR, ids.bob.pseudonym)
    await at.alice.share(SENSOR, ids.carol.pseudonym)
    // the collector's sensor directory (5 s TTL) takes the new record: the first reading wrapped
    // for carol is sealed with it, and so is every later one
    await eventually('a reading sealed for carol arrives at s1', async () => {
      if (carolAll.readings.length > 0) return true
      await send()
      return undefined
    }, 30_000, 1000)
    const bobRawBefore = bobRaw.packets.length
    const bobBefore = bobAll.readings.length
    const next = [await send('curl'), await send('mqtt'), await send('curl')]
    await arrives('the next readings reach alice (s2) and carol (s1)', [aliceAtS2, carolAll], next)
    // the raw client sits at the same broker as alice, the library one at the same as carol
    assert.equal(bobRaw.packets.length, bobRawBefore, 'the broker forwarded nothing more to bob ([STR-14])')
    assert.equal(bobAll.readings.length, bobBefore, 'bob\'s library got nothing more')
    for (const p of bobRaw.packets) {
      const { env } = decodeStreamPayload(p.payload)
      assert.ok(envelopeRecipients(env).to.includes(ids.bob.pseudonym), 'every payload bob got carries a wrap for him')
    }
    // carol may now subscribe to the sensor's topic itself (the broker's record cache is 5 s)
    await eventually('carol is granted the sensor\'s topic', async () => await grantedQos(carolRaw.client, `sensors/${SENSOR}/readings`) === 1 ? true : undefined, 20_000, 1000)
    assert.deepEqual(carolAll.errors, [])
    assert.deepEqual(bobAll.errors, [])
  })

  it('a persistent session (clean session off, QoS 1) gets the newest readings it missed, at most --stream-session-max [STR-16]', async () => {
    const online = subscribeApp(at.alice, [SENSOR], [s3.ready.stream?.mqtt as string])
    apps.push(online)
    const persistent = { clean: false, clientId: 'alice-persistent' }
    const first = subscribeApp(at.alice, [SENSOR], [s3.ready.stream?.mqtt as string], persistent)
    await eventually('the persistent session has the retained reading', async () => first.readings.length > 0 && online.readings.length > 0 ? true : undefined)
    await first.sub.close()
    const missed: string[] = []
    for (let i = 0; i < 8; i++) missed.push(await send(i % 3 === 2 ? 'mqtt' : 'curl'))
    // every one reached s3 while the session was away
    await arrives('the 8 readings reach s3', [online], missed)
    const again = subscribeApp(at.alice, [SENSOR], [s3.ready.stream?.mqtt as string], persistent)
    apps.push(again)
    await eventually('the kept readings come back', async () => again.readings.length >= 5 ? true : undefined)
    const later = await send()
    await arrives('a live reading after them', [again], [later])
    const kept = again.markers().filter(m => m !== later)
    assert.equal(kept.length, 5, `the session kept 5 (it got ${kept.length})`)
    assert.deepEqual(new Set(kept), new Set(missed.slice(-5)), 'the newest 5')
    assert.deepEqual(again.errors, [])
  })

  it('bad input from applications is refused with codes, and the broker keeps serving everyone else', async () => {
    const url = s2.ready.stream?.mqtt as string
    const statesBefore = aliceAtS2.states.length
    // malformed bytes: closed
    const garbage = await raw(url)
    garbage.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]))
    await garbage.closed
    const http = await raw(url)
    http.write(Buffer.from('GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n'))
    await http.closed
    // a logged-in application announcing a 1 MiB packet: closed at the header ([STR-9])
    const big = await raw(url)
    big.write(connectPacket({ clientId: 'e2e-big', username: ids.alice.pseudonym, password: await at.alice.streamToken() }))
    await eventually('CONNACK', async () => big.connack() !== undefined ? true : undefined)
    assert.equal(big.connack(), 0)
    big.write(Buffer.from([0x30, 0x80, 0x80, 0x40, 0x00, 0x03]))
    await big.closed
    // a bad token: CONNACK 4; no password: 5 ([STR-7])
    const badToken = await raw(url)
    const stranger = await createStreamToken(suite, ids.carol.identity)
    badToken.write(connectPacket({ clientId: 'e2e-bad', username: ids.alice.pseudonym, password: stranger }))
    await eventually('CONNACK 4', async () => badToken.connack() === 4 ? true : undefined)
    // publishing outside its namespace: disconnected, delivered to no one ([STR-12])
    const carol = tapped(url, { username: ids.carol.pseudonym, password: await at.carol.streamToken() })
    await connected(carol.client)
    // subscribing to # and to $SYS/#, and to another user's namespace: 0x80 ([STR-13])
    assert.equal(await grantedQos(carol.client, '#'), 0x80)
    assert.equal(await grantedQos(carol.client, '$SYS/#'), 0x80)
    assert.equal(await grantedQos(carol.client, `users/${ids.alice.pseudonym}/#`), 0x80)
    assert.equal(await grantedQos(carol.client, `users/${ids.carol.pseudonym}/#`), 1, 'its own namespace is free')
    const closed = new Promise<void>(resolve => carol.client.once('close', () => { resolve() }))
    carol.client.publish(`sensors/${SENSOR}/readings`, Buffer.from('forged'), { qos: 1 })
    await closed
    const intruder = tapped(url, { username: ids.carol.pseudonym, password: await at.carol.streamToken() })
    taps.push(intruder)
    await connected(intruder.client)
    const intruderClosed = new Promise<void>(resolve => intruder.client.once('close', () => { resolve() }))
    intruder.client.publish(`users/${ids.alice.pseudonym}/inbox`, Buffer.from('forged'), { qos: 0 })
    await intruderClosed
    // a CONNECT flood from one address: past the bucket (50 at once, 20 a second), closed without a CONNACK ([STR-9])
    const flood = await Promise.all(Array.from({ length: 150 }, async () => await raw(url)))
    for (const [i, c] of flood.entries()) c.write(connectPacket({ clientId: `flood-${i}` }))
    await eventually('every flood connection is answered or closed', async () => flood.every(c => c.connack() !== undefined || c.isClosed()) ? true : undefined)
    const answered = flood.filter(c => c.connack() !== undefined)
    assert.ok(answered.every(c => c.connack() === 5), 'a CONNECT without user name or password: 5')
    assert.ok(flood.length - answered.length > 0, `some CONNECTs were refused without a CONNACK (${answered.length} answered)`)

    // the broker still serves alice's application, on the same connection
    const after = await send()
    await arrives('a reading still reaches alice at s2', [aliceAtS2], [after])
    assert.equal(aliceAtS2.states.length, statesBefore, 'alice\'s connection stayed up')
    assert.deepEqual(aliceAtS2.errors, [])
    assert.ok(!aliceAtS2.readings.some(r => r.text === 'forged'))
    const log = await readFile(s2.log, 'utf8')
    for (const code of ['GM_ERR_STREAM_TOO_LARGE', 'GM_ERR_STREAM_BAD_TOKEN', 'GM_ERR_STREAM_NOT_AUTHORIZED', 'GM_ERR_STREAM_SUBSCRIBE_FORBIDDEN', 'GM_ERR_STREAM_PUBLISH_FORBIDDEN', 'GM_ERR_STREAM_RATE_LIMITED']) {
      assert.ok(log.includes(code), `s2 logged ${code}`)
    }
  })

  it('when the stream peer an application is connected to is killed, it reconnects to another and receives the readings that follow', async () => {
    const urls = [s1.ready.stream?.mqtt as string, s3.ready.stream?.mqtt as string]
    const app = subscribeApp(at.alice, [SENSOR], urls)
    apps.push(app)
    await eventually('connected to s1, with the retained reading', async () => app.states.includes(`connected ${urls[0]}`) && app.readings.length > 0 ? true : undefined)
    await s1.kill()
    await eventually('reconnected to s3', async () => app.states.includes(`connected ${urls[1]}`) ? true : undefined)
    const next = [await send(), await send('mqtt')]
    await arrives('the readings that follow reach it at s3', [app], next)
    assert.ok(app.states.some(s => s.startsWith('reconnecting')))
  })

  it('no plaintext marker is in the bytes the brokers sent to applications, nor in any file the peers wrote', async () => {
    assert.ok(MARKERS.length >= 15, `${MARKERS.length} readings sent`)
    // an application's socket: alice raw at s2, her readings for every sensor
    const aliceRaw = tapped(s2.ready.stream?.mqtt as string, { username: ids.alice.pseudonym, password: await at.alice.streamToken() })
    taps.push(aliceRaw)
    await connected(aliceRaw.client)
    await grantedQos(aliceRaw.client, 'sensors/+/readings')
    const last = await send()
    await arrives('a last reading', [aliceAtS2], [last])
    await eventually('alice\'s raw client gets it', async () => aliceRaw.packets.some(p => seqOf.get(last) === readEnvelopeHeader(decodeStreamPayload(p.payload).env).seq) ? true : undefined)
    const wires: Array<[string, Buffer]> = [
      ...taps.map((t, i) => [`tapped client ${i}`, Buffer.concat(t.wire)] as [string, Buffer]),
      ['mosquitto_sub', Buffer.concat(mosquittoMessages().map(m => Buffer.from(m.payload)))]
    ]
    // positive control: the wire holds the readings (the sensor id is public)
    assert.ok((wires[wires.length - 2]?.[1] as Buffer).includes(SENSOR))
    assert.ok(mosquittoMessages().length >= 4)
    for (const [label, bytes] of wires) {
      for (const m of MARKERS) assert.equal(bytes.includes(m), false, `${m} in what ${label} received`)
    }
    const scan = async (label: string): Promise<string[]> => {
      const files = await filesUnder(dir)
      for (const file of files) {
        const bytes = await readFile(file)
        for (const m of MARKERS) {
          assert.equal(bytes.includes(m), false, `${label}: ${m} found in ${file}`)
          assert.equal(bytes.includes(Buffer.from(m).toString('base64').slice(0, 16)), false, `${label}: ${m} (base64) found in ${file}`)
        }
        for (const secret of [credential, ...tokens, ...Object.values(password)]) assert.equal(bytes.includes(secret), false, `${label}: a credential, token or password in ${file}`)
      }
      return files
    }
    const files = await scan('running')
    assert.ok(files.some(f => f.endsWith('s2.log')) && files.some(f => f.endsWith('s3.log')))
    for (const app of apps) await app.sub.close()
    apps.length = 0
    for (const tap of taps) await tap.client.endAsync(true).catch(() => {})
    taps.length = 0
    mosquittoSub?.kill('SIGTERM')
    await browser?.close()
    browser = undefined
    const codes = await net.stop()
    assert.deepEqual(codes.filter((_c, i) => i !== 1), [0, 0, 0, 0], 'the other gateways and the CA stop cleanly (s1 was killed)')
    await scan('stopped')
  })
})
