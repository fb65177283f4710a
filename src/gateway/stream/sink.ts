/**
 * The collector's stream sink ([STR-35]): a ReadingSink that hands each sealed batch to every
 * stream peer it knows and settles at once. Live delivery is best effort and never holds
 * readings in the journal nor slows ingest: a batch becomes relay messages ([STR-30]), each one
 * frame (relay-frames.ts) queued on every stream peer's link (relay-link.ts: one long-lived
 * libp2p stream, a byte-bounded queue that drops when full, back-off when broken). Stream peers
 * are the verified peers that run stream, plus those a periodic lookup finds ([STR-37]), at most
 * 64. When none is known, the readings are dropped and counted (history is persistence's job).
 * When this gateway runs stream too, the batch also goes straight to its own broker ([STR-36]).
 */
import { encodeStreamPayload, isGatemeshError } from '../../core/index.ts'
import { encodeRelayFrame } from './relay-frames.ts'
import { createRelayLink } from './relay-link.ts'
import { encodeRelayMessages } from './relay-message.ts'
import type { Logger } from '../../platform/logger.ts'
import type { ReadingSink, SealedReading } from '../pipeline/index.ts'
import type { RelayLink, RelayLinkInit } from './relay-link.ts'
import type { DeliverReadings } from './relay-validator.ts'
import type { Stream } from '@libp2p/interface'

export interface StreamSinkComponents {
  /** Opens a relay stream to a stream peer (`overlay.dialProtocol(peer, RELAY_PROTOCOL)`). */
  dial: (peerId: string, signal: AbortSignal) => Promise<Stream>
  /** The verified peers, connected now, that run stream (not this gateway). */
  streamPeers: () => string[]
  /** [STR-37] Looks for stream peers not connected yet (`overlay.findPeersByRole('stream', ...)`). */
  discover?: () => Promise<string[]>
  /** This gateway's peer id (never a target: its own broker is reached directly, [STR-36]). */
  self: string
  /** The gateway's current certificate (DER), carried in every relay message. */
  certificate: () => Uint8Array
  /** The local broker's injection, when this gateway runs stream ([STR-36]). */
  localDeliver?: () => DeliverReadings | undefined
  logger: Logger
}

export interface StreamSinkInit {
  /** Stream peers linked to at most. */
  maxPeers?: number
  /** How often the set of stream peers is refreshed from the connected verified peers. */
  refreshIntervalMs?: number
  /** How often a lookup looks for stream peers not connected yet. */
  discoverIntervalMs?: number
  /** Each link's bounds (relay-link.ts). */
  link?: RelayLinkInit
}

export const STREAM_SINK_DEFAULTS = { maxPeers: 64, refreshIntervalMs: 5000, discoverIntervalMs: 30_000 } as const

export interface StreamSinkStatus {
  /** Readings written to stream peers' relay streams (once per stream peer), and the relay messages that carried them. */
  relayed: number
  messages: number
  /** Readings handed to the local broker. */
  local: number
  /** Readings dropped, by reason (once per stream peer that missed them; noPeers once per reading). */
  dropped: { noPeers: number, queueFull: number, publishFailed: number }
  /** Relay messages queued on the links, over all stream peers. */
  queued: number
  /** Bytes queued on the links, over all stream peers. */
  queuedBytes: number
  /** Stream peers linked to, and those whose relay stream is open now. */
  peers: number
  open: number
}

export interface StreamSink extends ReadingSink {
  start: () => void
  /** Stops taking batches, closes the links (dropping what is queued, counted). */
  stop: () => Promise<void>
  status: () => StreamSinkStatus
  /** Refreshes the set of stream peers from the connected verified peers now (on peer events). */
  refresh: () => void
}

const LOGS_PER_SECOND = 5

export function createStreamSink (components: StreamSinkComponents, init: StreamSinkInit = {}): StreamSink {
  const { logger } = components
  const { maxPeers, refreshIntervalMs, discoverIntervalMs } = { ...STREAM_SINK_DEFAULTS, ...init }
  const counts = { relayed: 0, messages: 0, local: 0, dropped: { noPeers: 0, queueFull: 0, publishFailed: 0 } }
  const links = new Map<string, RelayLink>()
  /** Stream peers the last lookup found ([STR-37]). */
  let discovered: string[] = []
  let running = false
  let refreshTimer: ReturnType<typeof setInterval> | undefined
  let discoverTimer: ReturnType<typeof setInterval> | undefined
  let discovering = false
  /** No stream peer was known at the last batch (logged once). */
  let alone = false
  let logWindow = 0
  let logged = 0

  const count = (what: 'relayed' | 'queueFull' | 'publishFailed', readings: number, messages: number, err?: unknown): void => {
    if (what === 'relayed') {
      counts.relayed += readings
      counts.messages += messages
      return
    }
    counts.dropped[what] += readings
    const now = Date.now()
    if (now - logWindow >= 1000) { logWindow = now; logged = 0 }
    const code = what === 'queueFull' ? 'GM_ERR_STREAM_RELAY_QUEUE_FULL' : 'GM_ERR_STREAM_RELAY_PUBLISH_FAILED'
    if (logged++ < LOGS_PER_SECOND) logger.warn({ code, readings, ...(err === undefined ? {} : { cause: isGatemeshError(err) ? err.code : String(err) }) }, 'readings not relayed to a stream peer')
  }

  /** [STR-37] The stream peers: connected verified ones first, then the lookup's, at most maxPeers. */
  const refresh = (): void => {
    if (!running) return
    const wanted = new Set<string>()
    for (const peer of [...components.streamPeers(), ...discovered]) {
      if (peer !== components.self && wanted.size < maxPeers) wanted.add(peer)
    }
    for (const [peer, link] of links) {
      if (!wanted.has(peer)) { link.close(); links.delete(peer) }
    }
    for (const peer of wanted) {
      if (links.has(peer)) continue
      const link = createRelayLink({ dial: async signal => await components.dial(peer, signal), count }, init.link)
      links.set(peer, link)
      link.connect()
    }
  }

  const discover = (): void => {
    const find = components.discover
    if (!running || find === undefined || discovering) return
    discovering = true
    find().then(found => {
      discovered = found.filter(p => p !== components.self)
      refresh()
    }, (err: unknown) => {
      logger.debug({ cause: isGatemeshError(err) ? err.code : String(err) }, 'stream peer lookup failed')
    }).finally(() => { discovering = false })
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
    if (links.size === 0) {
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
    let frames: Array<{ frame: Uint8Array, readings: number }>
    try {
      frames = encodeRelayMessages(cert, readings.map(r => r.envelope)).map(m => ({ frame: encodeRelayFrame(m.bytes), readings: m.envelopes }))
    } catch (err) {
      count('publishFailed', readings.length * links.size, 0, err)
      return
    }
    for (const link of links.values()) {
      for (const { frame, readings: n } of frames) link.enqueue(frame, n)
    }
  }

  return {
    name: 'stream',
    // [STR-35] settled at once: the journal never waits on live delivery
    retriesItself: true,
    async deliver (readings) {
      take(readings)
    },
    start () {
      running = true
      refresh()
      discover()
      refreshTimer = setInterval(refresh, refreshIntervalMs)
      refreshTimer.unref?.()
      discoverTimer = setInterval(discover, discoverIntervalMs)
      discoverTimer.unref?.()
    },
    async stop () {
      running = false
      clearInterval(refreshTimer)
      clearInterval(discoverTimer)
      for (const link of links.values()) link.close()
      links.clear()
    },
    refresh,
    status: () => {
      let queued = 0
      let queuedBytes = 0
      let open = 0
      for (const link of links.values()) {
        const s = link.status()
        queued += s.queuedFrames
        queuedBytes += s.queuedBytes
        if (s.open) open++
      }
      return { ...counts, dropped: { ...counts.dropped }, queued, queuedBytes, peers: links.size, open }
    }
  }
}
