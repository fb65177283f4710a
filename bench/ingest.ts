/**
 * Scenario "ingest": readings per second one collector accepts over HTTP (one reading per request,
 * many keep-alive connections) and MQTT (QoS 1 pipelined, QoS 0), sealing for 1, 3 and 5
 * recipients, and the latency (p50, p99) at half the measured maximum; each beside raw Fastify (a
 * route that answers 202 and does nothing) and raw Aedes (no auth, no sealing) in the same run;
 * the PUBACK latency also beside the raw collectors of bench/raw-collector.ts (raw Aedes with a
 * raw sealing thread, with and without a raw SQLite journal).
 * This process is the gateway; the load comes from a child process (`--load`) on the same cores,
 * speaking HTTP/1.1 and MQTT 3.1.1 over raw sockets so the client costs little. Throughput is
 * closed-loop (32 HTTP connections with one request each; 16 MQTT connections with 64 publishes
 * in flight each; for QoS 0 every 16th publish is QoS 1 and its in-order PUBACK stands for the
 * QoS 0 ones before it); latency is open-loop at a fixed rate, counted from the scheduled send.
 * Last, the sustainable MQTT QoS 1 rate (3 recipients) of the collector and of raw Aedes: the
 * highest rate whose PUBACK p99 stays under 50 ms over a phase, found by a search of a few phases
 * at fixed rates (bench/sustainable.ts), beside the burst throughput; it adds up to 8 steps a side
 * (about 2.5 min each at 15 s a step; raw Aedes, which holds up to the cap, takes fewer).
 * Writes bench/results/ingest.json and bench/results/ingest.md.
 *
 *   node bench/ingest.ts [--quick] [--seconds N] [--step-seconds N] [--seal-workers N]
 *   node bench/ingest.ts --puback-at 5000 [--seconds 15]   (only the PUBACK latency phase at that rate; prints JSON)
 *   node bench/ingest.ts --sustainable [--step-seconds N]  (only the sustainable-rate search, after a burst
 *       phase of each side; writes bench/results/ingest-sustainable.json and .md)
 * The same through `npm run bench -- ingest [--sustainable] [...]`.
 * --seconds: each phase's measured time (default 5, 1.5 with --quick; the warm-up stays); a p99
 * over 15 s varies less. --step-seconds: each step of the sustainable-rate search (default 15, the
 * definition of the rate; else --seconds when given, 3 with --quick). --seal-workers: the
 * collector's sealing threads, fixed.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { PerformanceObserver, constants as perfConstants, monitorEventLoopDelay } from 'node:perf_hooks'
import { join } from 'node:path'
import { createSensorCredential, createSensorRecord, generateIdentity, utf8 } from '../src/core/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createLogger } from '../src/platform/logger.ts'
import { createCachedSensorDirectory, createCollector, readingTopic } from '../src/gateway/collector/index.ts'
import { createLatestPublisher } from '../src/gateway/latest/index.ts'
import { environment, numberOption, v8PoolSize, withGatewayV8Pool } from './harness.ts'
import { startRawBroker, startRawCollector, startRawHttp } from './raw-collector.ts'
import { searchSustainableRate, sustainMarkdown, type SustainSearch } from './sustainable.ts'

/** The throughput targets (readings/s, 3 recipients); latency is measured at half of each. */
const MQTT_TARGET = 10_000
const HTTP_TARGET = 5_000
const READING = JSON.stringify({ temperature: 21.5, humidity: 40.2, battery: 3.31 })

// ---------------------------------------------------------------- load generator (child process)

interface Target { path?: string, topic?: string, user?: string, password?: string }
interface LoadPlan { proto: 'http' | 'mqtt', port: number, targets: Target[], connections: number, window: number, qos: 0 | 1, seconds: number, warmup: number, rate?: number }
interface LoadResult { done: number, errors: number, seconds: number, perSecond: number, p50?: number, p99?: number, loopDelayP99?: number, loopDelayMax?: number, loadCpuPercent?: number, sendLateP99?: number, sealLagMs?: number, mainThreadCpuPercent?: number, gcMajor?: number, gcMaxMs?: number }

function mqttString (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}
function mqttLength (n: number): Buffer {
  const out: number[] = []
  do { let d = n % 128; n = Math.floor(n / 128); if (n > 0) d |= 0x80; out.push(d) } while (n > 0)
  return Buffer.from(out)
}
function mqttPacket (type: number, body: Buffer): Buffer { return Buffer.concat([Buffer.from([type]), mqttLength(body.length), body]) }

/** One connection: `send()` issues one request/publish; `onDone(startedAt)` is told of each answer. */
interface Conn { send: (startedAt: number) => void, inFlight: number, close: () => void }

async function openConn (plan: LoadPlan, target: Target, index: number, onDone: (startedAt: number, ok: boolean) => void): Promise<Conn> {
  const socket: Socket = connect(plan.port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  socket.on('error', () => {})
  const pending: number[] = []
  let buf: Buffer = Buffer.alloc(0)
  const conn: Conn = { inFlight: 0, send: () => {}, close: () => socket.destroy() }
  if (plan.proto === 'http') {
    const body = Buffer.from(READING)
    const request = Buffer.from(`POST ${target.path ?? '/'} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      (target.password === undefined ? '' : `Authorization: Bearer ${target.password}\r\n`) + `Content-Length: ${body.length}\r\n\r\n${READING}`)
    conn.send = (startedAt) => { pending.push(startedAt); conn.inFlight++; socket.write(request) }
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.toString('latin1', 0, end)
        const total = end + 4 + Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        if (buf.length < total) return
        const ok = head.startsWith('HTTP/1.1 202')
        buf = buf.subarray(total)
        conn.inFlight--
        onDone(pending.shift() as number, ok)
      }
    })
    return conn
  }
  const connack = new Promise<void>((resolve, reject) => {
    const flags = (target.user === undefined ? 0 : 0xc0) | 0x02
    const payload = [mqttString(`bench-${process.pid}-${index}`), ...(target.user === undefined ? [] : [mqttString(target.user), mqttString(target.password ?? '')])]
    socket.write(mqttPacket(0x10, Buffer.concat([mqttString('MQTT'), Buffer.from([4, flags, 0, 60]), ...payload])))
    socket.once('close', () => reject(new Error('closed before CONNACK')))
    const topic = mqttString(target.topic ?? 'bench')
    const reading = Buffer.from(READING)
    // the packets are built once: a QoS 0 publish is the same bytes every time, a QoS 1 one a
    // copy with its packet id set (the generator's garbage, and with it its GC threads, take
    // CPU from the gateway and the baseline alike)
    const qos0 = mqttPacket(0x30, Buffer.concat([topic, reading]))
    const qos1 = mqttPacket(0x32, Buffer.concat([topic, Buffer.from([0, 0]), reading]))
    const idAt = qos1.length - reading.length - 2
    let nextId = 1
    // QoS 0 has no answer: every 16th publish is QoS 1, and its PUBACK (in order, [MQTT-4.6.0-2])
    // stands for the QoS 0 publishes before it, which gives QoS 0 flow control
    let unacked: number[] = []
    const barriers: Array<number[] | undefined> = []
    conn.send = (startedAt) => {
      conn.inFlight++
      if (plan.qos === 0 && unacked.length < 15) { unacked.push(startedAt); socket.write(qos0); return }
      const id = nextId; nextId = nextId === 65535 ? 1 : nextId + 1
      pending[id] = startedAt
      if (plan.qos === 0) { barriers[id] = unacked; unacked = [] }
      const packet = Buffer.allocUnsafe(qos1.length)
      qos1.copy(packet)
      packet[idAt] = id >> 8
      packet[idAt + 1] = id & 0xff
      socket.write(packet)
    }
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      let at = 0
      while (buf.length - at >= 2) {
        const type = buf[at] as number
        const len = buf[at + 1] as number // PUBACK and CONNACK are 2-byte bodies
        if (buf.length - at < 2 + len) break
        if (type === 0x20) { if (buf[at + 3] === 0) resolve(); else reject(new Error(`CONNACK ${buf[at + 3]}`)) }
        if (type === 0x40) {
          const id = ((buf[at + 2] as number) << 8) | (buf[at + 3] as number)
          const barrier = barriers[id]
          if (barrier !== undefined) { barriers[id] = undefined; for (const startedAt of barrier) { conn.inFlight--; onDone(startedAt, true) } }
          conn.inFlight--
          onDone(pending[id] as number, true)
        }
        at += 2 + len
      }
      buf = at === buf.length ? Buffer.alloc(0) : buf.subarray(at)
    })
  })
  await connack
  return conn
}

/** A growing array of doubles that leaves no garbage per sample. */
class Samples {
  private values = new Float64Array(1 << 16)
  length = 0
  push (value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2)
      grown.set(this.values)
      this.values = grown
    }
    this.values[this.length++] = value
  }

  /** The q-quantile (nearest rank), NaN when empty. */
  quantile (q: number): number {
    if (this.length === 0) return Number.NaN
    const sorted = this.values.subarray(0, this.length).sort()
    return sorted[Math.min(this.length - 1, Math.ceil(q * this.length) - 1)] as number
  }
}

async function generateLoad (plan: LoadPlan): Promise<LoadResult> {
  let done = 0
  let errors = 0
  let measuring = false
  const latencies = new Samples()
  const late = new Samples()
  const conns: Conn[] = []
  // closed loop: keep `window` requests in flight on every connection
  const refill = (): void => { for (const c of conns) while (c.inFlight < plan.window) c.send(performance.now()) }
  const closedLoop = plan.rate === undefined
  const onDone = (startedAt: number, ok: boolean): void => {
    if (measuring) { if (ok) { done++; latencies.push(performance.now() - startedAt) } else errors++ }
    if (closedLoop) refill()
  }
  for (let i = 0; i < plan.connections; i++) conns.push(await openConn(plan, plan.targets[i % plan.targets.length] as Target, i, onDone))
  let timer: ReturnType<typeof setInterval> | undefined
  if (plan.rate !== undefined) {
    // open loop at a fixed rate; latency counts from the scheduled time (no coordinated omission)
    const rate = plan.rate
    const t0 = performance.now()
    let issued = 0
    let next = 0
    timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) * rate / 1000)
      for (; issued < due; issued++) {
        const scheduled = t0 + issued * 1000 / rate
        const conn = conns[next++ % conns.length] as Conn
        // how late the generator itself sends: a stall here (the machine busy) is latency too
        if (measuring) late.push(performance.now() - scheduled)
        conn.send(scheduled)
      }
    }, 1)
  } else {
    refill()
  }
  await new Promise(resolve => setTimeout(resolve, plan.warmup * 1000))
  measuring = true
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await new Promise(resolve => setTimeout(resolve, plan.seconds * 1000))
  measuring = false
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  clearInterval(timer)
  for (const c of conns) c.close()
  return { done, errors, seconds, perSecond: done / seconds, p50: latencies.quantile(0.5), p99: latencies.quantile(0.99), loadCpuPercent: (cpu.user + cpu.system) / 1e4 / seconds, sendLateP99: late.length === 0 ? undefined : late.quantile(0.99) }
}

// ---------------------------------------------------------------- the gateway side (this process)

async function load (plan: LoadPlan): Promise<LoadResult> {
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--load', JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (code !== 0) throw new Error(`load generator exited with ${code}`)
  return JSON.parse(out) as LoadResult
}

export interface IngestRow { scenario: string, recipients?: number, gatemesh: LoadResult, baseline: LoadResult, baselineName: string, gatewayCpuPercent?: number, baselineCpuPercent?: number }

export interface IngestOptions {
  quick?: boolean
  /** Only the MQTT PUBACK latency phase (3 recipients) at this rate, for tuning; writes nothing. */
  pubackAt?: number
  /** Sealing threads in the gateway (default: the collector's). */
  sealWorkers?: number
  /** Measured seconds of each phase (default 5, 1.5 quick): a p99 over longer phases varies less. */
  seconds?: number
  /** Only the sustainable-rate search (after a burst phase of each side); writes ingest-sustainable.json/.md. */
  sustainable?: boolean
  /** Measured seconds of each step of the sustainable-rate search (default 15; else `seconds` when given, 3 quick). */
  stepSeconds?: number
}

export interface IngestResults { rows: IngestRow[], sustainable: SustainSearch[] }

export async function run (options: IngestOptions = {}): Promise<IngestResults> {
  const quick = options.quick ?? false
  const seconds = options.seconds ?? (quick ? 1.5 : 5)
  const stepSeconds = options.stepSeconds ?? options.seconds ?? (quick ? 3 : 15)
  const warmup = quick ? 0.5 : 1
  const suite = createNodeCryptoSuite()
  const dir = await mkdtemp(join(tmpdir(), 'gm-bench-ingest-'))
  const loadBefore = loadavg()
  const people = await Promise.all([0, 1, 2, 3, 4].map(async () => await generateIdentity(suite)))
  /** The sensor records as the DHT would hold them: the collector looks them up through its cache, as in a gateway. */
  const records = new Map<string, Uint8Array>()
  const targets = new Map<number, Target[]>()
  for (const recipients of [1, 3, 5]) {
    const list: Target[] = []
    for (let i = 0; i < 16; i++) {
      const sensorId = `bench-r${recipients}-${i}`
      const { credential, verifier } = await createSensorCredential(suite)
      records.set(sensorId, await createSensorRecord(suite, people[0]!, { sensorId, readers: people.slice(1, recipients), verifier, seq: 1 }))
      list.push({ path: `/v1/sensors/${sensorId}/readings`, topic: readingTopic(sensorId), user: sensorId, password: credential })
    }
    targets.set(recipients, list)
  }
  const seed = suite.randomBytes(32)
  const signer = await suite.importSigningKey(seed)
  const logger = createLogger('gatemesh:bench', { level: 'warn' })
  const latest = createLatestPublisher({ suite, signer, certificate: new Uint8Array(64), put: async () => {}, logger })
  latest.start()
  const collector = createCollector({ suite, signingSeed: seed, sensors: createCachedSensorDirectory({ suite, fetch: async id => records.get(id) }), sinks: [latest, { name: 'count', retriesItself: true, deliver: async readings => { handed += readings.length } }], logger },
    { dataDir: join(dir, 'data'), http: { port: 0 }, mqtt: { port: 0 }, rateLimit: { perSecond: 1e6, burst: 1e6 }, maxPending: 100_000, sealWorkers: options.sealWorkers })
  await collector.start()

  // raw Fastify: parses the JSON body and answers 202; raw Aedes: no authentication, no sealing
  const rawFastify = await startRawHttp()
  const fastifyPort = rawFastify.port
  const rawAedes = await startRawBroker()
  const aedesPort = rawAedes.port
  // raw collectors: raw Aedes with a raw sealing thread, acknowledging at once or after a raw SQLite journal
  const rawSealing = await startRawCollector({ recipients: 3 })
  const rawJournal = await startRawCollector({ recipients: 3, journal: join(dir, 'raw-journal.db') })

  const rows: IngestRow[] = []
  let sustainable: SustainSearch[] = []
  let handed = 0
  const base = { seconds, warmup, qos: 1 as const }
  const http = (port: number, t: Target[], rate?: number): LoadPlan => ({ ...base, proto: 'http', port, targets: t, connections: 32, window: 1, rate })
  const mqtt = (port: number, t: Target[], qos: 0 | 1, rate?: number): LoadPlan => ({ ...base, proto: 'mqtt', port, targets: t, connections: 16, window: 64, qos, rate })
  const timed = async (plan: LoadPlan): Promise<{ result: LoadResult, cpu: number }> => {
    const before = process.cpuUsage()
    const threadBefore = process.threadCpuUsage()
    const wall = performance.now()
    // the gateway's event-loop delay: stalls (disk, CPU starvation) show here
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    // the event loop's GC pauses: full collections (mark-compacts) are the long ones
    let gcMajor = 0
    let gcMaxMs = 0
    const gc = new PerformanceObserver(list => {
      for (const e of list.getEntries()) {
        if (((e as unknown as { detail?: { kind?: number } }).detail)?.kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) gcMajor++
        gcMaxMs = Math.max(gcMaxMs, e.duration)
      }
    })
    gc.observe({ entryTypes: ['gc'] })
    const result = await load(plan)
    delay.disable()
    await new Promise(resolve => setImmediate(resolve))
    gc.disconnect()
    result.gcMajor = gcMajor
    result.gcMaxMs = gcMaxMs
    const used = process.cpuUsage(before)
    const thread = process.threadCpuUsage(threadBefore)
    // sealing follows the acknowledgement ([COL-7]): how long after the load stopped the last
    // reading was sealed and handed off (0 when sealing kept up)
    const ended = performance.now()
    let last = handed
    let lastAt = ended
    for (let quiet = 0; quiet < 3;) {
      await new Promise(resolve => setTimeout(resolve, 20))
      if (handed === last) quiet++
      else { last = handed; lastAt = performance.now(); quiet = 0 }
    }
    result.sealLagMs = lastAt - ended
    result.mainThreadCpuPercent = 100 * (thread.user + thread.system) / 1000 / (ended - wall)
    result.loopDelayP99 = delay.percentile(99) / 1e6
    result.loopDelayMax = delay.max / 1e6
    return { result, cpu: 100 * (used.user + used.system) / 1000 / (ended - wall) }
  }
  try {
    /**
     * The PUBACK latency at `rate` (3 recipients): gatemesh beside raw Aedes and beside the two
     * raw collectors, the least that sealing every reading (and journaling it before the
     * acknowledgement) costs on this machine; the baselines are measured just before gatemesh.
     */
    const pubackRows = async (rate: number, what: string): Promise<IngestRow[]> => {
      const t = targets.get(3) as Target[]
      const scenario = `MQTT PUBACK latency at ${rate}/s (${what}), 3 recipients`
      const baselines = [
        { name: 'raw Aedes', port: aedesPort },
        { name: 'raw Aedes + raw sealing thread', port: rawSealing.port },
        { name: 'raw Aedes + raw SQLite journal + raw sealing thread', port: rawJournal.port }
      ]
      const measured = []
      rawJournal.reset()
      for (const { name, port } of baselines) measured.push({ name, ...await timed(mqtt(port, [{ topic: 'raw' }], 1, rate)) })
      const m = await timed(mqtt(collector.mqttPort as number, t, 1, rate))
      return measured.map(b => ({ scenario, recipients: 3, gatemesh: m.result, baseline: b.result, baselineName: b.name, gatewayCpuPercent: m.cpu, baselineCpuPercent: b.cpu }))
    }
    /**
     * The sustainable MQTT QoS 1 rate (3 recipients) of raw Aedes, then of the collector, each
     * from its burst throughput (bench/sustainable.ts); each step is one phase at a fixed rate.
     */
    const searchSustainable = async (rawBurst: number, burst: number): Promise<SustainSearch[]> => {
      const step = (port: number, t: Target[]) => async (rate: number): Promise<LoadResult> => (await timed({ ...mqtt(port, t, 1, rate), seconds: stepSeconds })).result
      const raw = await searchSustainableRate('raw Aedes', step(aedesPort, [{ topic: 'raw' }]), { burstPerSecond: rawBurst })
      const gatemesh = await searchSustainableRate('gatemesh collector', step(collector.mqttPort as number, targets.get(3) as Target[]), { burstPerSecond: burst })
      return [gatemesh, raw]
    }
    if (options.sustainable === true) {
      // the bursts the searches start from, which also warm the new collector up
      const rawBurst = await timed(mqtt(aedesPort, [{ topic: 'raw' }], 1))
      const burst = await timed(mqtt(collector.mqttPort as number, targets.get(3) as Target[], 1))
      sustainable = await searchSustainable(rawBurst.result.perSecond, burst.result.perSecond)
    } else if (options.pubackAt !== undefined) {
      // a new collector's code is cold (JIT, first contexts): the full run measures latency after
      // its throughput phases, so warm this one up with an unmeasured phase of its own first
      await timed({ ...mqtt(collector.mqttPort as number, targets.get(3) as Target[], 1, options.pubackAt), seconds: 3 })
      const measured = await pubackRows(options.pubackAt, 'only this phase')
      console.log(JSON.stringify(measured))
      return { rows: measured, sustainable }
    } else {
      // each baseline is measured right before the gatemesh phase it stands beside: the machine is shared
      let bursts: { raw: number, gatemesh: number } | undefined
      for (const recipients of [1, 3, 5]) {
        const t = targets.get(recipients) as Target[]
        const rawHttp = await timed(http(fastifyPort, [{ path: '/raw' }]))
        const h = await timed(http(collector.httpPort as number, t))
        rows.push({ scenario: `HTTP, 1 reading/request, ${recipients} recipient(s)`, recipients, gatemesh: h.result, baseline: rawHttp.result, baselineName: 'raw Fastify', gatewayCpuPercent: h.cpu, baselineCpuPercent: rawHttp.cpu })
        const rawMqtt1 = await timed(mqtt(aedesPort, [{ topic: 'raw' }], 1))
        const m1 = await timed(mqtt(collector.mqttPort as number, t, 1))
        rows.push({ scenario: `MQTT QoS 1, ${recipients} recipient(s)`, recipients, gatemesh: m1.result, baseline: rawMqtt1.result, baselineName: 'raw Aedes', gatewayCpuPercent: m1.cpu, baselineCpuPercent: rawMqtt1.cpu })
        if (recipients === 3) bursts = { raw: rawMqtt1.result.perSecond, gatemesh: m1.result.perSecond }
        const rawMqtt0 = await timed(mqtt(aedesPort, [{ topic: 'raw' }], 0))
        const m0 = await timed(mqtt(collector.mqttPort as number, t, 0))
        rows.push({ scenario: `MQTT QoS 0, ${recipients} recipient(s)`, recipients, gatemesh: m0.result, baseline: rawMqtt0.result, baselineName: 'raw Aedes', gatewayCpuPercent: m0.cpu, baselineCpuPercent: rawMqtt0.cpu })
        if (recipients === 3) {
          // latency at half the targets (10 000/s MQTT, 5 000/s HTTP) and at half the
          // maximum just measured, each beside the baseline at the same rate
          const httpRates = [{ rate: HTTP_TARGET / 2, what: 'half the 5 000/s target' }, { rate: Math.max(1, Math.floor(h.result.perSecond / 2)), what: 'half of max' }]
          for (const { rate, what } of httpRates) {
            const hBase = (await timed(http(fastifyPort, [{ path: '/raw' }], rate))).result
            rows.push({ scenario: `HTTP latency at ${rate}/s (${what}), 3 recipients`, recipients, gatemesh: (await timed(http(collector.httpPort as number, t, rate))).result, baseline: hBase, baselineName: 'raw Fastify' })
          }
          const mqttRates = [{ rate: MQTT_TARGET / 2, what: 'half the 10 000/s target' }, { rate: Math.max(1, Math.floor(m1.result.perSecond / 2)), what: 'half of max' }]
          for (const { rate, what } of mqttRates) rows.push(...await pubackRows(rate, what))
        }
      }
      if (bursts !== undefined) sustainable = await searchSustainable(bursts.raw, bursts.gatemesh)
    }
  } finally {
    await collector.stop()
    await latest.stop()
    await rawFastify.close()
    await rawAedes.close()
    await rawSealing.close()
    await rawJournal.close()
    await rm(dir, { recursive: true, force: true })
  }
  const extra = { quick, seconds, stepSeconds, loadBefore, loadAfter: loadavg() }
  if (options.sustainable === true) writeSustainableResults(sustainable, extra)
  else writeIngestResults(rows, sustainable, extra)
  return { rows, sustainable }
}

interface RunFacts { quick: boolean, seconds: number, stepSeconds: number, loadBefore: number[], loadAfter: number[] }

const loadLine = (extra: RunFacts): string => `Load average ${extra.loadBefore.map(l => l.toFixed(1)).join(' ')} before, ${extra.loadAfter.map(l => l.toFixed(1)).join(' ')} after.`

/** `--sustainable` alone: its own files, so that a full run's ingest.json stays. */
function writeSustainableResults (sustainable: SustainSearch[], extra: RunFacts): void {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  const title = 'Ingest: the sustainable MQTT QoS 1 rate of one collector'
  writeFileSync(new URL('ingest-sustainable.json', dir), JSON.stringify({ title, environment: environment(), ...extra, reading: utf8(READING).length, sustainable }, null, 2) + '\n')
  const lines = [
    `# ${title}`, '',
    `Node ${process.version}, ${cpus().length} cores; the gateway is one process (V8 pool ${v8PoolSize()}), the load generator another. ${loadLine(extra)} Each burst phase measures ${extra.seconds} s, each step ${extra.stepSeconds} s.${extra.quick ? ' Quick run.' : ''}`, '',
    ...sustainMarkdown(sustainable, extra.stepSeconds)
  ]
  writeFileSync(new URL('ingest-sustainable.md', dir), lines.join('\n') + '\n')
  console.log(lines.join('\n') + '\n')
}

function writeIngestResults (rows: IngestRow[], sustainable: SustainSearch[], extra: RunFacts): void {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  const title = 'Ingest: readings accepted by one collector'
  writeFileSync(new URL('ingest.json', dir), JSON.stringify({ title, environment: environment(), ...extra, reading: utf8(READING).length, rows, sustainable }, null, 2) + '\n')
  const f = (n: number | undefined | null, digits = 0): string => typeof n !== 'number' || Number.isNaN(n) ? '-' : n.toFixed(digits)
  const throughput = rows.filter(r => !r.scenario.includes('latency'))
  const latency = rows.filter(r => r.scenario.includes('latency'))
  const lines = [
    `# ${title}`, '',
    `Node ${process.version}, ${cpus().length} cores; the gateway is one process (V8 pool ${v8PoolSize()}), the load generator another. ${loadLine(extra)} Each phase measures ${extra.seconds} s (each step of the sustainable-rate search ${extra.stepSeconds} s).${extra.quick ? ' Quick run.' : ''}`,
    'Ratio = gatemesh readings/s ÷ baseline readings/s, each baseline measured just before its gatemesh phase. CPU % = the gateway process\'s CPU time over the wall time of the phase (100 % = one core); ' +
      'µs/reading = that CPU time per accepted reading (all threads); event loop % = the main thread\'s share. ' +
      'Readings are acknowledged once journaled and sealed after ([COL-7]); seal lag = how long after the load stopped the last one was sealed and handed off (acknowledgements wait while more than 2 048 await sealing, so the figure is sustained).', '',
    '| scenario | gatemesh readings/s | CPU % | event loop % | µs/reading | seal lag ms | baseline | baseline readings/s | baseline µs/reading | ratio |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|',
    ...throughput.map(r => {
      const us = (cpu: number | undefined, rate: number): number | undefined => cpu === undefined || rate <= 0 ? undefined : cpu * 1e4 / rate
      const mine = us(r.gatewayCpuPercent, r.gatemesh.perSecond)
      return `| ${r.scenario} | ${f(r.gatemesh.perSecond)} | ${f(r.gatewayCpuPercent)} | ${f(r.gatemesh.mainThreadCpuPercent)} | ${f(mine)} | ${f(r.gatemesh.sealLagMs)} | ${r.baselineName} | ${f(r.baseline.perSecond)} | ${f(us(r.baselineCpuPercent, r.baseline.perSecond), 1)} | ${f(r.gatemesh.perSecond / r.baseline.perSecond, 2)} |`
    }),
    '', 'Latency is open loop, from the scheduled send. Event-loop delay = how late the gateway process\'s event loop ran (p99 / max, ms); GC = the gateway event loop\'s garbage collections during the phase: how many were full ones (mark-compacts), and the longest pause of any kind; sender late p99 = how late the load generator itself sent (ms): the delay and the sender\'s lateness show the machine\'s own stalls, which count against gatemesh and baseline alike.', '',
    '| latency scenario | gatemesh p50 ms | gatemesh p99 ms | event-loop delay p99 / max ms | GC: full / longest ms | sender late p99 ms | baseline | baseline p50 ms | baseline p99 ms | baseline event-loop delay p99 / max ms | baseline GC: full / longest ms | baseline sender late p99 ms |',
    '|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|',
    ...latency.map(r => `| ${r.scenario} | ${f(r.gatemesh.p50, 2)} | ${f(r.gatemesh.p99, 2)} | ${f(r.gatemesh.loopDelayP99, 1)} / ${f(r.gatemesh.loopDelayMax, 0)} | ${f(r.gatemesh.gcMajor)} / ${f(r.gatemesh.gcMaxMs, 1)} | ${f(r.gatemesh.sendLateP99, 2)} | ${r.baselineName} | ${f(r.baseline.p50, 2)} | ${f(r.baseline.p99, 2)} | ${f(r.baseline.loopDelayP99, 1)} / ${f(r.baseline.loopDelayMax, 0)} | ${f(r.baseline.gcMajor)} / ${f(r.baseline.gcMaxMs, 1)} | ${f(r.baseline.sendLateP99, 2)} |`),
    '', 'Targets (issue 4): ≥ 10 000 readings/s MQTT QoS 1 and ≥ 5 000 readings/s HTTP with 3 recipients; at half that load (5 000/s MQTT, 2 500/s HTTP) HTTP p99 < 20 ms and PUBACK p99 < 5 ms.',
    ...(sustainable.length === 0 ? [] : ['', ...sustainMarkdown(sustainable, extra.stepSeconds)])
  ]
  writeFileSync(new URL('ingest.md', dir), lines.join('\n') + '\n')
  console.log(lines.join('\n') + '\n')
}

/** The options of this scenario on a command line (this script's, or `npm run bench`'s). */
export function options (argv: string[]): IngestOptions {
  const option = (name: string, integer: boolean): number | undefined => numberOption(argv, name, integer)
  return { quick: argv.includes('--quick'), pubackAt: option('--puback-at', true), sealWorkers: option('--seal-workers', true), seconds: option('--seconds', false), stepSeconds: option('--step-seconds', false), sustainable: argv.includes('--sustainable') }
}

if (import.meta.main) {
  const i = process.argv.indexOf('--load')
  if (i >= 0) {
    process.stdout.write(JSON.stringify(await generateLoad(JSON.parse(process.argv[i + 1] as string) as LoadPlan)) + '\n')
    process.exit(0)
  } else {
    await withGatewayV8Pool()
    await run(options(process.argv))
  }
}
