/**
 * A simulation: MQTT and HTTP sensors spread over collectors (sensor i of a protocol on
 * collector i mod k), each reading on its own period drawn uniformly from a range (the paper's
 * 20 to 150 s by default) and divided by `speed`; its first reading at a random point of its
 * first period, so the sensors do not all report at once. `start()` connects the MQTT sensors
 * and starts the clocks; `stop()` stops them, waits up to `graceMs` for the readings in flight,
 * and closes every connection.
 */
import { ReadingSource, seededRandom } from './readings.ts'
import { HttpSensor, MqttSensor } from './sensors.ts'
import type { SensorCredentials, SimulatedSensor } from './sensors.ts'
import { ProtocolRecorder } from './stats.ts'
import type { Protocol, ProtocolSummary } from './stats.ts'

export interface SimulationInit {
  sensors: { mqtt: SensorCredentials[], http: SensorCredentials[] }
  /** Collector URLs per protocol (`mqtt://...`, `http://...`); a protocol with sensors needs one. */
  collectors: { mqtt: string[], http: string[] }
  /** Each sensor's period is drawn uniformly from [min, max] seconds (default 20-150, the paper's). */
  periodSeconds?: { min: number, max: number }
  /** Time compression: periods are divided by it (default 1). */
  speed?: number
  /** MQTT QoS (default 1). */
  qos?: 0 | 1
  /** HTTP keep-alive (default false: a new connection per reading). */
  keepAlive?: boolean
  /** Seed of the periods, offsets and readings (default 1). */
  seed?: number
  /** Per reading (default 30 s). */
  timeoutMs?: number
}

export interface SensorReport {
  id: string
  protocol: Protocol
  collector: string
  /** Milliseconds between readings, after compression. */
  periodMs: number
  sent: number
  acknowledged: number
}

export interface SimulationReport {
  startedAt: string
  /** Wall time from start() to the end of stop(). */
  durationMs: number
  speed: number
  periodSeconds: { min: number, max: number }
  qos: 0 | 1
  keepAlive: boolean
  seed: number
  protocols: Record<Protocol, ProtocolSummary>
  sensors: SensorReport[]
}

interface Running { device: SimulatedSensor, protocol: Protocol, periodMs: number, sent: number, timer?: NodeJS.Timeout }

export class Simulation {
  readonly recorders: Record<Protocol, ProtocolRecorder> = { mqtt: new ProtocolRecorder('mqtt'), http: new ProtocolRecorder('http') }
  readonly periodSeconds: { min: number, max: number }
  readonly speed: number
  readonly qos: 0 | 1
  readonly keepAlive: boolean
  readonly seed: number
  private readonly running: Running[] = []
  private startedAt = 0
  private startedDate = new Date()
  private stopped: Promise<SimulationReport> | undefined
  private readonly random: () => number

  constructor (init: SimulationInit) {
    this.periodSeconds = init.periodSeconds ?? { min: 20, max: 150 }
    this.speed = init.speed ?? 1
    this.qos = init.qos ?? 1
    this.keepAlive = init.keepAlive ?? false
    this.seed = init.seed ?? 1
    const timeoutMs = init.timeoutMs ?? 30_000
    this.random = seededRandom(this.seed)
    for (const protocol of ['mqtt', 'http'] as const) {
      const sensors = init.sensors[protocol]
      const urls = init.collectors[protocol]
      if (sensors.length > 0 && urls.length === 0) throw new TypeError(`${protocol} sensors need a ${protocol} collector URL`)
      this.recorders[protocol].sensors = sensors.length
      sensors.forEach((sensor, i) => {
        const url = urls[i % urls.length] as string
        const common = { sensor, url, recorder: this.recorders[protocol], source: new ReadingSource(seededRandom(Math.floor(this.random() * 2 ** 32))), timeoutMs }
        const device = protocol === 'mqtt' ? new MqttSensor({ ...common, qos: this.qos }) : new HttpSensor({ ...common, keepAlive: this.keepAlive })
        const { min, max } = this.periodSeconds
        const periodMs = (min + this.random() * (max - min)) * 1000 / this.speed
        this.running.push({ device, protocol, periodMs, sent: 0 })
      })
    }
  }

  /** The running sensors (their acknowledged readings: `device.acknowledged`). */
  get devices (): ReadonlyArray<{ device: SimulatedSensor, protocol: Protocol, periodMs: number }> {
    return this.running
  }

  /** Connects the MQTT sensors (a failure is counted against their readings), then starts every clock. */
  async start (): Promise<void> {
    await Promise.all(this.running.map(async r => { if (r.device instanceof MqttSensor) await r.device.connect() }))
    this.startedAt = performance.now()
    this.startedDate = new Date()
    for (const r of this.running) {
      // reading k at offset + k * period: no drift, whatever the timers' lateness
      const offset = this.random() * r.periodMs
      let k = 0
      const tick = (): void => {
        r.device.send()
        r.sent++
        k++
        r.timer = setTimeout(tick, Math.max(0, this.startedAt + offset + k * r.periodMs - performance.now()))
      }
      r.timer = setTimeout(tick, offset)
    }
  }

  /** Readings sent and not yet answered, over every sensor. */
  inFlight (): number {
    return this.running.reduce((sum, r) => sum + r.device.inFlight, 0)
  }

  /** Stops the clocks, waits up to `graceMs` for the answers in flight, closes the connections. */
  stop (graceMs = 5000): Promise<SimulationReport> {
    this.stopped ??= (async () => {
      for (const r of this.running) clearTimeout(r.timer)
      const deadline = performance.now() + graceMs
      while (this.inFlight() > 0 && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      await Promise.all(this.running.map(async r => { await r.device.close() }))
      return this.report()
    })()
    return this.stopped
  }

  report (): SimulationReport {
    return {
      startedAt: this.startedDate.toISOString(),
      durationMs: this.startedAt === 0 ? 0 : performance.now() - this.startedAt,
      speed: this.speed,
      periodSeconds: this.periodSeconds,
      qos: this.qos,
      keepAlive: this.keepAlive,
      seed: this.seed,
      protocols: { mqtt: this.recorders.mqtt.summary(), http: this.recorders.http.summary() },
      sensors: this.running.map(r => ({ id: r.device.sensor.id, protocol: r.protocol, collector: r.device.url, periodMs: Math.round(r.periodMs), sent: r.sent, acknowledged: r.device.acknowledged.length }))
    }
  }
}

export function createSimulation (init: SimulationInit): Simulation {
  return new Simulation(init)
}
