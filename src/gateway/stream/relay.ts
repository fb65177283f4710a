/**
 * The stream peer's side of the relay ([STR-32]..[STR-34]): it handles the libp2p protocol
 * `/gatemesh/stream-relay/1.0.0` (from verified peers only, [OVL-32]); collectors keep one
 * long-lived stream to it (sink.ts, relay-link.ts) and write relay messages ([STR-30]) on it,
 * each a varint-length-prefixed frame (relay-frames.ts). Each frame is validated ([STR-31],
 * `from` being the stream's verified remote peer) and its readings handed to the local broker,
 * in the stream's order; refused frames are counted by code and the stream is reset after
 * repeated ones. A stream whose frames wait to be validated is paused (libp2p backpressure: the
 * collector's queue for this peer fills and drops, counted there).
 */
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { RELAY_PROTOCOL, createRelayFrameDecoder } from './relay-frames.ts'
import { validateRelayMessage } from './relay-validator.ts'
import type { Logger } from '../../platform/logger.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import type { DeliverReadings, RelayValidatorComponents } from './relay-validator.ts'
import type { Stream, StreamHandlerOptions, StreamMessageEvent } from '@libp2p/interface'

export { decodeRelayMessage, encodeRelayMessages, MAX_RELAY_MESSAGE_BYTES, MAX_RELAY_ENVELOPES, RELAY_VERSION } from './relay-message.ts'
export { RELAY_PROTOCOL, createRelayFrameDecoder, encodeRelayFrame } from './relay-frames.ts'
export { validateRelayMessage } from './relay-validator.ts'
export type { DeliverReadings, StreamReading } from './relay-validator.ts'

/** What the relay needs of the overlay ([OVL-32]). */
export interface RelayOverlay {
  handle: (protocol: string, handler: (stream: Stream, peer: VerifiedPeer) => void | Promise<void>, options?: StreamHandlerOptions) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
}

export interface StreamRelayComponents extends RelayValidatorComponents {
  overlay: RelayOverlay
  /** The local broker's injection (`broker.deliver`). */
  deliver: DeliverReadings
  logger: Logger
}

export interface StreamRelayInit {
  /** [STR-34] Refused frames on one stream after which it is reset. */
  maxBadFrames?: number
  /** [STR-34] Bytes of frames waiting to be validated on one stream past which it is paused. */
  maxPendingBytes?: number
}

export const STREAM_RELAY_DEFAULTS = { maxBadFrames: 8, maxPendingBytes: 2 * 1024 * 1024 } as const
/** [STR-32] Relay streams one connection may open to a stream peer (one, and room to reopen). */
const MAX_INBOUND_STREAMS = 4

export interface StreamRelay {
  /** Handles the relay protocol. */
  start: () => Promise<void>
  /** Stops handling it and resets the open relay streams. */
  stop: () => Promise<void>
  status: () => StreamRelayStatus
}

export interface StreamRelayStatus {
  /** Relay messages accepted, and the readings they carried to the broker. */
  accepted: number
  delivered: number
  /** Relay messages refused, by code. */
  rejected: Record<string, number>
  /** Relay messages not delivered for a failure of our own (the validation threw unexpectedly). */
  ignored: number
  /** Relay streams reset after refused frames. */
  resets: number
  /** Collectors with a relay stream open to this stream peer. */
  peers: number
}

/** Logs at most this many refusals per second (a flood of forged messages must not flood the log). */
const LOGS_PER_SECOND = 10

/** [STR-33] The stream peer's side of the relay. */
export function createStreamRelay (components: StreamRelayComponents, init: StreamRelayInit = {}): StreamRelay {
  const { logger } = components
  const { maxBadFrames, maxPendingBytes } = { ...STREAM_RELAY_DEFAULTS, ...init }
  const counts = { accepted: 0, delivered: 0, ignored: 0, resets: 0, rejected: {} as Record<string, number> }
  /** Open relay streams, by the collector that opened them. */
  const open = new Map<Stream, string>()
  let running = false
  let logWindow = 0
  let logged = 0
  const mayLog = (): boolean => {
    const now = Date.now()
    if (now - logWindow >= 1000) { logWindow = now; logged = 0 }
    return logged++ < LOGS_PER_SECOND
  }

  function reject (code: string, from: string, detail?: string): void {
    counts.rejected[code] = (counts.rejected[code] ?? 0) + 1
    if (mayLog()) logger.warn({ code, peer: from, detail }, 'relay message rejected')
  }

  /** [STR-33] One collector's relay stream: frames validated and delivered in order, one at a time. */
  const serve = (stream: Stream, peer: VerifiedPeer): void => {
    if (!running) { stream.abort(new GatemeshError('GM_ERR_STREAM_RELAY_PUBLISH_FAILED', 'The relay is stopping.')); return }
    const from = peer.peerId
    open.set(stream, from)
    const decoder = createRelayFrameDecoder()
    const pending: Uint8Array[] = []
    let pendingBytes = 0
    let working = false
    let bad = 0
    let paused = false
    const reset = (code: string, detail: string): void => {
      counts.resets++
      if (mayLog()) logger.warn({ code, peer: from }, 'relay stream reset')
      pending.length = 0
      pendingBytes = 0
      stream.abort(new GatemeshError(code as 'GM_ERR_STREAM_RELAY_MALFORMED', detail))
    }
    const work = async (): Promise<void> => {
      if (working) return
      working = true
      try {
        while (running && pending.length > 0 && open.has(stream)) {
          const frame = pending.shift() as Uint8Array
          pendingBytes -= frame.length
          if (paused && pendingBytes <= maxPendingBytes / 2) { paused = false; stream.resume() }
          let readings
          try {
            readings = await validateRelayMessage(components, from, frame)
          } catch (err) {
            if (!isGatemeshError(err)) {
              counts.ignored++
              if (mayLog()) logger.warn({ err, peer: from }, 'relay message validation failed')
              continue
            }
            reject(err.code, from, err.message)
            // [STR-34] a sender of repeated bad frames loses its stream (it reopens with back-off)
            if (++bad >= maxBadFrames) { reset(err.code, `${bad} refused relay messages.`); return }
            continue
          }
          counts.accepted++
          counts.delivered += readings.length
          try {
            components.deliver(readings)
          } catch (err) {
            logger.warn({ err }, 'the broker refused relayed readings')
          }
        }
      } finally {
        working = false
      }
    }
    stream.addEventListener('message', (evt: StreamMessageEvent) => {
      let frames: Uint8Array[]
      try {
        frames = decoder.push(evt.data)
      } catch (err) {
        // [STR-32] a frame over 1 MiB: refused before it is buffered, the stream cannot go on
        const code = isGatemeshError(err) ? err.code : 'GM_ERR_STREAM_RELAY_MALFORMED'
        counts.rejected[code] = (counts.rejected[code] ?? 0) + 1
        reset(code, 'A relay frame over 1 MiB.')
        return
      }
      for (const frame of frames) {
        pending.push(frame)
        pendingBytes += frame.length
      }
      // [STR-34] backpressure: the collector's writes wait, then its queue for us drops
      if (pendingBytes > maxPendingBytes && !paused) { paused = true; stream.pause() }
      void work()
    })
    // we send nothing: our writable end closes when the collector closes its own
    stream.addEventListener('remoteCloseWrite', () => { void stream.close().catch(() => {}) })
    stream.addEventListener('close', () => { open.delete(stream) })
  }

  return {
    async start () {
      running = true
      await components.overlay.handle(RELAY_PROTOCOL, serve, { maxInboundStreams: MAX_INBOUND_STREAMS })
    },
    async stop () {
      running = false
      await components.overlay.unhandle(RELAY_PROTOCOL).catch(() => {})
      for (const stream of [...open.keys()]) stream.abort(new GatemeshError('GM_ERR_STREAM_RELAY_PUBLISH_FAILED', 'The stream peer is stopping.'))
      open.clear()
    },
    status: () => ({ ...counts, rejected: { ...counts.rejected }, peers: new Set(open.values()).size })
  }
}
