/**
 * A collector's link to one stream peer ([STR-35]): one long-lived libp2p stream of
 * `/gatemesh/stream-relay/1.0.0`, a byte-bounded queue of frames in front of it, micro-batched
 * writes (flushed on the next turn of the event loop, or at once past 32 KiB queued), libp2p's
 * backpressure honoured (a write that fills the stream's buffer waits for 'drain'; meanwhile the
 * queue fills and then drops, counted), and a broken stream reopened with back-off. A slow or
 * stalled stream peer costs at most its queue's bytes and never slows the caller: `enqueue`
 * never waits.
 */
import type { Stream } from '@libp2p/interface'

export interface RelayLinkComponents {
  /** Opens a relay stream to the peer (`overlay.dialProtocol(peer, RELAY_PROTOCOL)`). */
  dial: (signal: AbortSignal) => Promise<Stream>
  /** Told what became of readings: written on the stream, or dropped and why. */
  count: (what: 'relayed' | 'queueFull' | 'publishFailed', readings: number, messages: number, err?: unknown) => void
}

export interface RelayLinkInit {
  /** Bytes of frames queued for the peer, at most (one largest frame always fits). */
  maxQueuedBytes?: number
  /** Queued bytes past which the queue is written at once rather than on the next turn. */
  flushBytes?: number
  /** Back-off before reopening a broken stream: from `minBackoffMs`, doubling, to `maxBackoffMs`. */
  minBackoffMs?: number
  maxBackoffMs?: number
  /** How long opening a stream may take. */
  dialTimeoutMs?: number
}

export const RELAY_LINK_DEFAULTS = { maxQueuedBytes: 2 * 1024 * 1024 + 64, flushBytes: 32 * 1024, minBackoffMs: 250, maxBackoffMs: 30_000, dialTimeoutMs: 10_000 } as const

export interface RelayLinkStatus {
  open: boolean
  queuedFrames: number
  queuedBytes: number
}

export interface RelayLink {
  /** Queues one frame carrying `readings` readings; false when it was dropped (the queue is full). */
  enqueue: (frame: Uint8Array, readings: number) => boolean
  /** Opens the stream now if it is not open and not backing off. */
  connect: () => void
  /** Closes the stream and drops what is queued (counted publishFailed). */
  close: () => void
  status: () => RelayLinkStatus
}

interface Queued { frame: Uint8Array, readings: number }

export function createRelayLink (components: RelayLinkComponents, init: RelayLinkInit = {}): RelayLink {
  const { maxQueuedBytes, flushBytes, minBackoffMs, maxBackoffMs, dialTimeoutMs } = { ...RELAY_LINK_DEFAULTS, ...init }
  const queue: Queued[] = []
  let queuedBytes = 0
  let stream: Stream | undefined
  let opening = false
  let closed = false
  let failures = 0
  let retryAt = 0
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let flushScheduled = false
  let draining = false

  const scheduleFlush = (): void => {
    if (flushScheduled) return
    flushScheduled = true
    setImmediate(() => { flushScheduled = false; flush() })
  }

  /** Writes queued frames, in chunks of about `flushBytes`, until the stream asks to wait. */
  const flush = (): void => {
    if (closed || draining || queue.length === 0) return
    const s = stream
    if (s === undefined) { connect(); return }
    while (queue.length > 0) {
      if (s.writableNeedsDrain) { waitDrain(s); return }
      const parts: Queued[] = []
      let bytes = 0
      while (queue.length > 0 && (parts.length === 0 || bytes + (queue[0] as Queued).frame.length <= flushBytes)) {
        const item = queue.shift() as Queued
        parts.push(item)
        bytes += item.frame.length
      }
      queuedBytes -= bytes
      const chunk = parts.length === 1 ? (parts[0] as Queued).frame : concat(parts, bytes)
      const readings = parts.reduce((n, p) => n + p.readings, 0)
      try {
        s.send(chunk)
      } catch (err) {
        components.count('publishFailed', readings, parts.length, err)
        broken(s, err)
        return
      }
      components.count('relayed', readings, parts.length)
    }
  }

  const waitDrain = (s: Stream): void => {
    draining = true
    s.onDrain().then(() => {
      draining = false
      if (stream === s) flush()
    }, (err: unknown) => {
      draining = false
      broken(s, err)
    })
  }

  /** The stream closed or failed: forget it and reopen after the back-off. */
  const broken = (s: Stream, err?: unknown): void => {
    if (stream !== s) return
    stream = undefined
    draining = false
    if (s.status === 'open') s.abort(err instanceof Error ? err : new Error('The relay stream broke.'))
    backoff()
  }

  const backoff = (): void => {
    if (closed) return
    failures++
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(failures - 1, 16))
    // jitter: collectors that lost the same peer do not all come back at once
    const wait = Math.round(delay * (0.75 + Math.random() * 0.5))
    retryAt = Date.now() + wait
    clearTimeout(retryTimer)
    // the back-off is over when the timer fires: a timer may fire a millisecond before Date.now()
    // reaches retryAt, and connect() would then return without arming another (the link stuck
    // until the next enqueue)
    retryTimer = setTimeout(() => { retryAt = 0; connect() }, wait)
    retryTimer.unref?.()
  }

  const connect = (): void => {
    if (closed || opening || stream !== undefined || Date.now() < retryAt) return
    opening = true
    components.dial(AbortSignal.timeout(dialTimeoutMs)).then(s => {
      opening = false
      if (closed) { s.abort(new Error('The relay link closed.')); return }
      stream = s
      failures = 0
      // we read nothing: whatever the stream peer sends is discarded
      s.addEventListener('close', () => { broken(s) })
      s.addEventListener('remoteCloseWrite', () => { broken(s) })
      flush()
    }, () => {
      opening = false
      backoff()
    })
  }

  return {
    enqueue (frame, readings) {
      if (closed) return false
      if (queuedBytes + frame.length > maxQueuedBytes) {
        components.count('queueFull', readings, 1)
        return false
      }
      queue.push({ frame, readings })
      queuedBytes += frame.length
      if (stream === undefined) connect()
      else if (queuedBytes >= flushBytes) flush()
      else scheduleFlush()
      return true
    },
    connect,
    close () {
      closed = true
      clearTimeout(retryTimer)
      const left = queue.splice(0)
      queuedBytes = 0
      const readings = left.reduce((n, q) => n + q.readings, 0)
      if (left.length > 0) components.count('publishFailed', readings, left.length)
      const s = stream
      stream = undefined
      // what was written is sent, then the stream closes; a stalled peer's is dropped
      if (s !== undefined) void s.close({ signal: AbortSignal.timeout(1000) }).catch(() => { s.abort(new Error('The relay link closed.')) })
    },
    status: () => ({ open: stream !== undefined, queuedFrames: queue.length, queuedBytes })
  }
}

function concat (parts: Queued[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes)
  let at = 0
  for (const { frame } of parts) {
    out.set(frame, at)
    at += frame.length
  }
  return out
}
