/**
 * Selectors: which of several valid records for one key wins. [REC-5] [OVL-14] [OVL-21]
 * One total order, the same on every peer whatever order the values arrive in: the higher
 * `seq` (`n` for a CRL) wins; at an equal version the value whose bytes are lexicographically
 * greater wins; a value that does not decode ranks below any that does, and among such values
 * the bytewise greater one wins too.
 */
import { compareBytes, compareRecords } from './versions.ts'
import { NAMESPACES } from './keys.ts'
import type { Selectors } from '@libp2p/kad-dht'

/** > 0 when `a` wins over `b` by [REC-5]; 0 only for identical bytes. */
export function compareValues (a: Uint8Array, b: Uint8Array, field: 'seq' | 'n'): number {
  const byVersion = compareRecords(a, b, field)
  return byVersion !== 0 ? byVersion : compareBytes(a, b)
}

export function newestIndex (records: Uint8Array[], field: 'seq' | 'n'): number {
  let best = 0
  for (let i = 1; i < records.length; i++) {
    if (compareValues(records[i] as Uint8Array, records[best] as Uint8Array, field) > 0) best = i
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
