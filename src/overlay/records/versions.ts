/**
 * Record versions, read synchronously so that kad-dht's (synchronous) selectors can use them.
 * [OVL-14] Signed records are ordered by `seq`, then by their bytes (lexicographically) so that
 * two different records with the same seq still have one winner on every peer.
 * [OVL-21] CRL values are ordered by their CRL number, then by their bytes.
 */
import { decode } from 'cborg'

export interface Version {
  seq: number
  exp?: number
  signer?: Uint8Array
}

function asMap (bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const value: unknown = decode(bytes, { useMaps: false })
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
    return value as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** The version of a signed record (its `seq`) or of a CRL value (its `n`); undefined if unreadable. */
export function readVersion (bytes: Uint8Array, field: 'seq' | 'n' = 'seq'): Version | undefined {
  const map = asMap(bytes)
  const seq = map?.[field]
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined
  const exp = map?.exp
  const signer = map?.signer
  return {
    seq,
    exp: typeof exp === 'number' ? exp : undefined,
    signer: signer instanceof Uint8Array ? signer : undefined
  }
}

export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return a.length - b.length
}

/** > 0 when `a` is newer than `b`; unreadable values are older than any readable one. */
export function compareRecords (a: Uint8Array, b: Uint8Array, field: 'seq' | 'n' = 'seq'): number {
  const va = readVersion(a, field)
  const vb = readVersion(b, field)
  if (va === undefined || vb === undefined) return (va === undefined ? 0 : 1) - (vb === undefined ? 0 : 1)
  if (va.seq !== vb.seq) return va.seq - vb.seq
  return compareBytes(a, b)
}
