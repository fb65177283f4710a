/**
 * The gossipsub relay gatemesh built first and replaced by direct libp2p streams ([STR-32], see
 * docs/PERFORMANCE.md "Stream relay"), kept here only so that `npm run bench -- stream-relay` can
 * measure it beside the relay as built: gossipsub as an extra libp2p service of the overlay
 * ([OVL-33]), stream peers subscribed to `/gatemesh/readings/1` validating each message
 * ([STR-31]) before gossipsub forwards it, collectors publishing (StrictSign) without subscribing.
 */
import { createHash } from 'node:crypto'
import { TopicValidatorResult, gossipsub } from '@libp2p/gossipsub'
import { isGatemeshError } from '../src/core/index.ts'
import { MAX_RELAY_MESSAGE_BYTES } from '../src/gateway/stream/relay-message.ts'
import { validateRelayMessage } from '../src/gateway/stream/relay-validator.ts'
import type { GossipSub, GossipsubMessage } from '@libp2p/gossipsub'
import type { Logger } from '../src/platform/logger.ts'
import type { Libp2pServiceFactory } from '../src/overlay/index.ts'
import type { DeliverReadings, RelayValidatorComponents } from '../src/gateway/stream/relay-validator.ts'

/** The topic of relay messages, and the overlay's name of the gossipsub service. */
export const RELAY_TOPIC = '/gatemesh/readings/1'
export const PUBSUB_SERVICE = 'pubsub'
/** gossipsub as the relay uses it: with asyncValidation, the relay reports each message's verdict. */
export type RelayPubsub = GossipSub & {
  reportMessageValidationResult: (msgId: string, propagationSource: string, acceptance: TopicValidatorResult) => void
}

/** One gossipsub RPC may carry several messages (an IWANT answer): room for four whole ones. */
const MAX_INBOUND_RPC_BYTES = 4 * MAX_RELAY_MESSAGE_BYTES + 64 * 1024
/** What gossipsub may buffer for one peer's outbound stream before it stops sending to it. */
const MAX_OUTBOUND_BUFFER_BYTES = 16 * 1024 * 1024
/** Relay messages validated at once on a stream peer; past it, new ones are IGNOREd (counted). */
const MAX_VALIDATING = 64

/**
 * The gossipsub service for `libp2pServices.pubsub`: signed messages (StrictSign: `from`
 * is the publisher, its libp2p signature checked by gossipsub), content-addressed ids (SHA-256
 * of the data: a batch published twice is one message), flood publish (a collector hands each
 * message to every stream peer it knows), no delivery to self, validation by the relay before
 * forwarding (asyncValidation), a small mesh for small networks, bounded buffers.
 */
export function relayPubsubService (): Libp2pServiceFactory {
  const factory = gossipsub({
    globalSignaturePolicy: 'StrictSign',
    floodPublish: true,
    fallbackToFloodsub: false,
    msgIdFn: msg => createHash('sha256').update(msg.data).digest(),
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    emitSelf: false,
    asyncValidation: true,
    D: 4,
    Dlo: 3,
    Dhi: 6,
    Dscore: 2,
    Dout: 2,
    maxInboundDataLength: MAX_INBOUND_RPC_BYTES,
    maxOutboundBufferSize: MAX_OUTBOUND_BUFFER_BYTES,
    allowedTopics: [RELAY_TOPIC],
    debugName: 'gatemesh:stream:gossipsub'
  })
  return factory as unknown as Libp2pServiceFactory
}

export interface GossipsubRelayComponents extends RelayValidatorComponents {
  /** The overlay's gossipsub (`overlay.service('pubsub')`), asked once the overlay runs. */
  pubsub: () => RelayPubsub
  /** The local broker's injection (`broker.deliver`). */
  deliver: DeliverReadings
  logger: Logger
}

export interface GossipsubRelay {
  /** Subscribes to the relay topic and validates what arrives. */
  start: () => void
  stop: () => void
  status: () => GossipsubRelayStatus
}

export interface GossipsubRelayStatus {
  /** Relay messages accepted, and the readings they carried to the broker. */
  accepted: number
  delivered: number
  /** Relay messages REJECTed, by code. */
  rejected: Record<string, number>
  /** Relay messages IGNOREd: too many being validated at once, or a failure of our own. */
  ignored: number
  /** Stream peers this peer knows (subscribed to the topic). */
  peers: number
}

/** Logs at most this many refusals per second (a flood of forged messages must not flood the log). */
const LOGS_PER_SECOND = 10

/** The stream peer's side of the relay. */
export function createGossipsubRelay (components: GossipsubRelayComponents): GossipsubRelay {
  const { logger } = components
  const counts = { accepted: 0, delivered: 0, ignored: 0, rejected: {} as Record<string, number> }
  let validating = 0
  let pubsub: RelayPubsub | undefined
  let logWindow = 0
  let logged = 0
  const mayLog = (): boolean => {
    const now = Date.now()
    if (now - logWindow >= 1000) { logWindow = now; logged = 0 }
    return logged++ < LOGS_PER_SECOND
  }

  const onMessage = (evt: CustomEvent<GossipsubMessage>): void => {
    const { msgId, propagationSource, msg } = evt.detail
    const ps = pubsub
    if (msg.topic !== RELAY_TOPIC || ps === undefined) return
    const report = (result: TopicValidatorResult): void => {
      ps.reportMessageValidationResult(msgId, propagationSource.toString(), result)
    }
    if (msg.type !== 'signed') {
      reject('GM_ERR_STREAM_RELAY_MALFORMED', 'unknown', propagationSource.toString())
      report(TopicValidatorResult.Reject)
      return
    }
    if (validating >= MAX_VALIDATING) {
      counts.ignored++
      report(TopicValidatorResult.Ignore)
      return
    }
    validating++
    const from = msg.from.toString()
    validateRelayMessage(components, from, msg.data).then(readings => {
      report(TopicValidatorResult.Accept)
      counts.accepted++
      counts.delivered += readings.length
      try {
        components.deliver(readings)
      } catch (err) {
        logger.warn({ err }, 'the broker refused relayed readings')
      }
    }, (err: unknown) => {
      if (isGatemeshError(err)) {
        reject(err.code, from, propagationSource.toString(), err.message)
        report(TopicValidatorResult.Reject)
      } else {
        counts.ignored++
        if (mayLog()) logger.warn({ err, peer: from }, 'relay message validation failed')
        report(TopicValidatorResult.Ignore)
      }
    }).finally(() => { validating-- })
  }

  function reject (code: string, from: string, source: string, detail?: string): void {
    counts.rejected[code] = (counts.rejected[code] ?? 0) + 1
    if (mayLog()) logger.warn({ code, peer: from, source, detail }, 'relay message rejected')
  }

  const listener = onMessage as unknown as EventListener
  return {
    start () {
      pubsub = components.pubsub()
      // the relay must decide before gossipsub forwards anything ([STR-31])
      pubsub.addEventListener('gossipsub:message', listener)
      pubsub.subscribe(RELAY_TOPIC)
    },
    stop () {
      if (pubsub === undefined) return
      pubsub.removeEventListener('gossipsub:message', listener)
      try {
        pubsub.unsubscribe(RELAY_TOPIC)
      } catch { /* gossipsub already stopped with the overlay */ }
      pubsub = undefined
    },
    status: () => ({ ...counts, rejected: { ...counts.rejected }, peers: safePeers(pubsub) })
  }
}

/** Stream peers gossipsub knows (subscribed to the relay topic); 0 before it runs. */
export function safePeers (pubsub: GossipSub | undefined): number {
  try {
    return pubsub?.getSubscribers(RELAY_TOPIC).length ?? 0
  } catch {
    return 0
  }
}

/**
 * A collector's publisher as the gossipsub relay had it: relay messages queued (at most
 * `maxQueued`) and published a few at a time; settles at once.
 */
export function createGossipsubPublisher (pubsub: () => RelayPubsub, maxQueued = 4096, maxInFlight = 4): { send: (message: Uint8Array) => void, drain: () => Promise<void>, dropped: () => number } {
  const queue: Uint8Array[] = []
  const inFlight = new Set<Promise<void>>()
  let dropped = 0
  const pump = (): void => {
    while (inFlight.size < maxInFlight && queue.length > 0) {
      const data = queue.shift() as Uint8Array
      const publishing: Promise<void> = pubsub().publish(RELAY_TOPIC, data).then(() => {}, () => { dropped++ }).finally(() => {
        inFlight.delete(publishing)
        pump()
      })
      inFlight.add(publishing)
    }
  }
  return {
    send (message) {
      if (queue.length >= maxQueued) { dropped++; return }
      queue.push(message)
      pump()
    },
    async drain () { while (inFlight.size > 0 || queue.length > 0) await Promise.allSettled([...inFlight]) },
    dropped: () => dropped
  }
}
