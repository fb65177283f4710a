/**
 * The page verification the history reader runs ([PER-12]): the core's `verifyHistoryPage`,
 * named here as the reader's injectable dependency.
 */
import type { CryptoSuite, HistoryPageInput, HistoryPageVerdict } from '../core/index.ts'

export { verifyHistoryPage } from '../core/index.ts'

export type HistoryPageVerifier = (suite: CryptoSuite, page: HistoryPageInput) => Promise<Pick<HistoryPageVerdict, 'envelopes' | 'openEnds'>>
