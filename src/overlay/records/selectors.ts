/**
 * Selectors: which of several valid records for one key wins. [OVL-14] [OVL-21]
 */
import { compareRecords } from './versions.ts'
import { NAMESPACES } from './keys.ts'
import type { Selectors } from '@libp2p/kad-dht'

export function newestIndex (records: Uint8Array[], field: 'seq' | 'n'): number {
  let best = 0
  for (let i = 1; i < records.length; i++) {
    if (compareRecords(records[i] as Uint8Array, records[best] as Uint8Array, field) > 0) best = i
  }
  return best
}

const bySeq = (_key: Uint8Array, records: Uint8Array[]): number => newestIndex(records, 'seq')

export const selectors: Selectors = {
  [NAMESPACES.account]: bySeq,
  [NAMESPACES.sensor]: bySeq,
  [NAMESPACES.latest]: bySeq,
  [NAMESPACES.access]: bySeq,
  [NAMESPACES.crl]: (_key, records) => newestIndex(records, 'n')
}
