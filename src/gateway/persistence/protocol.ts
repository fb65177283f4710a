/**
 * The persistence wire protocol between gateways, `/gatemesh/persistence/1.0.0`. [PER-2]
 *
 * One request and one response per stream, each one varint-length-prefixed CBOR map of at most
 * MAX_FRAME_BYTES (8 MiB). A request is `{ op, ... }`; a response `{ ok: true, ... }` or
 * `{ ok: false, code: 'GM_ERR_...', message }`. The decoders check every field's type and bound
 * before anything uses it: bad input is GM_ERR_PERSISTENCE_BAD_REQUEST, never a crash.
 *
 * `request` is the client side (one stream, 10 s), `serve` turns a handler into the stream
 * handler `overlay.handle` takes.
 */
import { lpStream } from '@libp2p/utils'
import { decode, encode, rfc8949EncodeOptions } from 'cborg'
import { GatemeshError, SENSOR_ID_PATTERN, isGatemeshError, readIfCanonical } from '../../core/index.ts'
import type { ErrorCode } from '../../core/index.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import type { AbortOptions, Stream } from '@libp2p/interface'

export const PERSISTENCE_PROTOCOL = '/gatemesh/persistence/1.0.0'
/** [PER-2] One frame (request or response) at most. */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024
/** [PER-2] A request's time-out. */
export const REQUEST_TIMEOUT_MS = 10_000
export const MAX_STORE_ENVELOPES = 4096
export const MAX_STORE_CHECKPOINTS = 1024
export const MAX_CERTS = 256
export const MAX_CERT_BYTES = 16 * 1024
/** An envelope: MAX_READING_BYTES of ciphertext, 256 wraps, the proof ([ENV-8]); generous. */
export const MAX_ENVELOPE_BYTES = 160 * 1024
/** [PER-10] */
export const MAX_CHECKPOINT_BYTES = 600 * 1024
export const MAX_RANGE_LIMIT = 10_000
export const MAX_FETCH_IDS = 4096
/** An `ids` answer lists at most this many ids; `more` says the range had more. */
export const MAX_IDS = 100_000
/** An `ids` answer lists at most this many checkpoint identities ([PER-2]). */
export const MAX_CHECKPOINT_IDS = 20_000
export const MAX_DIGEST_BUCKETS = 10_000
/**
 * [PER-2] An `ids` request spans at most one repair bucket (an hour of seq), as repair asks: the
 * replica reads every id of the span before it cuts the answer to MAX_IDS.
 */
export const MAX_IDS_SPAN = 3_600_000_000
export const MAX_SENSORS_LIMIT = 10_000
/**
 * [PER-2] Frames up to MAX_FRAME_BYTES: the byte stream under lpStream buffers 4 MiB unless told
 * (a larger frame reset the stream), so its buffer holds a whole frame and its length prefix.
 */
const FRAMING = { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_FRAME_BYTES + 16 }
/** Seqs are < 2^53 ([PER-10]). */
const MAX_SEQ = Number.MAX_SAFE_INTEGER

/** [PER-1] A reading's place in history: [seq, gw]. */
export type WireKey = [number, Uint8Array]
/** [PER-2] A checkpoint's identity within a sensor: [bucket, part, gw]. */
export type WireCheckpointId = [number, number, Uint8Array]

export interface StoreRequest { op: 'store', certs: Uint8Array[], envs: Uint8Array[], cps: Uint8Array[] }
export interface RangeRequest { op: 'range', sensor: string, fromSeq: number, toSeq: number, order: 'asc' | 'desc', after?: WireKey, limit: number }
export interface DigestRequest { op: 'digest', sensor: string, fromBucket: number, toBucket: number }
export interface IdsRequest { op: 'ids', sensor: string, fromSeq: number, toSeq: number }
export interface FetchRequest { op: 'fetch', sensor: string, ids: WireKey[], cps?: WireCheckpointId[] }
export interface SensorsRequest { op: 'sensors', after?: string, limit: number }
export type PersistenceRequest = StoreRequest | RangeRequest | DigestRequest | IdsRequest | FetchRequest | SensorsRequest
export type Op = PersistenceRequest['op']

export interface Rejected { i: number, kind: 'env' | 'cp', code: ErrorCode }
export interface StoreResponse { ok: true, stored: number, duplicates: number, rejected: Rejected[] }
export interface RangeResponse { ok: true, envs: Uint8Array[], cps: Uint8Array[], certs: Uint8Array[], more: boolean }
export interface DigestResponse { ok: true, buckets: Array<[number, number, Uint8Array]> }
export interface IdsResponse { ok: true, ids: WireKey[], cps: WireCheckpointId[], more: boolean }
export interface FetchResponse { ok: true, envs: Uint8Array[], cps: Uint8Array[], certs: Uint8Array[] }
export interface SensorsResponse { ok: true, sensors: string[] }
export interface ErrorResponse { ok: false, code: ErrorCode, message: string }

/** The answer to each op. */
export interface ResponseOf {
  store: StoreResponse
  range: RangeResponse
  digest: DigestResponse
  ids: IdsResponse
  fetch: FetchResponse
  sensors: SensorsResponse
}
export type PersistenceResponse = ResponseOf[Op]

function bad (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_PERSISTENCE_BAD_REQUEST', detail)
}

type Fields = Record<string, unknown>

function decodeMap (bytes: Uint8Array): Fields {
  if (bytes.length > MAX_FRAME_BYTES) throw bad('The frame is too large.')
  // a frame gatemesh encodes is canonical (rfc8949EncodeOptions): read in one pass, its byte
  // strings views of one copy of the frame; anything else goes to cborg's strict decode
  let value: unknown = readIfCanonical(bytes)
  if (value === undefined) {
    try {
      value = decode(bytes, { strict: true, allowIndefinite: false, rejectDuplicateMapKeys: true, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false, useMaps: false })
    } catch (err) {
      throw new GatemeshError('GM_ERR_PERSISTENCE_BAD_REQUEST', 'Not CBOR.', { cause: err })
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) throw bad('Not a map.')
  return value as Fields
}

function onlyKeys (map: Fields, keys: readonly string[]): void {
  for (const key of Object.keys(map)) if (!keys.includes(key)) throw bad(`Unknown field '${key}'.`)
}

function uint (map: Fields, key: string, max = MAX_SEQ): number {
  const v = map[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw bad(`Field '${key}' must be an integer from 0 to ${max}.`)
  return v
}

function bytesList (map: Fields, key: string, maxItems: number, maxBytes: number): Uint8Array[] {
  const v = map[key]
  if (!Array.isArray(v) || v.length > maxItems) throw bad(`Field '${key}' must be a list of at most ${maxItems} byte strings.`)
  for (const item of v) {
    if (!(item instanceof Uint8Array) || item.length === 0 || item.length > maxBytes) throw bad(`Field '${key}' must hold byte strings of 1 to ${maxBytes} bytes.`)
  }
  return v as Uint8Array[]
}

function sensorId (map: Fields, key = 'sensor'): string {
  const v = map[key]
  if (typeof v !== 'string' || !SENSOR_ID_PATTERN.test(v)) throw bad(`Field '${key}' must be a sensor id.`)
  return v
}

function wireKey (v: unknown, what: string): WireKey {
  if (!Array.isArray(v) || v.length !== 2) throw bad(`${what} must be [seq, gw].`)
  const [seq, gw] = v as unknown[]
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw bad(`${what}: seq must be an integer below 2^53.`)
  if (!(gw instanceof Uint8Array) || gw.length !== 32) throw bad(`${what}: gw must be 32 bytes.`)
  return [seq, gw]
}

/** [PER-10] A checkpoint's bucket is that of a seq below 2^53; its part below 60 000 000 ([PER-23]). */
function checkpointId (v: unknown, what: string): WireCheckpointId {
  if (!Array.isArray(v) || v.length !== 3) throw bad(`${what} must be [bucket, part, gw].`)
  const [bucket, part, gw] = v as unknown[]
  if (typeof bucket !== 'number' || !Number.isSafeInteger(bucket) || bucket < 0 || bucket > Math.floor(MAX_SEQ / 60_000_000)) throw bad(`${what}: bucket must be a checkpoint bucket.`)
  if (typeof part !== 'number' || !Number.isSafeInteger(part) || part < 0 || part >= 60_000_000) throw bad(`${what}: part must be an integer below 60 000 000.`)
  if (!(gw instanceof Uint8Array) || gw.length !== 32) throw bad(`${what}: gw must be 32 bytes.`)
  return [bucket, part, gw]
}

function seqRange (map: Fields): { fromSeq: number, toSeq: number } {
  const fromSeq = uint(map, 'fromSeq')
  const toSeq = uint(map, 'toSeq')
  if (toSeq < fromSeq) throw bad('toSeq must not be below fromSeq.')
  return { fromSeq, toSeq }
}

export function encodeRequest (request: PersistenceRequest): Uint8Array {
  return encode(request, rfc8949EncodeOptions)
}

export function encodeResponse (response: PersistenceResponse | ErrorResponse): Uint8Array {
  return encode(response, rfc8949EncodeOptions)
}

/** [PER-2] Decodes a request and checks its shape and bounds; GM_ERR_PERSISTENCE_BAD_REQUEST otherwise. */
export function decodeRequest (bytes: Uint8Array): PersistenceRequest {
  const map = decodeMap(bytes)
  switch (map.op) {
    case 'store':
      onlyKeys(map, ['op', 'certs', 'envs', 'cps'])
      return {
        op: 'store',
        certs: bytesList(map, 'certs', MAX_CERTS, MAX_CERT_BYTES),
        envs: bytesList(map, 'envs', MAX_STORE_ENVELOPES, MAX_ENVELOPE_BYTES),
        cps: bytesList(map, 'cps', MAX_STORE_CHECKPOINTS, MAX_CHECKPOINT_BYTES)
      }
    case 'range': {
      onlyKeys(map, ['op', 'sensor', 'fromSeq', 'toSeq', 'order', 'after', 'limit'])
      if (map.order !== 'asc' && map.order !== 'desc') throw bad("Field 'order' must be 'asc' or 'desc'.")
      const limit = uint(map, 'limit', MAX_RANGE_LIMIT)
      if (limit < 1) throw bad(`Field 'limit' must be 1 to ${MAX_RANGE_LIMIT}.`)
      const out: RangeRequest = { op: 'range', sensor: sensorId(map), ...seqRange(map), order: map.order, limit }
      if (map.after !== undefined) {
        out.after = wireKey(map.after, "Field 'after'")
        // a key in the range, as every cursor's is ([PER-51]): one outside would stretch the page's checkpoint span
        if (out.after[0] < out.fromSeq || out.after[0] >= out.toSeq) throw bad("Field 'after' must be a key in the range.")
      }
      return out
    }
    case 'digest': {
      onlyKeys(map, ['op', 'sensor', 'fromBucket', 'toBucket'])
      const fromBucket = uint(map, 'fromBucket')
      const toBucket = uint(map, 'toBucket')
      if (toBucket < fromBucket || toBucket - fromBucket >= MAX_DIGEST_BUCKETS) throw bad(`A digest spans 1 to ${MAX_DIGEST_BUCKETS} buckets.`)
      return { op: 'digest', sensor: sensorId(map), fromBucket, toBucket }
    }
    case 'ids': {
      onlyKeys(map, ['op', 'sensor', 'fromSeq', 'toSeq'])
      const span = seqRange(map)
      if (span.toSeq - span.fromSeq > MAX_IDS_SPAN) throw bad(`An ids request spans at most ${MAX_IDS_SPAN} seqs (one repair bucket).`)
      return { op: 'ids', sensor: sensorId(map), ...span }
    }
    case 'fetch': {
      onlyKeys(map, ['op', 'sensor', 'ids', 'cps'])
      if (!Array.isArray(map.ids) || map.ids.length > MAX_FETCH_IDS) throw bad(`Field 'ids' must list at most ${MAX_FETCH_IDS} ids.`)
      const out: FetchRequest = { op: 'fetch', sensor: sensorId(map), ids: map.ids.map((id, i) => wireKey(id, `ids[${i}]`)) }
      if (map.cps !== undefined) {
        if (!Array.isArray(map.cps) || map.cps.length > MAX_STORE_CHECKPOINTS) throw bad(`Field 'cps' must list at most ${MAX_STORE_CHECKPOINTS} checkpoint ids.`)
        out.cps = map.cps.map((id, i) => checkpointId(id, `cps[${i}]`))
      }
      return out
    }
    case 'sensors': {
      onlyKeys(map, ['op', 'after', 'limit'])
      const limit = uint(map, 'limit', MAX_SENSORS_LIMIT)
      if (limit < 1) throw bad(`Field 'limit' must be 1 to ${MAX_SENSORS_LIMIT}.`)
      const out: SensorsRequest = { op: 'sensors', limit }
      if (map.after !== undefined) out.after = sensorId(map, 'after')
      return out
    }
    default:
      throw bad('Unknown op.')
  }
}

/** [PER-2] Decodes the answer to `op`: the op's shape, or a refusal (thrown as its GatemeshError). */
export function decodeResponse<O extends Op> (op: O, bytes: Uint8Array): ResponseOf[O] {
  const map = decodeMap(bytes)
  if (map.ok === false) {
    onlyKeys(map, ['ok', 'code', 'message'])
    const code = typeof map.code === 'string' && /^GM_ERR_[A-Z0-9_]{1,64}$/.test(map.code) ? map.code as ErrorCode : 'GM_ERR_PERSISTENCE_BAD_REQUEST'
    const message = typeof map.message === 'string' ? map.message.slice(0, 512) : ''
    throw new GatemeshError(code, `(from the persistence peer: ${message})`)
  }
  if (map.ok !== true) throw bad("A response carries 'ok'.")
  return decodeOk(op, map) as ResponseOf[O]
}

function decodeOk (op: Op, map: Fields): PersistenceResponse {
  switch (op) {
    case 'store': {
      onlyKeys(map, ['ok', 'stored', 'duplicates', 'rejected'])
      if (!Array.isArray(map.rejected) || map.rejected.length > MAX_STORE_ENVELOPES + MAX_STORE_CHECKPOINTS) throw bad("Field 'rejected' must be a list.")
      const rejected = map.rejected.map((r: unknown): Rejected => {
        if (r === null || typeof r !== 'object' || Array.isArray(r)) throw bad('A rejection is a map.')
        const item = r as Fields
        onlyKeys(item, ['i', 'kind', 'code'])
        if (item.kind !== 'env' && item.kind !== 'cp') throw bad("A rejection's kind is 'env' or 'cp'.")
        if (typeof item.code !== 'string' || !/^GM_ERR_[A-Z0-9_]{1,64}$/.test(item.code)) throw bad("A rejection's code is a GM_ERR_ code.")
        return { i: uint(item, 'i', MAX_STORE_ENVELOPES), kind: item.kind, code: item.code as ErrorCode }
      })
      return { ok: true, stored: uint(map, 'stored'), duplicates: uint(map, 'duplicates'), rejected }
    }
    case 'range':
      onlyKeys(map, ['ok', 'envs', 'cps', 'certs', 'more'])
      if (typeof map.more !== 'boolean') throw bad("Field 'more' must be a boolean.")
      return { ok: true, ...pageFields(map), more: map.more }
    case 'fetch':
      onlyKeys(map, ['ok', 'envs', 'cps', 'certs'])
      return { ok: true, ...pageFields(map) }
    case 'digest': {
      onlyKeys(map, ['ok', 'buckets'])
      if (!Array.isArray(map.buckets) || map.buckets.length > MAX_DIGEST_BUCKETS) throw bad("Field 'buckets' must be a list.")
      return {
        ok: true,
        buckets: map.buckets.map((b: unknown): [number, number, Uint8Array] => {
          if (!Array.isArray(b) || b.length !== 3) throw bad('A bucket digest is [bucket, count, hash].')
          const [bucket, count, hash] = b as unknown[]
          if (typeof bucket !== 'number' || !Number.isSafeInteger(bucket) || bucket < 0) throw bad('A bucket is an integer.')
          if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) throw bad('A count is an integer.')
          if (!(hash instanceof Uint8Array) || hash.length !== 32) throw bad('A bucket hash is 32 bytes.')
          return [bucket, count, hash]
        })
      }
    }
    case 'ids':
      onlyKeys(map, ['ok', 'ids', 'cps', 'more'])
      if (!Array.isArray(map.ids) || map.ids.length > MAX_IDS) throw bad("Field 'ids' must be a list.")
      if (!Array.isArray(map.cps) || map.cps.length > MAX_CHECKPOINT_IDS) throw bad("Field 'cps' must be a list.")
      if (typeof map.more !== 'boolean') throw bad("Field 'more' must be a boolean.")
      return { ok: true, ids: map.ids.map((id, i) => wireKey(id, `ids[${i}]`)), cps: map.cps.map((id, i) => checkpointId(id, `cps[${i}]`)), more: map.more }
    case 'sensors':
      onlyKeys(map, ['ok', 'sensors'])
      if (!Array.isArray(map.sensors) || map.sensors.length > MAX_SENSORS_LIMIT) throw bad("Field 'sensors' must be a list.")
      for (const s of map.sensors) if (typeof s !== 'string' || !SENSOR_ID_PATTERN.test(s)) throw bad("Field 'sensors' must list sensor ids.")
      return { ok: true, sensors: map.sensors as string[] }
  }
}

function pageFields (map: Fields): { envs: Uint8Array[], cps: Uint8Array[], certs: Uint8Array[] } {
  return {
    envs: bytesList(map, 'envs', MAX_RANGE_LIMIT, MAX_ENVELOPE_BYTES),
    cps: bytesList(map, 'cps', MAX_RANGE_LIMIT, MAX_CHECKPOINT_BYTES),
    certs: bytesList(map, 'certs', MAX_CERTS * 4, MAX_CERT_BYTES)
  }
}

/** What `request` needs of the overlay. */
export interface PersistenceDialer {
  dialProtocol: (peerId: string, protocol: string, options?: AbortOptions) => Promise<Stream>
}

/**
 * [PER-2] Sends one request to a persistence peer on a stream of its own and returns its answer.
 * A refusal is thrown as its code; a peer not reached or a stream broken is
 * GM_ERR_PERSISTENCE_UNREACHABLE; no answer within `timeoutMs` (10 s) GM_ERR_PERSISTENCE_TIMEOUT.
 */
export async function request<R extends PersistenceRequest> (overlay: PersistenceDialer, peerId: string, message: R, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<ResponseOf[R['op']]> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS)
  const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
  let stream: Stream | undefined
  try {
    stream = await overlay.dialProtocol(peerId, PERSISTENCE_PROTOCOL, { signal })
    const lp = lpStream(stream, FRAMING)
    await lp.write(encodeRequest(message), { signal })
    const answer = await lp.read({ signal })
    await stream.close({ signal }).catch(() => {})
    return decodeResponse(message.op as R['op'], answer.subarray())
  } catch (err) {
    stream?.abort(err instanceof Error ? err : new Error(String(err)))
    if (timeout.aborted) throw new GatemeshError('GM_ERR_PERSISTENCE_TIMEOUT', undefined, { cause: err })
    if (options.signal?.aborted === true) throw err
    if (isGatemeshError(err)) throw err
    throw new GatemeshError('GM_ERR_PERSISTENCE_UNREACHABLE', undefined, { cause: err })
  }
}

/** Answers one decoded request from a verified peer; a thrown GatemeshError becomes a refusal. */
export type PersistenceHandler = (request: PersistenceRequest, peer: VerifiedPeer, signal: AbortSignal) => Promise<PersistenceResponse>

/**
 * [PER-2] The server side: reads one request, answers it, closes. A malformed frame is answered
 * GM_ERR_PERSISTENCE_BAD_REQUEST; an unexpected failure GM_ERR_PERSISTENCE_INTERNAL (logged by
 * `onError`). Nothing here throws to the overlay.
 */
export function serve (handler: PersistenceHandler, options: { timeoutMs?: number, onError?: (err: unknown) => void } = {}): (stream: Stream, peer: VerifiedPeer) => Promise<void> {
  return async (stream, peer) => {
    const signal = AbortSignal.timeout(options.timeoutMs ?? REQUEST_TIMEOUT_MS)
    const lp = lpStream(stream, FRAMING)
    let response: PersistenceResponse | ErrorResponse
    try {
      let frame
      try {
        frame = await lp.read({ signal })
      } catch (err) {
        if (signal.aborted) throw new GatemeshError('GM_ERR_PERSISTENCE_TIMEOUT', undefined, { cause: err })
        throw new GatemeshError('GM_ERR_PERSISTENCE_BAD_REQUEST', 'Could not read a frame.', { cause: err })
      }
      response = await handler(decodeRequest(frame.subarray()), peer, signal)
    } catch (err) {
      if (!isGatemeshError(err)) options.onError?.(err)
      const code = isGatemeshError(err) ? err.code : 'GM_ERR_PERSISTENCE_INTERNAL'
      const message = isGatemeshError(err) ? err.message : 'Internal error.'
      response = { ok: false, code, message }
    }
    try {
      await lp.write(encodeResponse(response), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}
