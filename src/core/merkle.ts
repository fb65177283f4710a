/**
 * The Merkle tree of RFC 9162 §2.1 (Certificate Transparency v2, unchanged from RFC 6962 §2.1)
 * over SHA-256: leaf hashes SHA-256(0x00 || entry), interior nodes SHA-256(0x01 || left || right),
 * the tree split at the largest power of two below its size. A gateway signs the root of a batch
 * of envelope bodies once; each envelope carries its inclusion proof ([ENV-9]).
 */
import type { CryptoSuite } from './suite.ts'
import { concat } from './bytes.ts'

export const HASH_BYTES = 32
const LEAF_PREFIX = new Uint8Array([0x00])
const NODE_PREFIX = new Uint8Array([0x01])

/** RFC 9162 §2.1.1: the hash of a leaf. */
export async function leafHash (suite: CryptoSuite, entry: Uint8Array): Promise<Uint8Array> {
  return await suite.sha256(concat(LEAF_PREFIX, entry))
}

/** leafHash with a synchronous SHA-256 (CryptoSuite.sha256Sync). */
export function leafHashSync (sha256: (data: Uint8Array) => Uint8Array, entry: Uint8Array): Uint8Array {
  return sha256(concat(LEAF_PREFIX, entry))
}

/** RFC 9162 §2.1.1: the hash of an interior node. */
export async function nodeHash (suite: CryptoSuite, left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return await suite.sha256(concat(NODE_PREFIX, left, right))
}

/** The largest power of two smaller than n (n ≥ 2). */
function split (n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * The tree head MTH(D[n]) of n ≥ 1 leaf hashes and every leaf's inclusion proof
 * PATH(m, D[n]) (RFC 9162 §2.1.3.1), each listed from the leaf's sibling up to the root's child.
 */
export async function treeWithProofs (suite: CryptoSuite, leaves: readonly Uint8Array[]): Promise<{ root: Uint8Array, proofs: Uint8Array[][] }> {
  if (leaves.length === 0) throw new RangeError('A tree needs at least one leaf.')
  const proofs: Uint8Array[][] = leaves.map(() => [])
  const build = async (lo: number, hi: number): Promise<Uint8Array> => {
    if (hi - lo === 1) return leaves[lo] as Uint8Array
    const mid = lo + split(hi - lo)
    const left = await build(lo, mid)
    const right = await build(mid, hi)
    for (let i = lo; i < mid; i++) proofs[i]?.push(right)
    for (let i = mid; i < hi; i++) proofs[i]?.push(left)
    return await nodeHash(suite, left, right)
  }
  return { root: await build(0, leaves.length), proofs }
}

/**
 * RFC 9162 §2.1.3.2: the root that an inclusion proof of leaf `index` in a tree of `size` leaves
 * leads to, or undefined when the proof cannot belong to such a tree (index out of range, a path
 * too short or too long). The caller compares the result with a root it trusts.
 */
export async function rootFromInclusionProof (suite: CryptoSuite, index: number, size: number, leaf: Uint8Array, path: readonly Uint8Array[]): Promise<Uint8Array | undefined> {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of path) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = await nodeHash(suite, p, r)
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
    } else {
      r = await nodeHash(suite, r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}
