/**
 * The page verification the history reader runs ([PER-12]): the core's `verifyHistoryPage`.
 *
 * PLACEHOLDER until the core's `verifyHistoryPage` (src/core/history.ts, branch p15-core) is
 * merged: this checks rule 1 only (every envelope verifies, is of the sensor, in the range and the
 * page's interval, strictly in order), not the checkpoints (rules 2-4). The merge replaces the
 * body of `verifyHistoryPage` below with a re-export of the core's.
 */
import type { CryptoSuite, Envelope } from '../core/index.ts'
import { GatemeshError, verifyEnvelope } from '../core/index.ts'

export interface HistoryKeyBytes { seq: number, gw: Uint8Array }

export interface HistoryPageInput {
  sensor: string
  fromSeq: number
  toSeq: number
  order: 'asc' | 'desc'
  /** The key the page starts after (exclusive); absent at the start of the range. */
  lo?: HistoryKeyBytes
  /** The page's last key (inclusive) when more pages follow; absent when it runs to the range's end. */
  hi?: HistoryKeyBytes
  envelopes: Uint8Array[]
  checkpoints: Uint8Array[]
}

export interface HistoryPageVerdict {
  envelopes: Envelope[]
  /** Collectors (gw) whose newest readings no checkpoint proves complete. */
  openEnds: Uint8Array[]
}

export type HistoryPageVerifier = (suite: CryptoSuite, page: HistoryPageInput) => Promise<HistoryPageVerdict>

function compare (a: HistoryKeyBytes, b: HistoryKeyBytes): number {
  if (a.seq !== b.seq) return a.seq < b.seq ? -1 : 1
  for (let i = 0; i < 32; i++) if (a.gw[i] !== b.gw[i]) return (a.gw[i] as number) < (b.gw[i] as number) ? -1 : 1
  return 0
}

export async function verifyHistoryPage (suite: CryptoSuite, page: HistoryPageInput): Promise<HistoryPageVerdict> {
  const sign = page.order === 'asc' ? 1 : -1
  const envelopes: Envelope[] = []
  let previous = page.lo
  for (const [index, bytes] of page.envelopes.entries()) {
    let envelope: Envelope
    try {
      envelope = await verifyEnvelope(suite, bytes)
    } catch (err) {
      throw new GatemeshError('GM_ERR_HISTORY_TAMPERED', `Envelope ${index} does not verify.`, { cause: err })
    }
    if (envelope.sensor !== page.sensor) throw new GatemeshError('GM_ERR_HISTORY_TAMPERED', `Envelope ${index} is of another sensor.`)
    if (envelope.seq < page.fromSeq || envelope.seq >= page.toSeq) throw new GatemeshError('GM_ERR_HISTORY_TAMPERED', `Envelope ${index} is out of the range.`)
    const key = { seq: envelope.seq, gw: envelope.gw }
    if (previous !== undefined && compare(key, previous) * sign <= 0) throw new GatemeshError('GM_ERR_HISTORY_TAMPERED', `Envelope ${index} is out of order or a duplicate.`)
    previous = key
    envelopes.push(envelope)
  }
  if (page.hi !== undefined && (previous === undefined || compare(previous, page.hi) !== 0)) throw new GatemeshError('GM_ERR_HISTORY_INCOMPLETE', 'The page does not end at its last key.')
  return { envelopes, openEnds: [] }
}
