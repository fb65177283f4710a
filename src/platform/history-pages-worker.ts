/**
 * The worker thread of history-pages.ts: verifies pages of history ([PER-12]) and opens them
 * ([ENV-7]) for one reader, whose X25519 key it is given at its start (in memory only; never
 * logged). Messages: { n, op: 'verify', input } → { n, id, seqs, tss, gws, openEnds };
 * { n, op: 'open', id } → { n, bytes, ends, codes }; { op: 'drop', id }; a failure →
 * { n, error: { code?, message } }.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { Envelope, HistoryPageInput } from '../core/index.ts'
import type { HistoryWorkerData, HistoryWorkerRequest } from './history-pages.ts'
import { EnvelopeOpener, isGatemeshError, verifyHistoryPage } from '../core/index.ts'
import { OPENING_CODES, openOne, type Opening } from '../client/history-pages.ts'
import { createNodeCryptoSuite } from './node-crypto.ts'

const port = parentPort
if (port === null) throw new Error('history-pages-worker.ts runs as a worker thread.')
const { pseudonym, agreementSecret } = workerData as HistoryWorkerData
const suite = createNodeCryptoSuite()
const opener = new EnvelopeOpener({ suite, reader: { pseudonym, agreementKey: await suite.importAgreementKey(agreementSecret) } })
const held = new Map<number, Envelope[]>()
let next = 1

async function verify (input: HistoryPageInput): Promise<Record<string, unknown>> {
  const verdict = await verifyHistoryPage(suite, input)
  const id = next++
  held.set(id, verdict.envelopes)
  const count = verdict.envelopes.length
  const seqs = new Float64Array(count)
  const tss = new Float64Array(count)
  const gws = new Uint8Array(count * 32)
  verdict.envelopes.forEach((envelope, i) => {
    seqs[i] = envelope.seq
    tss[i] = envelope.ts
    gws.set(envelope.gw, i * 32)
  })
  return { id, seqs, tss, gws, openEnds: verdict.openEnds }
}

/** The page's plaintexts packed in one buffer (`ends[i]` where reading i ends) and a code per reading. */
async function open (id: number): Promise<{ reply: Record<string, unknown>, transfer: ArrayBuffer[] }> {
  const envelopes = held.get(id)
  held.delete(id)
  if (envelopes === undefined) throw new Error(`History page ${id} is not held.`)
  const openings: Opening[] = []
  for (const envelope of envelopes) openings.push(await openOne(async e => await opener.openVerified(e), envelope))
  const ends = new Uint32Array(openings.length)
  const codes = new Uint8Array(openings.length)
  let size = 0
  openings.forEach((opening, i) => {
    if (typeof opening === 'string') codes[i] = OPENING_CODES.indexOf(opening)
    else size += opening.length
    ends[i] = size
  })
  const bytes = new Uint8Array(size)
  openings.forEach((opening, i) => { if (typeof opening !== 'string') bytes.set(opening, (ends[i] as number) - opening.length) })
  return { reply: { bytes, ends, codes }, transfer: [bytes.buffer, ends.buffer, codes.buffer] }
}

port.on('message', (request: HistoryWorkerRequest) => {
  if (request.op === 'drop') {
    held.delete(request.id)
    return
  }
  const work = request.op === 'verify' ? verify(request.input).then(reply => ({ reply, transfer: [] })) : open(request.id)
  work.then(({ reply, transfer }) => { port.postMessage({ n: request.n, ...reply }, transfer) }, (err: unknown) => {
    const error = isGatemeshError(err) ? { code: err.code, message: err.message } : { message: err instanceof Error ? err.message : String(err) }
    port.postMessage({ n: request.n, error })
  })
})
port.postMessage({ ready: true })
