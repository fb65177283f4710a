/**
 * The collector's stream sink ([STR-35]): a ReadingSink that hands each sealed batch to the relay
 * and settles at once. Live delivery is best effort and never holds readings in the journal nor
 * slows ingest: a batch becomes relay messages ([STR-30]) in a bounded queue that a few publishes
 * in flight drain into gossipsub; when no stream peer is known, or the queue is full, or a publish
 * fails, the readings are dropped and counted (history is persistence's job). When this gateway
 * runs stream too, the batch also goes straight to the local broker ([STR-36]): gossipsub does
 * not deliver to itself.
 */
import { encodeStreamPayload, isGatemeshError } from '../../core/index.ts'
import { encodeRelayMessages } from './relay-message.ts'
import type { Logger } from '../../platform/logger.ts'
import type { ReadingSink, SealedReading } from '../pipeline/index.ts'
import type { EncodedRelayMessage } from './relay-message.ts'
import type { DeliverReadings } from './relay-validator.ts'

export interface StreamSinkComponents {
  /** Publishes one relay message on the relay topic (gossipsub's publish). */
  publish: (data: Uint8Array) => Promise<unknown>
  /** Stream peers the relay knows (subscribed to the topic), not counting this gateway. */
  peers: () => number
  /** The gateway's current certificate (DER), carried in every relay message. */
  certificate: () => Uint8Array
  /** The local broker's injection, when this gateway runs stream ([STR-36]). */
  localDeliver?: () => DeliverReadings | undefined
  logger: Logger
}

export interface StreamSinkInit {
  /** Relay messages waiting to be published, at most. */
  maxQueued?: number
  /** Publishes in flight, at most. */
  maxInFlight?: number
}

export const STREAM_SINK_DEFAULTS = { maxQueued: 256, maxInFlight: 4 } as const

export interface StreamSinkStatus {
  /** Readings handed to gossipsub, and the relay messages that carried them. */
  relayed: number
  messages: number
  /** Readings handed to the local broker. */
  local: number
  /** Readings dropped, by reason. */
  dropped: { noPeers: number, queueFull: number, publishFailed: number }
  queued: number
  inFlight: number
}

export interface StreamSink extends ReadingSink {
  start: () => void
  /** Stops taking batches; drops what is queued (counted) and waits for the publishes in flight. */
  stop: () => Promise<void>
  status: () => StreamSinkStatus
}

const LOGS_PER_SECOND = 5

export function createStreamSink (components: StreamSinkComponents, init: StreamSinkInit = {}): StreamSink {
  const { logger } = components
  const { maxQueued, maxInFlight } = { ...STREAM_SINK_DEFAULTS, ...init }
  const queue: EncodedRelayMessage[] = []
  const inFlight = new Set<Promise<void>>()
  const counts = { relayed: 0, messages: 0, local: 0, dropped: { noPeers: 0, queueFull: 0, publishFailed: 0 } }
  let running = false
  /** No stream peer was known at the last batch (logged once). */
  let alone = false
  let logWindow = 0
  let logged = 0

  const drop = (reason: 'queueFull' | 'publishFailed', readings: number, code: string, err?: unknown): void => {
    counts.dropped[reason] += readings
    const now = Date.now()
    if (now - logWindow >= 1000) { logWindow = now; logged = 0 }
    if (logged++ < LOGS_PER_SECOND) logger.warn({ code, readings, ...(err === undefined ? {} : { cause: isGatemeshError(err) ? err.code : String(err) }) }, 'readings not relayed to stream peers')
  }

  const pump = (): void => {
    while (running && inFlight.size < maxInFlight && queue.length > 0) {
      const message = queue.shift() as EncodedRelayMessage
      const publishing: Promise<void> = components.publish(message.bytes).then(() => {
        counts.relayed += message.envelopes
        counts.messages++
      }, (err: unknown) => {
        drop('publishFailed', message.envelopes, 'GM_ERR_STREAM_RELAY_PUBLISH_FAILED', err)
      }).finally(() => {
        inFlight.delete(publishing)
        pump()
      })
      inFlight.add(publishing)
    }
  }

  const take = (readings: readonly SealedReading[]): void => {
    if (!running || readings.length === 0) return
    const cert = components.certificate()
    // [STR-36] this gateway's own broker, directly
    const local = components.localDeliver?.()
    if (local !== undefined) {
      try {
        local(readings.map(r => ({ sensorId: r.sensorId, payload: encodeStreamPayload({ env: r.envelope, cert }) })))
        counts.local += readings.length
      } catch (err) {
        logger.warn({ err }, 'the local broker refused readings')
      }
    }
    if (components.peers() === 0) {
      // with a local broker, the readings reached every stream peer there is; without, counted
      // and logged once until a stream peer appears (a network without stream is a normal state)
      if (local === undefined) {
        counts.dropped.noPeers += readings.length
        if (!alone) logger.info({ code: 'GM_ERR_STREAM_RELAY_NO_PEERS' }, 'no stream peer known: live readings are not relayed until one appears')
        alone = true
      }
      return
    }
    alone = false
    let messages: EncodedRelayMessage[]
    try {
      messages = encodeRelayMessages(cert, readings.map(r => r.envelope))
    } catch (err) {
      drop('publishFailed', readings.length, isGatemeshError(err) ? err.code : 'GM_ERR_STREAM_RELAY_PUBLISH_FAILED', err)
      return
    }
    for (const message of messages) {
      if (queue.length >= maxQueued) drop('queueFull', message.envelopes, 'GM_ERR_STREAM_RELAY_QUEUE_FULL')
      else queue.push(message)
    }
    pump()
  }

  return {
    name: 'stream',
    // [STR-35] settled at once: the journal never waits on live delivery
    retriesItself: true,
    async deliver (readings) {
      take(readings)
    },
    start () { running = true },
    async stop () {
      running = false
      const left = queue.splice(0)
      for (const message of left) counts.dropped.publishFailed += message.envelopes
      await Promise.allSettled([...inFlight])
    },
    status: () => ({ ...counts, dropped: { ...counts.dropped }, queued: queue.length, inFlight: inFlight.size })
  }
}
