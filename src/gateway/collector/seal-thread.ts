/**
 * [COL-23] A sealing thread (the worker side of seal-pool.ts) and the messages between it and the
 * event loop: the readings of a message packed in one transferred buffer, and the envelopes of
 * its answer likewise (docs/PROTOCOL.md [COL-23]).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { EnvelopeSealer, isGatemeshError } from '../../core/index.ts'
import type { ReadingHeader, SealOutcome } from '../../core/index.ts'

/** A recipient as posted to a thread: its public key copied out of any larger buffer. */
export interface PostedRecipient { id: string, publicKey: Uint8Array }

/** main -> worker */
export type Request =
  /**
   * `readings` is packBatch's buffer; `lists` are the access lists that this message is the
   * first to use on this thread, by number; `reset`: forget every list before taking these.
   */
  | { type: 'seal', id: number, readings: ArrayBuffer, lists: Array<[number, PostedRecipient[]]>, reset: boolean }
  | { type: 'retain', keep: PostedRecipient[] }
/** worker -> main */
export type Reply =
  | { type: 'ready' }
  /** `packed`: u32 count, then each envelope's length (u32), then the envelopes; a failed reading has length 0 and its error in `errors`. */
  | { type: 'sealed', id: number, packed: ArrayBuffer, errors?: Array<{ code: string, message: string } | null> }

/** Per reading in a packed batch: u32 list, f64 ts, f64 seq, u16 n, u32 m (see packBatch). */
const PACKED_FIXED_BYTES = 4 + 8 + 8 + 2 + 4

/**
 * The readings of one message to a thread, as one buffer: for each, in order,
 *
 *     u32 list | f64 ts | f64 seq | u16 n | n bytes: sensor (UTF-8) | u32 m | m bytes: the reading
 *
 * (big-endian), `list` the number of its access list on that thread.
 */
export function packBatch (items: ReadonlyArray<{ header: ReadingHeader, plaintext: Uint8Array }>, lists: readonly number[]): ArrayBuffer {
  let size = 0
  const idBytes: number[] = []
  for (const item of items) {
    const n = Buffer.byteLength(item.header.sensor, 'utf8')
    idBytes.push(n)
    size += PACKED_FIXED_BYTES + n + item.plaintext.length
  }
  const buffer = new ArrayBuffer(size)
  const out = Buffer.from(buffer)
  let at = 0
  for (let i = 0; i < items.length; i++) {
    const { header, plaintext } = items[i] as { header: ReadingHeader, plaintext: Uint8Array }
    const n = idBytes[i] as number
    // a sensor id longer than a u16 cannot be sealed anyway (checkHeader): sent empty, refused there
    const sent = n > 0xffff ? 0 : n
    at = out.writeUInt32BE(lists[i] as number, at)
    at = out.writeDoubleBE(header.ts, at)
    at = out.writeDoubleBE(header.seq, at)
    at = out.writeUInt16BE(sent, at)
    at += sent === 0 ? 0 : out.write(header.sensor, at, sent, 'utf8')
    at = out.writeUInt32BE(plaintext.length, at)
    out.set(plaintext, at)
    at += plaintext.length
  }
  return buffer.byteLength === at ? buffer : buffer.slice(0, at)
}

/** The readings of packBatch's buffer; the plaintexts are views of it. */
export function unpackBatch (buffer: ArrayBuffer): Array<{ header: ReadingHeader, plaintext: Uint8Array, list: number }> {
  const view = new DataView(buffer)
  const bytes = new Uint8Array(buffer)
  const items: Array<{ header: ReadingHeader, plaintext: Uint8Array, list: number }> = []
  let at = 0
  while (at < bytes.length) {
    const list = view.getUint32(at)
    const ts = view.getFloat64(at + 4)
    const seq = view.getFloat64(at + 12)
    const n = view.getUint16(at + 20)
    const sensor = sensorIds.decode(bytes.subarray(at + 22, at + 22 + n))
    at += 22 + n
    const m = view.getUint32(at)
    at += 4
    items.push({ header: { sensor, ts, seq }, plaintext: bytes.subarray(at, at + m), list })
    at += m
  }
  return items
}

const sensorIds = new TextDecoder('utf-8')

/** The worker's side: one sealer, its contexts kept across batches. */
async function serve (seed: Uint8Array): Promise<void> {
  const { createNodeCryptoSuite } = await import('../../platform/node-crypto.ts')
  const suite = createNodeCryptoSuite()
  const sealer = new EnvelopeSealer({ suite, signer: await suite.importSigningKey(seed) })
  seed.fill(0)
  const port = parentPort
  if (port === null) return
  /** The access lists this thread was sent, by number. */
  const lists = new Map<number, PostedRecipient[]>()
  port.on('message', (request: Request) => {
    if (request.type === 'retain') { sealer.retainOnly(request.keep); return }
    // the lists are looked up below before the first await: a later message's reset cannot
    // clear them under an earlier one (messages arrive in order, each handled up to its await)
    if (request.reset) lists.clear()
    for (const [list, recipients] of request.lists) lists.set(list, recipients)
    void (async () => {
      const failure = (err: unknown): { code: string, message: string } => isGatemeshError(err) ? { code: err.code, message: err.message } : { code: 'GM_ERR_COLLECTOR_INTERNAL', message: 'Sealing failed.' }
      const items = unpackBatch(request.readings)
      // [ENV-9] the batch's readings are signed once, over the Merkle tree head of their bodies
      let outcomes: SealOutcome[]
      try {
        outcomes = await sealer.sealBatch(items.map(item => ({ header: item.header, plaintext: item.plaintext, recipients: lists.get(item.list) ?? [] })))
      } catch (err) {
        outcomes = items.map(() => ({ error: err }))
      }
      let size = 4 + 4 * outcomes.length
      for (const outcome of outcomes) if ('envelope' in outcome) size += outcome.envelope.length
      const packed = new ArrayBuffer(size)
      const view = new DataView(packed)
      const bytes = new Uint8Array(packed)
      view.setUint32(0, outcomes.length)
      let offset = 4 + 4 * outcomes.length
      let errors: Array<{ code: string, message: string } | null> | undefined
      for (const [i, outcome] of outcomes.entries()) {
        if ('envelope' in outcome) {
          view.setUint32(4 + 4 * i, outcome.envelope.length)
          bytes.set(outcome.envelope, offset)
          offset += outcome.envelope.length
        } else {
          errors ??= outcomes.map(() => null)
          errors[i] = failure(outcome.error)
        }
      }
      const reply: Reply = { type: 'sealed', id: request.id, packed, errors }
      port.postMessage(reply, [packed])
    })()
  })
  port.postMessage({ type: 'ready' } satisfies Reply)
}

if (!isMainThread && (workerData as { sealPool?: boolean } | null)?.sealPool === true) {
  await serve((workerData as { seed: Uint8Array }).seed)
}
