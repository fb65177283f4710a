/**
 * Simulated sensors, one per device: an MQTT sensor keeps one connection (mqtt.js, MQTT 3.1.1,
 * username = its id, password = its credential, [COL-15] [SEN-5]) and publishes each reading to
 * `sensors/<id>/readings`; an HTTP sensor POSTs each reading to `/v1/sensors/<id>/readings` with
 * its credential as a bearer token ([COL-2]), on a keep-alive connection or a new one each time.
 * Every reading is counted once: acknowledged (PUBACK, HTTP 202) with its response time, refused
 * (the collector's error code), or failed (no answer, by cause).
 */
import { Agent, request } from 'node:http'
import mqtt from 'mqtt'
import type { MqttClient } from 'mqtt'
import type { ReadingSource } from './readings.ts'
import type { ProtocolRecorder } from './stats.ts'

/** A sensor's id and credential, as `sensor add` printed it. */
export interface SensorCredentials { id: string, credential: string }

export interface SensorInit {
  sensor: SensorCredentials
  /** The collector's URL: `mqtt://host:port` or `http://host:port`. */
  url: string
  recorder: ProtocolRecorder
  source: ReadingSource
  /** Per reading: no answer within it is an error (`timeout`). */
  timeoutMs: number
}

/** What a simulated sensor does, whatever its protocol. */
export interface SimulatedSensor {
  readonly sensor: SensorCredentials
  readonly url: string
  /** The `n` of every acknowledged reading (readings.ts), in the order acknowledged. */
  readonly acknowledged: number[]
  /** Readings sent and not answered yet. */
  readonly inFlight: number
  send: () => void
  close: () => Promise<void>
}

/** The short cause of a failure without an answer: the system error code, else the message. */
export function causeOf (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code !== '') return code
  const message = err instanceof Error ? err.message : String(err)
  return message.slice(0, 60)
}

/** Settles a reading once: the first of answer, failure, timeout wins. */
function once (timeoutMs: number, onTimeout: () => void): { settle: () => boolean, timer: NodeJS.Timeout } {
  let settled = false
  const timer = setTimeout(() => { if (!settled) { settled = true; onTimeout() } }, timeoutMs)
  return {
    timer,
    settle: () => {
      if (settled) return false
      settled = true
      clearTimeout(timer)
      return true
    }
  }
}

export class MqttSensor implements SimulatedSensor {
  readonly sensor: SensorCredentials
  readonly url: string
  readonly acknowledged: number[] = []
  inFlight = 0
  private readonly init: SensorInit
  private readonly qos: 0 | 1
  private client: MqttClient | undefined
  private connecting: Promise<void> | undefined
  /** Why the sensor has no connection: a CONNACK code is a refusal, anything else an error. */
  private down: { refused?: string, error?: string } | undefined
  /** Each in-flight publish's failure (a cause), or its abandonment at close (none: it stays pending). */
  private readonly waiting = new Set<(cause?: string) => void>()
  private closed = false

  constructor (init: SensorInit & { qos: 0 | 1 }) {
    this.init = init
    this.sensor = init.sensor
    this.url = init.url
    this.qos = init.qos
  }

  /** Connects (once at a time); a failure is remembered and counted against the next readings. */
  connect (): Promise<void> {
    this.connecting ??= (async () => {
      try {
        const client = await mqtt.connectAsync(this.url, {
          username: this.sensor.id,
          password: this.sensor.credential,
          clientId: `sim-${this.sensor.id}`,
          protocolVersion: 4,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: this.init.timeoutMs,
          keepalive: 60
        }, false)
        if (this.closed) { await client.endAsync(true); return }
        client.on('close', () => { this.lost(client, 'connection closed') })
        client.on('error', () => { /* the close that follows counts */ })
        this.client = client
        this.down = undefined
      } catch (err) {
        const code = (err as { code?: unknown }).code
        this.down = typeof code === 'number' ? { refused: `CONNACK ${code}` } : { error: causeOf(err) }
      } finally {
        this.connecting = undefined
      }
    })()
    return this.connecting
  }

  private lost (client: MqttClient, cause: string): void {
    if (this.client !== client) return
    this.client = undefined
    this.down = { error: cause }
    for (const fail of [...this.waiting]) fail(cause)
  }

  send (): void {
    const { recorder, source } = this.init
    const reading = source.next()
    recorder.onSent()
    const client = this.client
    if (client === undefined || !client.connected) {
      const down = this.down ?? { error: 'not connected' }
      if (down.refused !== undefined) recorder.onRefused(down.refused)
      else recorder.onError(down.error ?? 'not connected')
      if (!this.closed) void this.connect()
      return
    }
    this.inFlight++
    const started = performance.now()
    const fail = (cause?: string): void => {
      if (!guard.settle()) return
      this.waiting.delete(fail)
      this.inFlight--
      if (cause !== undefined) recorder.onError(cause)
    }
    const guard = once(this.init.timeoutMs, () => { this.waiting.delete(fail); this.inFlight--; recorder.onError('timeout') })
    this.waiting.add(fail)
    client.publish(`sensors/${this.sensor.id}/readings`, JSON.stringify(reading), { qos: this.qos }, err => {
      if (err !== undefined && err !== null) { fail(causeOf(err)); return }
      if (!guard.settle()) return
      this.waiting.delete(fail)
      this.inFlight--
      const ms = performance.now() - started
      if (this.qos === 1) {
        recorder.onAcknowledged(ms)
        this.acknowledged.push(reading.n)
      } else {
        recorder.onWritten(ms)
      }
    })
  }

  async close (): Promise<void> {
    this.closed = true
    await this.connecting
    const client = this.client
    this.client = undefined
    // unanswered publishes stay pending in the report
    for (const abandon of [...this.waiting]) abandon()
    await client?.endAsync(true).catch(() => {})
  }
}

export class HttpSensor implements SimulatedSensor {
  readonly sensor: SensorCredentials
  readonly url: string
  readonly acknowledged: number[] = []
  inFlight = 0
  private readonly init: SensorInit
  /** keep-alive: one connection, reused, one request at a time (as a device's HTTP client). */
  private readonly agent: Agent | false
  private readonly target: URL
  /** Abandons each request in flight at close: it stays pending in the report. */
  private readonly abandon = new Set<() => void>()

  constructor (init: SensorInit & { keepAlive: boolean }) {
    this.init = init
    this.sensor = init.sensor
    this.url = init.url
    this.agent = init.keepAlive ? new Agent({ keepAlive: true, maxSockets: 1 }) : false
    this.target = new URL(`v1/sensors/${encodeURIComponent(init.sensor.id)}/readings`, init.url.endsWith('/') ? init.url : `${init.url}/`)
  }

  send (): void {
    const { recorder, source } = this.init
    const reading = source.next()
    const body = JSON.stringify(reading)
    recorder.onSent()
    this.inFlight++
    const started = performance.now()
    const guard = once(this.init.timeoutMs, () => { this.abandon.delete(abandon); this.inFlight--; recorder.onError('timeout'); req.destroy() })
    const fail = (cause: string): void => {
      if (!guard.settle()) return
      this.abandon.delete(abandon)
      this.inFlight--
      recorder.onError(cause)
    }
    const abandon = (): void => {
      if (!guard.settle()) return
      this.abandon.delete(abandon)
      this.inFlight--
      req.destroy()
    }
    this.abandon.add(abandon)
    const req = request(this.target, {
      method: 'POST',
      agent: this.agent,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        authorization: `Bearer ${this.sensor.credential}`,
        ...(this.agent === false ? { connection: 'close' } : {})
      }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => { chunks.push(chunk) })
      res.on('error', err => { fail(causeOf(err)) })
      res.on('end', () => {
        const status = res.statusCode ?? 0
        const ms = performance.now() - started
        if (!guard.settle()) return
        this.abandon.delete(abandon)
        this.inFlight--
        if (status === 202) {
          recorder.onAcknowledged(ms)
          this.acknowledged.push(reading.n)
          return
        }
        let code = `HTTP ${status}`
        try {
          const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown }
          if (typeof answer.code === 'string') code = answer.code
        } catch {
          // not JSON: the status says it
        }
        recorder.onRefused(code)
      })
    })
    req.on('error', err => { fail(causeOf(err)) })
    req.end(body)
  }

  async close (): Promise<void> {
    for (const abandon of [...this.abandon]) abandon()
    if (this.agent !== false) this.agent.destroy()
  }
}
