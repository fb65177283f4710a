/**
 * [COL-23] A sealing thread (the worker side of seal-pool.ts) and the messages between it and the
 * event loop: the readings of a message packed in one transferred buffer, and the envelopes of
 * its answer likewise (docs/PROTOCOL.md [COL-23]).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import { EnvelopeSealer, GatemeshError, isGatemeshError } from '../../core/index.ts'
import { decodeGroup, encodeGroup } from './journal-group.ts'
import type { ReadingHeader, SealOutcome } from '../../core/index.ts'

/** A recipient as posted to a thread: its public key copied out of any larger buffer. */
export interface PostedRecipient { id: string, publicKey: Uint8Array }

/** main -> worker */
export type Request =
  /**
   * `readings` is packBatch's buffer; `numbers[i]` the number of reading i's access list on this
   * thread; `lists` are the access lists that this message is the first to use on this thread,
   * by number; `reset`: forget every list before taking these.
   */
  | { type: 'seal', id: number, readings: ArrayBuffer, numbers: Uint32Array, lists: Array<[number, PostedRecipient[]]>, reset: boolean }
  | { type: 'retain', keep: PostedRecipient[] }
/** worker -> main */
export type Reply =
  | { type: 'ready' }
  /** `packed`: u32 count, then each envelope's length (u32), then the envelopes; a failed reading has length 0 and its error in `errors`. */
  | { type: 'sealed', id: number, packed: ArrayBuffer, errors?: Array<{ code: string, message: string } | null> }

/**
 * The readings of one message to a thread, in the encoding of a journal group's plaintext
 * (journal-group.ts: sensor id, ts, seq and bytes of each), in a buffer of its own to transfer.
 */
export function packBatch (items: ReadonlyArray<{ header: ReadingHeader, plaintext: Uint8Array }>): ArrayBuffer {
  const readings = items.map(({ header, plaintext }) => ({ sensorId: header.sensor, ts: header.ts, seq: header.seq, plaintext }))
  return encodeGroup(readings, size => Buffer.from(new ArrayBuffer(size))).buffer as ArrayBuffer
}

/** The `count` readings of packBatch's buffer; throws when it does not hold exactly that. */
export function unpackBatch (buffer: ArrayBuffer, count: number): Array<{ header: ReadingHeader, plaintext: Uint8Array }> {
  const readings = decodeGroup(new Uint8Array(buffer), count)
  if (readings === undefined) throw new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'A message to the sealing thread is malformed.')
  return readings.map(r => ({ header: { sensor: r.sensorId, ts: r.ts, seq: r.seq }, plaintext: r.plaintext }))
}

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
      const count = request.numbers.length
      // [ENV-9] the batch's readings are signed once, over the Merkle tree head of their bodies
      let outcomes: SealOutcome[]
      try {
        const items = unpackBatch(request.readings, count)
        outcomes = await sealer.sealBatch(items.map((item, i) => ({ header: item.header, plaintext: item.plaintext, recipients: lists.get(request.numbers[i] as number) ?? [] })))
      } catch (err) {
        outcomes = Array.from({ length: count }, () => ({ error: err }))
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
