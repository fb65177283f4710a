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
 * RFC 9162 §2.1.3.2 for leaf `index` in a tree of `size` leaves: for each hash of the path, in
 * order, whether it stands left of the node built so far; undefined when the proof cannot belong
 * to such a tree (index out of range, a path too short or too long).
 */
function proofSides (index: number, size: number, pathLength: number): boolean[] | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined
  const left: boolean[] = []
  let fn = index
  let sn = size - 1
  for (let i = 0; i < pathLength; i++) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      left.push(true)
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2) }
    } else {
      left.push(false)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? left : undefined
}

/**
 * RFC 9162 §2.1.3.2: the root that an inclusion proof of leaf `index` in a tree of `size` leaves
 * leads to, or undefined when the proof cannot belong to such a tree (index out of range, a path
 * too short or too long). The caller compares the result with a root it trusts.
 */
export async function rootFromInclusionProof (suite: CryptoSuite, index: number, size: number, leaf: Uint8Array, path: readonly Uint8Array[], memo?: NodeMemo): Promise<Uint8Array | undefined> {
  const sides = proofSides(index, size, path.length)
  if (sides === undefined) return undefined
  // a synchronous SHA-256 when the suite has one: no await per node (a replica verifies thousands)
  const sync = suite.sha256Sync
  let r = leaf
  for (const [i, p] of path.entries()) {
    const left = sides[i] === true ? p : r
    const right = sides[i] === true ? r : p
    const known = memo?.get(left, right)
    if (known !== undefined) {
      r = known instanceof Uint8Array ? known : await known
      continue
    }
    if (sync !== undefined) {
      // one scratch input, consumed before anything else runs
      NODE_INPUT.set(left, 1)
      NODE_INPUT.set(right, 1 + HASH_BYTES)
      r = sync(NODE_INPUT)
      memo?.set(left, right, r)
    } else {
      // the hash in flight is what the memo holds: proofs verified concurrently share it too
      const pending = nodeHash(suite, left, right)
      memo?.set(left, right, pending)
      r = await pending
    }
  }
  return r
}

const NODE_INPUT = new Uint8Array(1 + 2 * HASH_BYTES)
NODE_INPUT[0] = 0x01

/**
 * rootFromInclusionProof with a synchronous SHA-256 and no await: the same root, node by node,
 * for a verifier of many envelopes (a replica's push). A node the memo holds only as a hashing in
 * flight (an async suite's) is hashed here again rather than waited for.
 */
export function rootFromInclusionProofSync (sha256: (data: Uint8Array) => Uint8Array, index: number, size: number, leaf: Uint8Array, path: readonly Uint8Array[], memo?: NodeMemo): Uint8Array | undefined {
  const sides = proofSides(index, size, path.length)
  if (sides === undefined) return undefined
  let r = leaf
  for (let i = 0; i < path.length; i++) {
    const p = path[i] as Uint8Array
    const left = sides[i] === true ? p : r
    const right = sides[i] === true ? r : p
    const known = memo?.get(left, right)
    if (known instanceof Uint8Array) {
      r = known
      continue
    }
    // one scratch input, consumed before anything else runs
    NODE_INPUT.set(left, 1)
    NODE_INPUT.set(right, 1 + HASH_BYTES)
    r = sha256(NODE_INPUT)
    if (known === undefined) memo?.set(left, right, r)
  }
  return r
}

/**
 * Interior nodes already hashed, found by their exact input (left, right): the proofs of one
 * batch share their upper nodes, so a verifier of many of its envelopes hashes each node once.
 * Looked up by a number taken from the hashes' first bytes, then compared byte for byte.
 */
export class NodeMemo {
  private readonly nodes = new Map<number, Array<{ left: Uint8Array, right: Uint8Array, hash: Uint8Array | Promise<Uint8Array> }>>()
  private size = 0

  /** The node's hash, or the hashing of it in flight (an async suite's). */
  get (left: Uint8Array, right: Uint8Array): Uint8Array | Promise<Uint8Array> | undefined {
    if (left.length !== HASH_BYTES || right.length !== HASH_BYTES) return undefined
    const entries = this.nodes.get(memoKey(left, right))
    if (entries === undefined) return undefined
    for (const entry of entries) {
      if (sameHash(entry.left, left) && sameHash(entry.right, right)) return entry.hash
    }
    return undefined
  }

  set (left: Uint8Array, right: Uint8Array, hash: Uint8Array | Promise<Uint8Array>): void {
    if (left.length !== HASH_BYTES || right.length !== HASH_BYTES || this.size >= MAX_MEMO_NODES) return
    const key = memoKey(left, right)
    const entries = this.nodes.get(key)
    const entry = { left: Uint8Array.from(left), right: Uint8Array.from(right), hash }
    if (entries === undefined) this.nodes.set(key, [entry]); else entries.push(entry)
    this.size++
  }
}

function memoKey (left: Uint8Array, right: Uint8Array): number {
  return ((left[0] as number) << 24 | (left[1] as number) << 16 | (left[2] as number) << 8 | (left[3] as number)) ^ ((right[0] as number) << 16 | (right[1] as number) << 8 | (right[2] as number))
}

function sameHash (a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < HASH_BYTES; i++) if (a[i] !== b[i]) return false
  return true
}

/** Interior nodes a memo holds at most (a push of 4 096 envelopes has at most 4 096 × 16 distinct ones). */
const MAX_MEMO_NODES = 65_536
