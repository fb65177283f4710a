/**
 * [PER-53] History pages verified and opened on a worker thread (Node): the reader's thread then
 * only fetches, certifies ([ENV-10], cached) and yields, while the worker verifies ([PER-12]) and
 * opens ([ENV-7]) the next page, so a long range uses two cores. The worker is started at once
 * and takes about 0.2 s to load: until it is ready, and after it stopped, pages are handled in
 * the reader's thread (`fallback`). It holds the reader's X25519 key (given at its start, in this
 * process's memory only) and keeps the process alive only while it has work.
 */
import { Worker } from 'node:worker_threads'
import type { HistoryPageInput } from '../core/index.ts'
import { GatemeshError } from '../core/index.ts'
import type { ErrorCode } from '../core/index.ts'
import { OPENING_CODES, type Opening, type PageProcessor, type ReadingHead, type VerifiedPage } from '../client/history-pages.ts'

/** What the worker (history-pages-worker.ts) is started with: the reader's pseudonym and X25519 secret. */
export interface HistoryWorkerData { pseudonym: string, agreementSecret: Uint8Array }
export type HistoryWorkerRequest = { n: number, op: 'verify', input: HistoryPageInput } | { n: number, op: 'open', id: number } | { op: 'drop', id: number }

interface Pending { resolve: (reply: Record<string, unknown>) => void, reject: (err: unknown) => void }

export interface WorkerPages extends PageProcessor {
  /** Resolves true once the worker takes pages, false when it stopped before. */
  ready: Promise<boolean>
  /** Stops the worker (pages not yet opened fail); the processor goes on in the reader's thread. */
  close: () => Promise<void>
}

/** Pages of `reader` on a worker thread; `fallback` (the reader's own thread) while it starts. */
export function createWorkerPages (reader: HistoryWorkerData, fallback: PageProcessor): WorkerPages {
  const pending = new Map<number, Pending>()
  let requests = 0
  let ready = false
  let stopped = false
  let started: (taking: boolean) => void = () => {}
  const whenReady = new Promise<boolean>(resolve => { started = resolve })
  // the worker's pages are numbered odd, the fallback's even
  const onFallback = new Map<number, number>()
  let fallbackIds = 0
  const worker = new Worker(new URL('./history-pages-worker.ts', import.meta.url), { workerData: { pseudonym: reader.pseudonym, agreementSecret: reader.agreementSecret } })
  const fail = (cause: unknown): void => {
    stopped = true
    ready = false
    started(false)
    const err = new GatemeshError('GM_ERR_CLIENT_WORKER_FAILED', 'The history worker thread stopped.', { cause })
    for (const { reject } of pending.values()) reject(err)
    pending.clear()
  }
  worker.on('error', fail)
  worker.on('exit', code => { fail(new Error(`exit code ${code}`)) })
  worker.on('message', (message: Record<string, unknown>) => {
    if (message.ready === true) {
      ready = !stopped
      started(ready)
      return
    }
    const waiting = pending.get(message.n as number)
    if (waiting === undefined) return
    pending.delete(message.n as number)
    if (pending.size === 0) worker.unref()
    const error = message.error as { code?: ErrorCode, message: string } | undefined
    if (error === undefined) {
      waiting.resolve(message)
      return
    }
    const err = error.code === undefined ? new Error(error.message) : new GatemeshError(error.code)
    err.message = error.message
    waiting.reject(err)
  })
  // after the listeners: adding a 'message' listener refs the worker again
  worker.unref()
  const ask = async (request: HistoryWorkerRequest & { n: number }): Promise<Record<string, unknown>> => {
    if (stopped) throw new GatemeshError('GM_ERR_CLIENT_WORKER_FAILED', 'The history worker thread stopped.')
    return await new Promise((resolve, reject) => {
      if (pending.size === 0) worker.ref()
      pending.set(request.n, { resolve, reject })
      worker.postMessage(request)
    })
  }
  return {
    ready: whenReady,
    async verify (input: HistoryPageInput): Promise<VerifiedPage> {
      if (!ready) {
        const verified = await fallback.verify(input)
        const id = 2 * ++fallbackIds
        onFallback.set(id, verified.id)
        return { ...verified, id }
      }
      const reply = await ask({ n: ++requests, op: 'verify', input })
      const seqs = reply.seqs as Float64Array
      const tss = reply.tss as Float64Array
      const gws = reply.gws as Uint8Array
      const heads: ReadingHead[] = Array.from(seqs, (seq, i) => ({ seq, ts: tss[i] as number, gw: gws.subarray(i * 32, i * 32 + 32) }))
      return { id: 2 * (reply.id as number) + 1, heads, openEnds: reply.openEnds as Uint8Array[] }
    },
    async open (id: number): Promise<Opening[]> {
      const local = onFallback.get(id)
      if (local !== undefined) {
        onFallback.delete(id)
        return await fallback.open(local)
      }
      const reply = await ask({ n: ++requests, op: 'open', id: (id - 1) / 2 })
      const bytes = reply.bytes as Uint8Array
      const ends = reply.ends as Uint32Array
      const codes = reply.codes as Uint8Array
      const openings: Opening[] = new Array<Opening>(ends.length)
      let start = 0
      for (let i = 0; i < ends.length; i++) {
        const end = ends[i] as number
        openings[i] = codes[i] === 0 ? bytes.subarray(start, end) : OPENING_CODES[codes[i] as number] as Opening
        start = end
      }
      return openings
    },
    drop (id: number): void {
      const local = onFallback.get(id)
      onFallback.delete(id)
      if (local !== undefined) fallback.drop(local)
      else if (!stopped) worker.postMessage({ op: 'drop', id: (id - 1) / 2 })
    },
    async close (): Promise<void> {
      if (stopped) return
      await worker.terminate()
    }
  }
}
