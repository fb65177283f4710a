/**
 * Scenario "stream" (issue 16's benchmark), on a local network of real processes
 * (src/demo/network.ts): a CA and three stream peers, `s1` (stream, collector, access), `s2` and
 * `s3` (stream), each beside a floor measured in the same run (raw Aedes, no authentication).
 *
 *   1. sensor → subscriber on another stream peer: sensors (bench/stream-load.ts, a child
 *      process, 64 connections: at 5 000/s 78 readings/s each, inside a sensor's [COL-9] limit) publish MQTT QoS 1 to s1's collector at 1 000 and at 5 000
 *      readings/s; one application at s2 subscribes to `sensors/+/readings` (QoS 1). The
 *      subscriber does not open envelopes (too dear at 5 000/s in one process): latency is the
 *      envelope body's `ts` (the collector's receive time, ms, [ENV-1], read with core's
 *      readEnvelopeHeader) to the message's arrival, so it covers journal, sealing, the stream sink,
 *      the relay stream, the relay's validation, the broker and the subscriber's socket; the sensor's
 *      own publish → PUBACK is reported beside it. Delivered = distinct (sensor, seq) received;
 *      lost = acknowledged by the collector − delivered. Floor: one process, a raw-socket publisher
 *      (packets built once, retained as the broker's injections are) → Aedes → mqtt.js
 *      subscriber, QoS 1, the same rates and payload size.
 *   2. fan-out: one sensor at 100 readings/s, 100 applications (QoS 1) spread over s1..s3, each
 *      subscribed to `sensors/<id>/readings`: p99 over every delivery, and each subscriber's count.
 *      Floor: 100 subscribers on one in-process Aedes.
 *   3. memory: s3's resident set (VmRSS, /proc/<pid>/status) idle and with 1 000 connected
 *      applications subscribed to `sensors/+/readings`. The broker bounds CONNECTs per address
 *      (20/s, burst 50, [STR-9]): the applications connect from 25 loopback addresses
 *      (127.0.0.2 .. 127.0.0.26), as 1 000 applications come from many. Floor: a bare Aedes
 *      process with 1 000 such clients.
 * The applications share two users (a token may be used again inside its window, [STR-2]);
 * every reading is sealed for the sensor's owner and one reader (the subscribing user).
 * Writes bench/results/stream.json and .md.
 *
 *   npm run bench -- stream [--quick] [--seconds N]
 */
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { MqttClient, type IClientOptions } from 'mqtt'
import { MIN_KDF_ITERATIONS, createSensorCredential, createSensorRecord, decodeStreamPayload, readEnvelopeHeader } from '../src/core/index.ts'
import { createClient } from '../src/client/index.ts'
import type { Session } from '../src/client/index.ts'
import { startNetwork } from '../src/demo/network.ts'
import type { Network, RunningGateway } from '../src/demo/network.ts'
import { NAMESPACES, recordKey } from '../src/overlay/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { environment, numberOption } from './harness.ts'
import { intervalQuantile, parseBuckets } from './prom-histogram.ts'
import { chunks } from './persistence-helpers.ts'
import { largest, quantile, type SensorPlan, type SensorResult } from './stream-load.ts'

const suite = createNodeCryptoSuite()
const RATES = [1000, 5000]
/** 64 sensors: at 5 000 readings/s 78 each, inside a sensor's rate limit ([COL-9]: 100/s); 16 were 312 each, disconnected past their burst */
const LATENCY_SENSORS = 64
const FANOUT_SUBSCRIBERS = 100
const FANOUT_RATE = 100
const APPLICATIONS = 1000
const APP_ADDRESSES = 25
/** Issue 16's targets. */
const TARGET = { p50Ms: 10, p99Ms: 50, fanoutP99Ms: 50 }

export function options (argv: string[]): { quick: boolean, seconds?: number } {
  return { quick: argv.includes('--quick'), seconds: numberOption(argv, '--seconds', false) }
}

const log = (line: string): void => { console.error(`stream: ${line}`) }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const nowMs = (): number => performance.timeOrigin + performance.now()

/** Resident set of a process in KiB (Linux /proc). */
function rssKiB (pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? NaN)
}
/** The median of 3 samples 1 s apart, after `settleMs`. */
async function steadyRss (pid: number | undefined, settleMs = 2000): Promise<number> {
  await sleep(settleMs)
  const samples: number[] = []
  for (let i = 0; i < 3; i++) { samples.push(rssKiB(pid)); if (i < 2) await sleep(1000) }
  return quantile(samples, 0.5)
}

async function until<T> (what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  while (performance.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) { last = err }
    await sleep(everyMs)
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`)
}

type Status = Record<string, unknown>
async function serviceStatus (gw: RunningGateway): Promise<Status> {
  const res = await fetch(`${gw.ready.admin}/v1/status`)
  return (await res.json() as { serviceStatus: Status }).serviceStatus
}
function pick (status: unknown, ...path: string[]): unknown {
  let v = status
  for (const key of path) v = v !== null && typeof v === 'object' ? (v as Status)[key] : undefined
  return v
}

/** An MQTT 3.1.1 client over TCP from `localAddress` (mqtt.js picks no source address itself). */
/** The gateway's Prometheus metrics (its admin port). */
async function scrapeMetrics (gw: RunningGateway): Promise<string> {
  const res = await fetch(`${gw.ready.admin}/metrics`)
  return await res.text()
}

const SEALING_LAG = 'gatemesh_collector_sealing_lag_seconds'

/** The collector's acceptance → sealed envelope between two scrapes: p50 and p99, ms (its histogram's resolution). */
function sealingLag (before: string, after: string): { p50Ms: number, p99Ms: number } {
  const a = parseBuckets(before, SEALING_LAG)
  const b = parseBuckets(after, SEALING_LAG)
  return { p50Ms: intervalQuantile(a, b, 0.5) * 1000, p99Ms: intervalQuantile(a, b, 0.99) * 1000 }
}

async function mqttClient (url: string, options: IClientOptions & { localAddress?: string }): Promise<MqttClient> {
  const { hostname, port } = new URL(url)
  const client = new MqttClient(() => netConnect({ host: hostname, port: Number(port), localAddress: options.localAddress, noDelay: true }), {
    protocolId: 'MQTT', protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 30_000, keepalive: 300, ...options
  })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => { resolve() })
    client.once('error', reject)
    client.once('close', () => { reject(new Error(`${url}: closed before CONNACK`)) })
  })
  client.on('error', () => {})
  return client
}

async function subscribe (client: MqttClient, topic: string): Promise<void> {
  const granted = await client.subscribeAsync(topic, { qos: 1 })
  if (granted[0]?.qos !== 1) throw new Error(`${topic}: SUBACK ${granted[0]?.qos}`)
}

/** What one subscribing application saw: distinct readings, and (collector ts, latency ms) pairs. */
interface Tap { seen: Set<string>, ts: number[], latency: number[], payloadBytes: number }
function tap (client: MqttClient): Tap {
  const t: Tap = { seen: new Set(), ts: [], latency: [], payloadBytes: 0 }
  client.on('message', (_topic, payload, packet) => {
    const at = nowMs()
    if (packet.retain) return // the retained reading a new subscription gets: not live
    const header = readEnvelopeHeader(decodeStreamPayload(payload).env)
    const key = `${header.sensor}:${header.seq}`
    if (t.seen.has(key)) return
    t.seen.add(key)
    t.ts.push(header.ts)
    t.latency.push(at - header.ts)
    t.payloadBytes = payload.length
  })
  return t
}
function clear (t: Tap): void { t.seen.clear(); t.ts.length = 0; t.latency.length = 0 }
/** Readings collected at or after `from` (epoch ms); latencies of those in [measureFrom, measureTo). */
function inWindow (t: Tap, from: number, measureFrom: number, measureTo: number): { delivered: number, latencies: number[] } {
  let delivered = 0
  const latencies: number[] = []
  for (let i = 0; i < t.ts.length; i++) {
    const ts = t.ts[i] as number
    if (ts < from) continue
    delivered++
    if (ts >= measureFrom && ts < measureTo) latencies.push(t.latency[i] as number)
  }
  return { delivered, latencies }
}

async function sensorLoad (plan: SensorPlan): Promise<SensorResult> {
  const child = spawn(process.execPath, [new URL('./stream-load.ts', import.meta.url).pathname, '--sensors', JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (code !== 0) throw new Error(`sensor load exited with ${code}`)
  return JSON.parse(out) as SensorResult
}

/**
 * Waits until nothing more came for 3 s (at most 60 s): the sensors' last PUBACKs may not have
 * come before the generator closed its sockets, so what the collector relayed is not known yet.
 */
async function settle (taps: Tap[], from: number): Promise<void> {
  const deadline = performance.now() + 60_000
  let last = -1
  let still = performance.now()
  for (;;) {
    const total = taps.reduce((n, t) => n + inWindow(t, from, 0, 0).delivered, 0)
    if (performance.now() > deadline) return
    if (total !== last) { last = total; still = performance.now() } else if (performance.now() - still > 3000) return
    await sleep(100)
  }
}

/**
 * What s1's stream sink did between two of its statuses: readings relayed and dropped. The sink
 * counts them once per stream peer ([STR-35]); here, per reading: divided by the stream peers it
 * links to (s2 and s3).
 */
function sinkDiff (before: Status, after: Status): { relayed: number, local: number, dropped: Record<string, number> } {
  const sink = (s: Status, ...path: string[]): unknown => pick(s, 'collector', 'stream', ...path)
  const peers = Math.max(1, (sink(after, 'peers') as number | undefined) ?? 1)
  const dropped = Object.fromEntries(Object.entries((sink(after, 'dropped') ?? {}) as Record<string, number>).map(([k, v]) => [k, (v - ((sink(before, 'dropped', k) as number | undefined) ?? 0)) / (k === 'noPeers' ? 1 : peers)]))
  return { relayed: Math.round(((sink(after, 'relayed') as number) - (sink(before, 'relayed') as number)) / peers), local: (sink(after, 'local') as number) - (sink(before, 'local') as number), dropped }
}

export interface LatencyRow {
  rate: number
  seconds: number
  /** Publishes the sensors sent, and those PUBACKed before the generator closed its sockets. */
  sent: number
  acked: number
  /** Readings s1's stream sink sealed and wrote to the other stream peers during the phase (per reading). */
  relayed: number
  /** Distinct readings the subscriber at s2 received; lost = relayed − delivered. */
  delivered: number
  lost: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  pubackP50Ms: number
  pubackP99Ms: number
  sendLateP99Ms: number
  /** s1's acceptance of a reading → its sealed envelope, from s1's own histogram (interpolated in its buckets). */
  sealingLagP50Ms?: number
  sealingLagP99Ms?: number
  counters?: Record<string, unknown>
}
export interface FanoutRow { rate: number, subscribers: number, seconds: number, acked: number, relayed: number, deliveries: number, lost: number, subscribersWithLoss: number, minPerSubscriber: number, p50Ms: number, p99Ms: number, maxMs: number }
export interface MemoryRow { applications: number, idleKiB: number, connectedKiB: number, perApplicationKiB: number, clients?: number }

// ------------------------------------------------------------------ floors: raw Aedes in one process

/** publisher → Aedes → subscriber(s), QoS 1, one process; latency from the scheduled send, after the warm-up. */
export async function aedesFloor (rate: number, subscribers: number, payloadBytes: number, warmupSeconds: number, seconds: number): Promise<{ sent: number, perSubscriber: number[], p50Ms: number, p99Ms: number, maxMs: number }> {
  const aedes = await Aedes.createBroker({})
  const server = createServer({ noDelay: true }, socket => { aedes.handle(socket) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
  const subs: MqttClient[] = []
  const latencies: number[] = []
  const counts: number[] = []
  let measureFrom = Infinity
  let measureTo = Infinity
  try {
    for (let i = 0; i < subscribers; i++) {
      const c = await mqttClient(url, { clientId: `floor-sub-${i}` })
      const at = counts.push(0) - 1
      c.on('message', (_topic, payload) => {
        const now = performance.now()
        const scheduled = payload.readDoubleLE(0)
        counts[at]!++
        if (scheduled >= measureFrom && scheduled < measureTo) latencies.push(now - scheduled)
      })
      await subscribe(c, 'bench/#')
      subs.push(c)
    }
    // the publisher: QoS 1 packets built once and stamped with their scheduled time (as cheap as
    // the sensors' child process), retained like the broker's injected readings
    const pub = netConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, noDelay: true })
    await new Promise<void>((resolve, reject) => { pub.once('connect', resolve); pub.once('error', reject) })
    const templates = Array.from({ length: LATENCY_SENSORS }, (_, i) => mqttPacket(0x33, Buffer.concat([mqttString(`bench/${i}`), Buffer.from([0, 0]), Buffer.alloc(payloadBytes)])))
    let acked = 0
    let connacked = false
    let carry: Buffer = Buffer.alloc(0)
    pub.on('data', (chunk: Buffer) => {
      // CONNACK then PUBACKs, 4 bytes each
      const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
      let at = 0
      for (; at + 4 <= data.length; at += 4) { if (data[at] === 0x20) connacked = true; else if (data[at] === 0x40) acked++ }
      carry = data.subarray(at)
    })
    pub.write(mqttPacket(0x10, Buffer.concat([mqttString('MQTT'), Buffer.from([4, 0x02, 0, 60]), mqttString('floor-pub')])))
    await until('the floor publisher\'s CONNACK', () => connacked ? true : undefined, 10_000, 10)
    const t0 = performance.now()
    measureFrom = t0 + warmupSeconds * 1000
    measureTo = measureFrom + seconds * 1000
    let issued = 0
    await new Promise<void>(resolve => {
      const timer = setInterval(() => {
        const now = performance.now()
        const due = Math.floor((Math.min(now, measureTo) - t0) * rate / 1000)
        for (; issued < due; issued++) {
          const template = templates[issued % LATENCY_SENSORS] as Buffer
          const packet = Buffer.allocUnsafe(template.length)
          template.copy(packet)
          const id = (issued % 65535) + 1
          packet.writeUInt16BE(id, template.length - payloadBytes - 2)
          packet.writeDoubleLE(t0 + issued * 1000 / rate, template.length - payloadBytes)
          pub.write(packet)
        }
        if (now >= measureTo) { clearInterval(timer); resolve() }
      }, 1)
    })
    await until('the floor\'s publishes acknowledged', () => acked >= issued ? true : undefined, 30_000, 20).catch(() => {})
    pub.destroy()
    const deadline = performance.now() + 10_000
    while (counts.some(c => c < issued) && performance.now() < deadline) await sleep(50)
    return { sent: issued, perSubscriber: counts, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), maxMs: largest(latencies) }
  } finally {
    await Promise.all(subs.map(async c => { await c.endAsync(true).catch(() => {}) }))
    await new Promise<void>(resolve => { aedes.close(() => { resolve() }) })
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }
}

function mqttString (text: string): Buffer {
  const b = Buffer.from(text, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}
function mqttPacket (type: number, body: Buffer): Buffer {
  const len: number[] = []
  let n = body.length
  do { let d = n % 128; n = Math.floor(n / 128); if (n > 0) d |= 0x80; len.push(d) } while (n > 0)
  return Buffer.concat([Buffer.from([type, ...len]), body])
}

/** `count` applications connected to `url` from 25 loopback addresses, each subscribed to `topic`. */
async function connectApplications (url: string, count: number, login: (i: number) => { username?: string, password?: string }, topic: string, tag: string): Promise<MqttClient[]> {
  const clients: MqttClient[] = []
  for (let at = 0; at < count; at += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, count - at) }, async (_, j) => {
      const i = at + j
      const c = await mqttClient(url, { ...login(i), clientId: `${tag}-${i}`, localAddress: `127.0.0.${2 + (i % APP_ADDRESSES)}` })
      await subscribe(c, topic)
      return c
    }))
    clients.push(...batch)
  }
  return clients
}

async function aedesMemoryFloor (count: number): Promise<MemoryRow> {
  const child = spawn(process.execPath, [new URL('./stream-load.ts', import.meta.url).pathname, '--aedes'], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (c: Buffer) => { resolve((JSON.parse(c.toString()) as { port: number }).port) })
      child.once('close', code => { reject(new Error(`aedes floor exited with ${code}`)) })
    })
    const idleKiB = await steadyRss(child.pid)
    const clients = await connectApplications(`mqtt://127.0.0.1:${port}`, count, () => ({}), 'sensors/+/readings', 'floor-app')
    const connectedKiB = await steadyRss(child.pid)
    await Promise.all(clients.map(async c => { await c.endAsync(true).catch(() => {}) }))
    return { applications: count, idleKiB, connectedKiB, perApplicationKiB: (connectedKiB - idleKiB) / count }
  } finally {
    child.kill('SIGTERM')
  }
}

// ------------------------------------------------------------------ the run

export async function run (opts: { quick?: boolean, seconds?: number } = {}): Promise<Record<string, unknown>> {
  const quick = opts.quick === true
  const seconds = opts.seconds ?? (quick ? 4 : 15)
  const warmupSeconds = quick ? 1 : 2
  const loadBefore = loadavg()
  const dir = await mkdtemp(join(tmpdir(), 'gm-bench-stream-'))
  let net: Network | undefined
  const open: MqttClient[] = []
  const closeAll = async (clients: MqttClient[]): Promise<void> => {
    await Promise.all(clients.map(async c => { await c.endAsync(true).catch(() => {}) }))
    for (const c of clients) open.splice(open.indexOf(c), 1)
  }
  const latency: LatencyRow[] = []
  const floors: Record<string, unknown> = {}
  let fanout: FanoutRow | undefined
  let memory: MemoryRow | undefined
  let memoryFloor: MemoryRow | undefined
  try {
    net = await startNetwork({
      dir,
      gateways: [
        { name: 's1', services: ['stream', 'collector', 'access'] },
        { name: 's2', services: ['stream'] },
        { name: 's3', services: ['stream'] }
      ],
      gatewayArgs: ['--admin-port', '0', '--exchange-timeout', '3000'],
      env: { GATEMESH_LOG_LEVEL: 'warn' },
      readyTimeoutMs: 120_000
    })
    const [s1, s2, s3] = net.gateways as [RunningGateway, RunningGateway, RunningGateway]
    const streamUrl = (gw: RunningGateway): string => gw.ready.stream?.mqtt as string

    // the sensors' owner and the reader every application logs in as
    const client = createClient({ gateway: s1.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS, suite })
    const sessions: Session[] = []
    for (const who of ['owner', 'reader']) {
      const password = `bench stream ${who}`
      sessions.push(await client.resume((await client.signup(password)).bundle, password))
    }
    const [owner, reader] = sessions as [Session, Session]
    const token = await reader.streamToken({ ttlSeconds: 3 * 3600 })
    const asReader = (): { username: string, password: string } => ({ username: reader.pseudonym, password: token })
    const addSensor = async (id: string): Promise<{ id: string, credential: string }> => {
      const { credential, verifier } = await createSensorCredential(suite)
      const r = reader.identity
      const record = await createSensorRecord(suite, owner.identity, { sensorId: id, verifier, seq: 1, readers: [{ pseudonym: r.pseudonym, sigPub: r.sigPub, encPub: r.encPub }] })
      const res = await fetch(`${s1.ready.admin}/v1/dht${recordKey(NAMESPACES.sensor, id)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(record) })
      if (!res.ok) throw new Error(`sensor ${id}: ${res.status} ${await res.text()}`)
      return { id, credential }
    }
    // 8 sensor-record puts at a time, as bench/persistence.ts adds its sensors (64 at once once
    // overran kad-dht's default of 32 DHT streams per connection, now 256, [OVL-9])
    const sensors: Array<{ id: string, credential: string }> = []
    for (const group of chunks(Array.from({ length: LATENCY_SENSORS }, (_, i) => `bench-stream-${i}`), 8)) sensors.push(...await Promise.all(group.map(addSensor)))
    const fanSensor = await addSensor('bench-fan')
    const collectorPort = Number(new URL(s1.ready.collector?.mqtt as string).port)
    log('network, users and sensors ready')

    // the subscriber at s2; warm-up until readings flow s1 → s2 (the relay streams open)
    const subscriber = await mqttClient(streamUrl(s2), { ...asReader(), clientId: 'bench-subscriber' })
    open.push(subscriber)
    await subscribe(subscriber, 'sensors/+/readings')
    const sub = tap(subscriber)
    await until('readings reach s2', async () => {
      await sensorLoad({ port: collectorPort, sensors: sensors.slice(0, 4), rate: 200, warmupSeconds: 0.5, seconds: 1 })
      return sub.seen.size > 0 ? true : undefined
    }, 120_000, 0)
    await until('s3 relays', async () => (pick(await serviceStatus(s3), 'stream', 'relay', 'delivered') as number) > 0 ? true : undefined, 30_000)
    log('readings flow between the stream peers')

    // ---------------------------------------------------------------- 3. memory (before any heavy load)
    const idleKiB = await steadyRss(s3.child.pid)
    const apps = await connectApplications(streamUrl(s3), APPLICATIONS, asReader, 'sensors/+/readings', 'bench-app')
    open.push(...apps)
    const clients = pick(await serviceStatus(s3), 'stream', 'broker', 'clients') as number
    const connectedKiB = await steadyRss(s3.child.pid)
    await closeAll(apps)
    memory = { applications: APPLICATIONS, idleKiB, connectedKiB, perApplicationKiB: (connectedKiB - idleKiB) / APPLICATIONS, clients }
    log(`memory of s3: ${idleKiB} KiB idle, ${connectedKiB} KiB with ${clients} applications`)

    // ---------------------------------------------------------------- 1. sensor → subscriber at another stream peer
    for (const rate of RATES) {
      clear(sub)
      const before = { s1: await serviceStatus(s1), s2: await serviceStatus(s2) }
      const metricsBefore = await scrapeMetrics(s1)
      const load = await sensorLoad({ port: collectorPort, sensors, rate, warmupSeconds, seconds })
      const sealed = sealingLag(metricsBefore, await scrapeMetrics(s1))
      const from = load.firstSendAt - 1
      await settle([sub], from)
      const w = inWindow(sub, from, load.measureFrom, load.measureTo)
      const after = { s1: await serviceStatus(s1), s2: await serviceStatus(s2) }
      const sink = sinkDiff(before.s1, after.s1)
      const diff = (a: unknown, b: unknown): Record<string, number> => Object.fromEntries(Object.entries((b ?? {}) as Record<string, number>).map(([k, v]) => [k, v - (((a ?? {}) as Record<string, number>)[k] ?? 0)]))
      const row: LatencyRow = {
        rate,
        seconds,
        sent: load.sent,
        acked: load.acked,
        relayed: sink.relayed,
        delivered: w.delivered,
        lost: Math.max(0, sink.relayed - w.delivered),
        p50Ms: quantile(w.latencies, 0.5),
        p99Ms: quantile(w.latencies, 0.99),
        maxMs: largest(w.latencies),
        pubackP50Ms: load.pubackP50,
        pubackP99Ms: load.pubackP99,
        sendLateP99Ms: load.sendLateP99,
        sealingLagP50Ms: sealed.p50Ms,
        sealingLagP99Ms: sealed.p99Ms,
        counters: {
          s1SinkDropped: sink.dropped,
          s2BrokerDropped: diff(pick(before.s2, 'stream', 'broker', 'dropped'), pick(after.s2, 'stream', 'broker', 'dropped')),
          s2RelayIgnored: (pick(after.s2, 'stream', 'relay', 'ignored') as number) - (pick(before.s2, 'stream', 'relay', 'ignored') as number),
          s2RelayRejected: diff(pick(before.s2, 'stream', 'relay', 'rejected'), pick(after.s2, 'stream', 'relay', 'rejected'))
        }
      }
      latency.push(row)
      log(JSON.stringify(row))
    }
    const payloadBytes = sub.payloadBytes

    // ---------------------------------------------------------------- 2. fan-out
    const fanTaps: Tap[] = []
    const fanClients: MqttClient[] = []
    const peers = [s1, s2, s3]
    for (let i = 0; i < FANOUT_SUBSCRIBERS; i++) {
      const c = await mqttClient(streamUrl(peers[i % 3] as RunningGateway), { ...asReader(), clientId: `bench-fan-${i}` })
      open.push(c)
      fanClients.push(c)
      fanTaps.push(tap(c))
      await subscribe(c, `sensors/${fanSensor.id}/readings`)
    }
    const fanBefore = await serviceStatus(s1)
    const fanLoad = await sensorLoad({ port: collectorPort, sensors: [fanSensor], rate: FANOUT_RATE, warmupSeconds, seconds })
    const fanFrom = fanLoad.firstSendAt - 1
    await settle(fanTaps, fanFrom)
    const fanSink = sinkDiff(fanBefore, await serviceStatus(s1))
    // every reading goes to s2 and s3 by the relay and to s1's own broker directly ([STR-36])
    const expected = Math.max(fanSink.relayed, fanSink.local)
    const perSub = fanTaps.map(t => inWindow(t, fanFrom, fanLoad.measureFrom, fanLoad.measureTo))
    const fanLatencies = perSub.flatMap(w => w.latencies)
    fanout = {
      rate: FANOUT_RATE,
      subscribers: FANOUT_SUBSCRIBERS,
      seconds,
      acked: fanLoad.acked,
      relayed: expected,
      deliveries: perSub.reduce((n, w) => n + w.delivered, 0),
      lost: perSub.reduce((n, w) => n + Math.max(0, expected - w.delivered), 0),
      subscribersWithLoss: perSub.filter(w => w.delivered < expected).length,
      minPerSubscriber: Math.min(...perSub.map(w => w.delivered)),
      p50Ms: quantile(fanLatencies, 0.5),
      p99Ms: quantile(fanLatencies, 0.99),
      maxMs: largest(fanLatencies)
    }
    log(JSON.stringify(fanout))
    await closeAll(fanClients)
    await closeAll([subscriber])
    await net.stop()
    net = undefined

    // ---------------------------------------------------------------- floors: raw Aedes (the network is down)
    for (const rate of RATES) {
      const f = await aedesFloor(rate, 1, payloadBytes, warmupSeconds, seconds)
      floors[`latency-${rate}`] = { ...f, lost: f.sent - (f.perSubscriber[0] ?? 0), perSubscriber: undefined }
      log(`floor ${rate}/s: p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms`)
    }
    const ff = await aedesFloor(FANOUT_RATE, FANOUT_SUBSCRIBERS, payloadBytes, warmupSeconds, seconds)
    floors.fanout = { sent: ff.sent, lost: ff.perSubscriber.reduce((n, c) => n + Math.max(0, ff.sent - c), 0), p50Ms: ff.p50Ms, p99Ms: ff.p99Ms, maxMs: ff.maxMs }
    memoryFloor = await aedesMemoryFloor(APPLICATIONS)
    floors.memory = memoryFloor
    floors.payloadBytes = payloadBytes
  } finally {
    await Promise.all(open.map(async c => { await c.endAsync(true).catch(() => {}) }))
    if (net !== undefined) await net.stop().catch(() => [])
    await rm(dir, { recursive: true, force: true })
  }
  const result = { quick, seconds, warmupSeconds, loadAverage: { before: loadBefore, after: loadavg() }, latency, fanout, memory, floors, targets: TARGET }
  write(result)
  return result
}

const ms = (v: number | undefined): string => v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(1)
const mib = (kib: number): string => (kib / 1024).toFixed(1)

function write (result: { quick: boolean, seconds: number, loadAverage: { before: number[], after: number[] }, latency: LatencyRow[], fanout?: FanoutRow, memory?: MemoryRow, floors: Record<string, unknown> }): void {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL('stream.json', dir), JSON.stringify({ title: 'Stream: sensor to subscriber, fan-out, memory', environment: environment(), ...result }, null, 2) + '\n')
  const floor = (key: string): { p50Ms: number, p99Ms: number, maxMs: number, lost: number } | undefined => result.floors[key] as never
  const load = (l: number[]): string => l.map(x => x.toFixed(2)).join(' ')
  const lines = [
    '# Stream: sensor → subscriber at another stream peer, fan-out, memory', '',
    `Node ${process.version}, ${cpus().length} cores. Load average ${load(result.loadAverage.before)} before, ${load(result.loadAverage.after)} after.${result.quick ? ' Quick run.' : ''} ${result.seconds} s measured per phase after a warm-up. Three stream peers (gateway processes): s1 also collects; the subscriber is at s2. Latency: the collector's receive time (the envelope's ts, ms) → arrival at the subscriber; floor: publisher → raw Aedes → subscriber in one process, QoS 1, same rate and payload size (${String(result.floors.payloadBytes)} bytes).`, '',
    '| figure | sent / PUBACKed | sealed and relayed | delivered | lost | p50 ms | p99 ms | max ms | of which accepted → sealed at s1, p50 / p99 ms | sensor PUBACK p50 / p99 ms | floor p50 / p99 ms (raw Aedes) | target |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...result.latency.map(r => {
      const f = floor(`latency-${r.rate}`)
      return `| ${r.rate} readings/s, 1 subscriber at another peer | ${r.sent} / ${r.acked} | ${r.relayed} | ${r.delivered} | ${r.lost} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} | ${ms(r.sealingLagP50Ms)} / ${ms(r.sealingLagP99Ms)} | ${ms(r.pubackP50Ms)} / ${ms(r.pubackP99Ms)} | ${ms(f?.p50Ms)} / ${ms(f?.p99Ms)} | p50 < ${TARGET.p50Ms}, p99 < ${TARGET.p99Ms} |`
    }),
    ...(result.fanout === undefined
      ? []
      : [(() => {
          const r = result.fanout
          const f = floor('fanout')
          return `| fan-out: ${r.rate} readings/s to ${r.subscribers} subscribers over 3 peers (QoS 1) | ${r.acked} PUBACKed | ${r.relayed} | ${r.deliveries} (≥ ${r.minPerSubscriber} each) | ${r.lost} (${r.subscribersWithLoss} subscribers short) | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${ms(r.maxMs)} | | | ${ms(f?.p50Ms)} / ${ms(f?.p99Ms)} | p99 < ${TARGET.fanoutP99Ms}, none lost |`
        })()]),
    '',
    ...(result.memory === undefined
      ? []
      : [
          '| memory (VmRSS) | idle | 1 000 applications connected and subscribed | per application |',
          '|---|---:|---:|---:|',
          `| stream peer s3 | ${mib(result.memory.idleKiB)} MiB | ${mib(result.memory.connectedKiB)} MiB | ${result.memory.perApplicationKiB.toFixed(1)} KiB |`,
          ...(result.floors.memory === undefined ? [] : [(() => { const m = result.floors.memory as MemoryRow; return `| floor: bare Aedes process | ${mib(m.idleKiB)} MiB | ${mib(m.connectedKiB)} MiB | ${m.perApplicationKiB.toFixed(1)} KiB |` })()])
        ]),
    '',
    'Latency counts from the collector\'s receive time in whole ms (the envelope\'s ts), so it reads up to 1 ms high; the sensor\'s own publish → PUBACK is the leg before it. Accepted → sealed is the first stage of that latency, from s1\'s `gatemesh_collector_sealing_lag_seconds` histogram scraped before and after the phase (interpolated inside its buckets: 1, 2.5, 5, 10, 25, 50, 100, 250 ms ...); the rest is s1\'s stream sink, the relay and s2\'s broker. Sealed and relayed = readings s1\'s stream sink wrote to the other stream peers\' relay streams in the phase (per reading: its count over the stream peers it links to) (PUBACKs still owed when the generator closed its sockets are not counted as PUBACKed, but the collector took those readings); lost = relayed − distinct readings received (per subscriber in the fan-out). Live delivery is best effort: the counters in stream.json say where readings were dropped (s2\'s broker: `overload` = past its bound of injections in flight, [STR-15]).'
  ]
  writeFileSync(new URL('stream.md', dir), lines.join('\n') + '\n')
  console.log(lines.join('\n') + '\n')
}
