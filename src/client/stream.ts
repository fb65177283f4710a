/**
 * Live readings from the stream service [STR-40] .. [STR-46]: an MQTT 3.1.1 subscription at any
 * stream peer, over TCP in Node and WebSocket in browsers (mqtt.js picks the transport from the
 * URL: one code path), logged in with a fresh stream token per connection ([STR-2]). Each message
 * is decoded ([STR-20]), checked ([ENV-6], [ENV-10]) and opened ([ENV-7]) here; the stream peer
 * only ever holds ciphertext. When a connection ends it moves to the next URL, round robin.
 */
import mqtt from 'mqtt'
import type { IClientOptions } from 'mqtt'
import type { CryptoSuite, Envelope } from '../core/index.ts'
import { GatemeshError, decodeStreamPayload, isGatemeshError, isSensorId, toHex, verifyEnvelope } from '../core/index.ts'
import type { LatestReading } from './session.ts'

/** A live reading: what readLatest returns, and the sensor it is of. */
export interface StreamReading extends LatestReading {
  sensorId: string
}

export type StreamState = 'connecting' | 'connected' | 'reconnecting' | 'closed'

export interface StreamStateInfo {
  /** The URL connecting or connected to; for `reconnecting`, the next one. */
  url: string
  /** For `reconnecting`: the URL whose connection ended (or failed). */
  previous?: string
  /** For `reconnecting`: how long before the next attempt. */
  delayMs?: number
  /** For `reconnecting`: true when `previous` had accepted the connection (it was lost), false when it was never reached or refused it. */
  wasConnected?: boolean
}

export interface SubscribeOptions {
  /** Stream peers' URLs: `mqtt://`, `mqtts://` (Node), `ws://`, `wss://` (browsers, and Node). */
  urls: readonly string[]
  onState?: (state: StreamState, info: StreamStateInfo) => void
  /** Every failure, with its code; nothing is thrown out of the MQTT client's callbacks. */
  onError?: (error: GatemeshError) => void
  /**
   * [STR-41] Each connection's SUBACK: the topics granted and those refused (`0x80`, each also
   * reported to onError). An application that asked for sensors none of which it may read learns
   * it here (`granted` empty).
   */
  onSubscribed?: (result: SubscribeResult) => void
  /** Default 1. */
  qos?: 0 | 1
  /** Clean session (default true); false keeps the subscription and its QoS 1 readings at the peer while offline. */
  clean?: boolean
  /** Default: one random id for the whole subscription (the same at every reconnection). */
  clientId?: string
  /** Lifetime of each connection's token; default 3600 s. */
  tokenTtlSeconds?: number
  /** Back-off between attempts: from `initialMs` (500) doubling to `maxMs` (10 000). */
  backoff?: { initialMs?: number, maxMs?: number }
}

export interface SubscribeResult {
  /** The stream peer that answered. */
  url: string
  /** `sensors/<id>/readings` (or `sensors/+/readings`), in the order asked. */
  granted: string[]
  refused: string[]
}

export interface Subscription {
  close: () => Promise<void>
}

/** The part of an mqtt.js client a subscription uses (a fake in unit tests). */
export interface StreamConnection {
  handleMessage: (packet: { topic: string, payload: Uint8Array }, callback: (err?: Error) => void) => void
  on: ((event: 'connect' | 'close', listener: () => void) => unknown) & ((event: 'error', listener: (err: Error & { code?: unknown }) => void) => unknown)
  /** mqtt.js 5 fails the callback when any SUBACK code is 0x80; the SUBACK (its codes, in the order asked) comes third. */
  subscribe: (topics: string[], options: { qos: 0 | 1 }, callback: (err: Error | null | undefined, granted?: Array<{ topic: string, qos: number }>, suback?: { granted?: unknown[] }) => void) => unknown
  end: (force: boolean, callback: () => void) => unknown
}

export type StreamConnect = (url: string, options: IClientOptions) => StreamConnection

const URL_PATTERN = /^(mqtts?|wss?):\/\/[^/?#\s]+(\/[^?#\s]*)?$/
const READINGS_TOPIC = /^sensors\/([^/]+)\/readings$/
/** [STR-44] Readings remembered to drop a second delivery (a retained reading again after a reconnection). */
const SEEN_MAX = 4096

/** [STR-40] A stream peer's URL as subscribe takes it: `mqtt(s)://` or `ws(s)://`, a host, an optional path. */
export function isStreamUrl (url: unknown): url is string {
  return typeof url === 'string' && URL_PATTERN.test(url)
}

/** [STR-41] The topic of a sensor's readings, and of every sensor the user may read. */
export function readingsTopic (sensorId: string | '+'): string {
  return `sensors/${sensorId}/readings`
}

/** What message handling needs from the session: the user, and [ENV-10] + [ENV-7] as readLatest runs them. */
export interface StreamReader {
  suite: CryptoSuite
  pseudonym: string
  openCertified: (envelope: Envelope, gatewayCert: Uint8Array) => Promise<LatestReading>
}

/**
 * [STR-42] One message: the topic's sensor id, the payload decoded ([STR-20]), the envelope's
 * signature ([ENV-6]) and sensor (the topic's, else GM_ERR_CLIENT_READING_MISMATCH), then
 * [ENV-10] with the payload's certificate and [ENV-7]. Undefined when it carries no wrap for this
 * user ([STR-43]: skipped, not an error). Throws a GatemeshError otherwise.
 */
export async function readStreamMessage (reader: StreamReader, topic: string, payload: Uint8Array, wanted?: ReadonlySet<string>): Promise<StreamReading | undefined> {
  const match = READINGS_TOPIC.exec(topic)
  const sensorId = match?.[1]
  if (sensorId === undefined || !isSensorId(sensorId)) throw new GatemeshError('GM_ERR_CLIENT_STREAM_TOPIC', `'${topic.slice(0, 200)}' is not a readings topic.`)
  if (wanted !== undefined && !wanted.has(sensorId)) throw new GatemeshError('GM_ERR_CLIENT_STREAM_TOPIC', `Sensor '${sensorId}' was not subscribed.`)
  const { env, cert } = decodeStreamPayload(payload)
  const envelope = await verifyEnvelope(reader.suite, env)
  if (envelope.sensor !== sensorId) throw new GatemeshError('GM_ERR_CLIENT_READING_MISMATCH', `A reading of '${envelope.sensor}' came on the topic of '${sensorId}'.`)
  if (!envelope.wraps.some(wrap => wrap.to === reader.pseudonym)) return undefined
  return { sensorId, ...await reader.openCertified(envelope, cert) }
}

function asError (err: unknown, code: 'GM_ERR_CLIENT_UNREACHABLE' | 'GM_ERR_CLIENT_STREAM_FAILED'): GatemeshError {
  if (isGatemeshError(err)) return err
  return new GatemeshError(code, err instanceof Error ? err.message : String(err), { cause: err })
}

export interface StreamComponents {
  reader: StreamReader
  /** A fresh token for each connection ([STR-40]). */
  token: (ttlSeconds?: number) => Promise<string>
  /** Default: mqtt.connect. */
  connect?: StreamConnect
  /** Default Math.random, for the back-off's jitter. */
  random?: () => number
}

/**
 * [STR-40] .. [STR-45] Subscribes to `sensorIds` (or every sensor the user may read) at the
 * first of `urls`, moving to the next when a connection fails or ends, after a back-off.
 */
export function subscribeStream (components: StreamComponents, sensorIds: readonly string[] | 'all', onReading: (reading: StreamReading) => void, options: SubscribeOptions): Subscription {
  const urls = [...options.urls]
  if (urls.length === 0) throw new GatemeshError('GM_ERR_CLIENT_STREAM_URL', 'At least one stream URL is needed.')
  for (const url of urls) {
    if (!isStreamUrl(url)) throw new GatemeshError('GM_ERR_CLIENT_STREAM_URL', `'${String(url)}' is not an mqtt(s):// or ws(s):// URL.`)
  }
  let wanted: Set<string> | undefined
  if (sensorIds !== 'all') {
    if (!Array.isArray(sensorIds) || sensorIds.length === 0) throw new GatemeshError('GM_ERR_MALFORMED', 'Subscribe to \'all\' or to a list of sensor ids.')
    for (const id of sensorIds) {
      if (!isSensorId(id) || id === '+' || id === '#') throw new GatemeshError('GM_ERR_MALFORMED', `'${String(id)}' is not a sensor id.`)
    }
    wanted = new Set(sensorIds)
  }
  const topics = wanted === undefined ? [readingsTopic('+')] : [...wanted].map(id => readingsTopic(id))
  const qos = options.qos ?? 1
  if (qos !== 0 && qos !== 1) throw new GatemeshError('GM_ERR_MALFORMED', 'QoS is 0 or 1.')
  const connect = components.connect ?? ((url, init) => mqtt.connect(url, init) as unknown as StreamConnection)
  const random = components.random ?? Math.random
  const initialMs = options.backoff?.initialMs ?? 500
  const maxMs = options.backoff?.maxMs ?? 10_000
  const clientId = options.clientId ?? `gm-${toHex(components.reader.suite.randomBytes(8))}`
  const seen = new Map<string, true>()

  let closing = false
  let index = 0
  let failures = 0
  let current: StreamConnection | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let resolveClosed: (() => void) | undefined

  const report = (error: GatemeshError): void => {
    try {
      options.onError?.(error)
    } catch {
      // an application's handler failing is not ours to throw
    }
  }
  const subscribed = (result: SubscribeResult): void => {
    try {
      options.onSubscribed?.(result)
    } catch {
      // as above
    }
  }
  const state = (name: StreamState, info: StreamStateInfo): void => {
    try {
      options.onState?.(name, info)
    } catch {
      // as above
    }
  }

  /** [STR-44] One delivery per reading (sensor, gw, seq): a reading delivered again is dropped. */
  const firstTime = (reading: StreamReading): boolean => {
    const key = `${reading.sensorId}|${reading.gateway}|${reading.seq}`
    if (seen.has(key)) return false
    if (seen.size >= SEEN_MAX) seen.delete(seen.keys().next().value as string)
    seen.set(key, true)
    return true
  }

  const handle = async (topic: string, payload: Uint8Array): Promise<void> => {
    try {
      const reading = await readStreamMessage(components.reader, topic, payload, wanted)
      if (reading === undefined || !firstTime(reading) || closing) return
      try {
        onReading(reading)
      } catch (err) {
        report(asError(err, 'GM_ERR_CLIENT_STREAM_FAILED'))
      }
    } catch (err) {
      report(asError(err, 'GM_ERR_CLIENT_STREAM_FAILED'))
    }
  }

  /** [STR-45] The next URL, round robin, after a back-off that doubles from initialMs to maxMs (plus up to 20 % jitter). */
  const next = (previous: string, wasConnected = false): void => {
    if (closing) return
    failures++
    index = (index + 1) % urls.length
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 30))
    const delayMs = Math.min(maxMs, Math.round(base * (1 + 0.2 * random())))
    state('reconnecting', { url: urls[index] as string, previous, delayMs, wasConnected })
    timer = setTimeout(() => { timer = undefined; void attempt() }, delayMs)
  }

  const attempt = async (): Promise<void> => {
    if (closing) return
    const url = urls[index] as string
    state('connecting', { url })
    let password: string
    try {
      password = await components.token(options.tokenTtlSeconds)
    } catch (err) {
      report(asError(err, 'GM_ERR_CLIENT_STREAM_FAILED'))
      next(url)
      return
    }
    if (closing) return
    let conn: StreamConnection
    try {
      conn = connect(url, {
        // [STR-40] MQTT 3.1.1; user name the pseudonym, password a fresh token
        protocolVersion: 4,
        username: components.reader.pseudonym,
        password,
        clientId,
        clean: options.clean ?? true,
        // reconnection is ours: to the next URL, with a fresh token
        reconnectPeriod: 0,
        connectTimeout: 10_000,
        keepalive: 30,
        resubscribe: false
      })
    } catch (err) {
      report(asError(err, 'GM_ERR_CLIENT_UNREACHABLE'))
      next(url)
      return
    }
    current = conn
    let ended = false
    let accepted = false
    // messages are handled one at a time, in order; a QoS 1 PUBACK waits for its handling
    conn.handleMessage = (packet, callback) => {
      void handle(packet.topic, packet.payload).finally(() => { callback() })
    }
    conn.on('connect', () => {
      accepted = true
      failures = 0
      state('connected', { url })
      conn.subscribe(topics, { qos }, (err, _granted, suback) => {
        if (closing) return
        // [STR-41] a refused topic (SUBACK 0x80) is reported; the others stay subscribed. mqtt.js
        // reports any 0x80 as an error of the whole SUBSCRIBE: the SUBACK's codes tell which.
        const codes = suback?.granted
        if (Array.isArray(codes) && codes.length === topics.length) {
          const refused = topics.filter((_topic, i) => typeof codes[i] === 'number' && ((codes[i] as number) & 0x80) !== 0)
          for (const topic of refused) report(new GatemeshError('GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED', `${topic} at ${url}.`))
          subscribed({ url, granted: topics.filter(topic => !refused.includes(topic)), refused })
          return
        }
        if (err !== null && err !== undefined) report(asError(err, 'GM_ERR_CLIENT_STREAM_FAILED'))
        else subscribed({ url, granted: [...topics], refused: [] })
      })
    })
    conn.on('error', err => {
      if (closing) return
      // a CONNACK refusal carries its return code ([STR-40]); anything else is the connection's
      if (typeof err.code === 'number') report(new GatemeshError('GM_ERR_CLIENT_STREAM_REFUSED', `${url}: CONNACK return code ${err.code} (${err.message}).`, { cause: err }))
      else report(new GatemeshError('GM_ERR_CLIENT_UNREACHABLE', `${url}: ${err.message}`, { cause: err }))
    })
    conn.on('close', () => {
      if (ended) return
      ended = true
      if (current === conn) current = undefined
      if (closing) {
        resolveClosed?.()
        return
      }
      // mqtt.js may emit its error after close: the attempt ends either way
      conn.end(true, () => {})
      next(url, accepted)
    })
  }

  void attempt()

  return {
    close: async () => {
      if (closing) return
      closing = true
      if (timer !== undefined) clearTimeout(timer)
      const conn = current
      if (conn !== undefined) {
        await new Promise<void>(resolve => {
          resolveClosed = resolve
          conn.end(true, () => { resolve() })
        })
      }
      state('closed', { url: urls[index] as string })
    }
  }
}
