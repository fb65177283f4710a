/**
 * [STR-49] Where applications reach the network's stream peers. A stream peer answers the
 * protocol `/gatemesh/stream-endpoints/1.0.0` with its broker's advertised listeners (`--public-host`,
 * [ACS-18]); an access gateway keeps the answers of the verified stream peers it is connected to
 * (asked when a peer verifies, and again on every refresh) so that GET /v1/network can list them
 * and the web application's CSP can allow exactly their WebSocket origins ([ACS-23]).
 */
import { lpStream } from '@libp2p/utils'
import { decode, encode, rfc8949EncodeOptions } from 'cborg'
import { GatemeshError, isGatemeshError, isPlainUrl } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { AbortOptions, Stream } from '@libp2p/interface'

export const STREAM_ENDPOINTS_PROTOCOL = '/gatemesh/stream-endpoints/1.0.0'

export interface StreamEndpoints { mqtt: string, ws: string }

const MAX_FRAME_BYTES = 2048
const MAX_URL_LENGTH = 512
const FRAMING = { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_FRAME_BYTES + 16 }
const TIMEOUT_MS = 5000

/** [STR-49] The answer `{ v: 1, mqtt, ws }`, checked: anything else is GM_ERR_STREAM_ENDPOINTS_MALFORMED. */
export function decodeStreamEndpoints (bytes: Uint8Array): StreamEndpoints {
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    throw new GatemeshError('GM_ERR_STREAM_ENDPOINTS_MALFORMED', 'The answer is not CBOR.', { cause: err })
  }
  const { v, mqtt, ws, ...rest } = (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : { v: undefined }) as Record<string, unknown>
  if (v !== 1 || Object.keys(rest).length > 0) throw new GatemeshError('GM_ERR_STREAM_ENDPOINTS_MALFORMED', 'The answer is not { v: 1, mqtt, ws }.')
  for (const [name, url] of [['mqtt', mqtt], ['ws', ws]] as const) {
    // a host that URL parsers take but that would be policy syntax in connect-src ([ACS-23]) is refused here
    if (typeof url !== 'string' || url.length > MAX_URL_LENGTH || !isPlainUrl(url, name) || !URL.canParse(url)) {
      throw new GatemeshError('GM_ERR_STREAM_ENDPOINTS_MALFORMED', `Field '${name}' is not a ${name === 'ws' ? 'ws(s)' : 'mqtt(s)'}:// URL.`)
    }
  }
  return { mqtt: mqtt as string, ws: ws as string }
}

export function encodeStreamEndpoints (endpoints: StreamEndpoints): Uint8Array {
  return encode({ v: 1, mqtt: endpoints.mqtt, ws: endpoints.ws }, rfc8949EncodeOptions)
}

/** [STR-49] The stream peer's side: one frame with its listeners, then the stream closes; nothing when it has none yet. */
export function serveStreamEndpoints (endpoints: () => StreamEndpoints | undefined): (stream: Stream) => Promise<void> {
  return async (stream) => {
    const signal = AbortSignal.timeout(TIMEOUT_MS)
    try {
      const current = endpoints()
      if (current === undefined) {
        stream.abort(new Error('no stream listeners yet'))
        return
      }
      await lpStream(stream, FRAMING).write(encodeStreamEndpoints(current), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}

export interface EndpointsDialer {
  dialProtocol: (peerId: string, protocol: string, options?: AbortOptions) => Promise<Stream>
}

/** [STR-49] Asks a verified stream peer for its listeners. */
export async function askStreamEndpoints (overlay: EndpointsDialer, peerId: string): Promise<StreamEndpoints> {
  const signal = AbortSignal.timeout(TIMEOUT_MS)
  let stream: Stream | undefined
  try {
    stream = await overlay.dialProtocol(peerId, STREAM_ENDPOINTS_PROTOCOL, { signal })
    const frame = await lpStream(stream, FRAMING).read({ signal })
    await stream.close({ signal }).catch(() => {})
    return decodeStreamEndpoints(frame.subarray())
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    if (isGatemeshError(err)) throw err
    // a length prefix past the frame's bound is an answer, a wrong one, not silence
    if (err instanceof Error && ['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'StreamBufferError'].includes(err.name)) {
      throw new GatemeshError('GM_ERR_STREAM_ENDPOINTS_MALFORMED', `The answer is longer than ${MAX_FRAME_BYTES} bytes.`, { cause: err })
    }
    throw new GatemeshError('GM_ERR_STREAM_ENDPOINTS_UNREACHABLE', undefined, { cause: err })
  }
}

export interface StreamPeerDirectoryComponents {
  /** The verified peers that run stream ([OVL-31]), now. */
  streamPeers: () => string[]
  /** Asks one of them for its listeners. */
  ask: (peerId: string) => Promise<StreamEndpoints>
  /** Looks for stream peers not connected yet ([OVL-30]); they verify, and are asked then. */
  discover?: () => Promise<void>
  logger: Logger
}

export interface StreamPeerDirectory {
  /** The listeners of the verified stream peers answered so far, by peer id order of the answers. */
  list: () => StreamEndpoints[]
  /** Asks the peers not answered yet (a peer that just verified, say); resolves when they answered or failed. */
  refresh: () => Promise<void>
  start: () => void
  stop: () => void
}

/**
 * [STR-49] The listeners of the network's stream peers, as far as this gateway knows them: a peer
 * is listed while it is verified and has answered; every `intervalMs` (default 60 s) the gateway
 * looks for stream peers again and asks every one again (a restarted peer's ports change).
 */
export function createStreamPeerDirectory (components: StreamPeerDirectoryComponents, init: { intervalMs?: number } = {}): StreamPeerDirectory {
  const known = new Map<string, StreamEndpoints>()
  const asking = new Map<string, Promise<void>>()
  /** Failures in a row, and the retry due, per peer not answering (a stream peer that verified before its broker listened, say). */
  const failing = new Map<string, { count: number, retry: ReturnType<typeof setTimeout> }>()
  const intervalMs = init.intervalMs ?? 60_000
  let timer: ReturnType<typeof setInterval> | undefined
  let started = false

  const ask = async (peerId: string): Promise<void> => {
    const pending = asking.get(peerId)
    if (pending !== undefined) return await pending
    const run = (async () => {
      const failed = failing.get(peerId)
      if (failed !== undefined) clearTimeout(failed.retry)
      try {
        known.set(peerId, await components.ask(peerId))
        failing.delete(peerId)
      } catch (err) {
        known.delete(peerId)
        components.logger.debug({ peerId, code: isGatemeshError(err) ? err.code : undefined }, 'a stream peer did not tell its listeners')
        // asked again after 1 s, doubling up to the refresh interval, while it is a verified stream peer
        const count = (failed?.count ?? 0) + 1
        const retry = setTimeout(() => {
          if (started && components.streamPeers().includes(peerId)) void ask(peerId)
          else failing.delete(peerId)
        }, Math.min(1000 * 2 ** (count - 1), intervalMs))
        retry.unref?.()
        if (started) failing.set(peerId, { count, retry })
        else clearTimeout(retry)
      } finally {
        asking.delete(peerId)
      }
    })()
    asking.set(peerId, run)
    await run
  }

  const refresh = async (all = false): Promise<void> => {
    const peers = components.streamPeers()
    // a peer that failed is asked again by its own retry (or the next round), not by every refresh
    await Promise.all(peers.filter(p => all || (!known.has(p) && !failing.has(p))).map(ask))
  }

  return {
    list () {
      const live = new Set(components.streamPeers())
      for (const peerId of known.keys()) if (!live.has(peerId)) known.delete(peerId)
      // the ones never asked yet are asked now, for the next caller; one that failed waits for
      // its retry: a request here must not make the gateway dial a failing peer each time
      if ([...live].some(p => !known.has(p) && !asking.has(p) && !failing.has(p))) void refresh()
      return [...known.values()]
    },
    refresh: async () => { await refresh() },
    start () {
      started = true
      const round = async (): Promise<void> => {
        await components.discover?.().catch((err: unknown) => { components.logger.debug({ err }, 'stream peer discovery failed') })
        await refresh(true)
      }
      void round()
      timer = setInterval(() => { void round() }, intervalMs)
      timer.unref?.()
    },
    stop () {
      started = false
      if (timer !== undefined) clearInterval(timer)
      timer = undefined
      for (const { retry } of failing.values()) clearTimeout(retry)
      failing.clear()
      known.clear()
    }
  }
}
