/**
 * Where the history reader's pages are verified ([PER-12]) and, once their collectors are
 * certified ([ENV-10]), opened ([ENV-7]): the reader's one CPU-heavy part. In the reader's own
 * thread by default (browsers); a Node worker thread's (src/platform/history-pages.ts) takes it
 * off the thread that fetches and yields, so the two overlap on two cores ([PER-53]).
 */
import type { CryptoSuite, Envelope, HistoryPageInput, OpenedReading } from '../core/index.ts'
import { isGatemeshError } from '../core/index.ts'
import type { HistoryPageVerifier } from './history-verify.ts'

/** Readings of a page being opened at once in this thread (an async suite's calls overlap). */
const OPEN_WINDOW = 32

/** A reading of a verified page, as the reader certifies ([ENV-10]) and yields it; its sensor is the page's ([PER-12] 1). */
export interface ReadingHead { seq: number, ts: number, gw: Uint8Array }

/** One reading opened: its plaintext, or why this user cannot read it ([PER-53]). */
export type Opening = Uint8Array | 'GM_ERR_NOT_A_RECIPIENT' | 'GM_ERR_DECRYPT_FAILED'
/** Opening outcomes as one byte each (a worker's answer): 0 a plaintext, else why there is none. */
export const OPENING_CODES = ['', 'GM_ERR_NOT_A_RECIPIENT', 'GM_ERR_DECRYPT_FAILED'] as const

export interface VerifiedPage {
  /** The page's number with this processor, for open or drop. */
  id: number
  heads: ReadingHead[]
  /** [PER-13] Collectors whose newest readings no checkpoint proved complete. */
  openEnds: Uint8Array[]
}

export interface PageProcessor {
  /** [PER-12] Verifies a page (throwing as verifyHistoryPage does); its envelopes are kept for open or drop. */
  verify: (input: HistoryPageInput) => Promise<VerifiedPage>
  /** [ENV-7] Opens every envelope of a verified page, in order, and forgets the page. */
  open: (id: number) => Promise<Opening[]>
  /** Forgets a verified page without opening it (a collector of it did not certify). */
  drop: (id: number) => void
}

/** What opening one envelope gives: GM_ERR_NOT_A_RECIPIENT and GM_ERR_DECRYPT_FAILED are outcomes, anything else is thrown. */
export async function openOne (open: (envelope: Envelope) => Promise<OpenedReading>, envelope: Envelope): Promise<Opening> {
  try {
    return (await open(envelope)).plaintext
  } catch (err) {
    if (isGatemeshError(err, 'GM_ERR_NOT_A_RECIPIENT') || isGatemeshError(err, 'GM_ERR_DECRYPT_FAILED')) return err.code as Opening
    throw err
  }
}

/** Pages verified and opened in this thread, with the reader's own verifier and opener. */
export function inThreadPages (components: { suite: CryptoSuite, verifyPage: HistoryPageVerifier, open: (envelope: Envelope) => Promise<OpenedReading> }): PageProcessor {
  const held = new Map<number, Envelope[]>()
  let next = 1
  return {
    async verify (input) {
      const verdict = await components.verifyPage(components.suite, input)
      const id = next++
      held.set(id, verdict.envelopes)
      return { id, heads: verdict.envelopes, openEnds: verdict.openEnds }
    },
    async open (id) {
      const envelopes = held.get(id)
      held.delete(id)
      if (envelopes === undefined) throw new Error(`History page ${id} is not held.`)
      const out: Opening[] = new Array<Opening>(envelopes.length)
      for (let at = 0; at < envelopes.length; at += OPEN_WINDOW) {
        await Promise.all(envelopes.slice(at, at + OPEN_WINDOW).map(async (envelope, i) => { out[at + i] = await openOne(components.open, envelope) }))
      }
      return out
    },
    drop (id) {
      held.delete(id)
    }
  }
}
