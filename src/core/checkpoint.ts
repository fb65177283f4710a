/**
 * Checkpoints: what makes a replica's answer tamper-evident. A collecting gateway signs, per
 * sensor, a hash chain of checkpoints, each naming the seqs of the readings it sealed in one
 * minute of seq (a bucket). A reader holding a page of history and the checkpoints around it can
 * tell a reading dropped from a reading never sealed. [PER-10] in docs/PROTOCOL.md; the page
 * rules ([PER-12]) are in history.ts.
 */
import type { CryptoSuite, SigningKey } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { concat, equalBytes, utf8 } from './bytes.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { SENSOR_ID_PATTERN } from './envelope.ts'
import { asStruct, bytes, onlyKeys, str, uint, type Struct } from './shape.ts'

export const CHECKPOINT_VERSION = 1
/** [PER-10] One bucket is one minute of seq ([COL-6]: a seq is about the reading's time in µs). */
export const CHECKPOINT_BUCKET = 60_000_000
/** [PER-10] Seqs one checkpoint names at most. */
export const MAX_CHECKPOINT_SEQS = 65_536
/** [PER-10] The largest encoded checkpoint (65 536 seqs of 9 bytes each fit, with room to spare). */
export const MAX_CHECKPOINT_BYTES = 600 * 1024
const CHECKPOINT_DOMAIN = utf8('gatemesh/checkpoint/v1\0')
const BODY_FIELDS = ['v', 'sensor', 'gw', 'bucket', 'part', 'prev', 'seqs']

/** [PER-10] What names the previous checkpoint of the same (sensor, gw) chain. */
export interface CheckpointLink {
  bucket: number
  part: number
  /** SHA-256 of the previous checkpoint's body bytes (`b`). */
  h: Uint8Array
}

/** [PER-10] The signed content of a checkpoint (the `b` map, without its version). */
export interface CheckpointBody {
  sensor: string
  /** Raw Ed25519 public key of the collecting gateway that signs the checkpoint. */
  gw: Uint8Array
  /** floor(seq / CHECKPOINT_BUCKET) of every seq in `seqs`. */
  bucket: number
  /**
   * 0 for the bucket's in-order checkpoint (a chain's part-0 buckets strictly increase); 1, 2,
   * ... for readings of the bucket that reach the signer after a later bucket was signed ([PER-11]).
   */
  part: number
  /** The previous checkpoint of the chain; null for the chain's first. */
  prev: CheckpointLink | null
  /** Strictly increasing, 1 to MAX_CHECKPOINT_SEQS seqs, all in `bucket`. */
  seqs: number[]
}

/** A checkpoint opened by openCheckpoint: its signature verified and its body checked. */
export interface OpenedCheckpoint extends CheckpointBody {
  /** The checkpoint as given to openCheckpoint (the `{ b, s }` map). */
  bytes: Uint8Array
  /** [PER-10] SHA-256 of the body bytes `b`: what the next checkpoint's `prev.h` names. */
  hash: Uint8Array
}

/** [PER-10] The bucket a seq falls in. */
export function checkpointBucket (seq: number): number {
  return Math.floor(seq / CHECKPOINT_BUCKET)
}

/** [PER-10] s = Ed25519-Sign(gw, "gatemesh/checkpoint/v1" || 0x00 || b). */
function toBeSigned (body: Uint8Array): Uint8Array {
  return concat(CHECKPOINT_DOMAIN, body)
}

/** [PER-10] The body rules; every failure is GM_ERR_MALFORMED naming the rule. */
function checkBody (struct: Struct): CheckpointBody {
  onlyKeys(struct, BODY_FIELDS, 'A checkpoint body')
  const sensor = str(struct, 'sensor', 128, SENSOR_ID_PATTERN)
  const gw = bytes(struct, 'gw', 32)
  const bucket = uint(struct, 'bucket')
  const part = uint(struct, 'part')
  let prev: CheckpointLink | null = null
  if (struct.prev !== null) {
    const link = asStruct(struct.prev, 'Field \'prev\'')
    onlyKeys(link, ['bucket', 'part', 'h'], 'Field \'prev\'')
    prev = { bucket: uint(link, 'bucket'), part: uint(link, 'part'), h: bytes(link, 'h', 32) }
  }
  const seqs = struct.seqs
  if (!Array.isArray(seqs) || seqs.length === 0 || seqs.length > MAX_CHECKPOINT_SEQS) {
    throw new GatemeshError('GM_ERR_MALFORMED', `Field 'seqs' must list 1 to ${MAX_CHECKPOINT_SEQS} seqs.`)
  }
  let previous = -1
  for (const seq of seqs as unknown[]) {
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw new GatemeshError('GM_ERR_MALFORMED', 'Field \'seqs\' holds non-negative integers below 2^53.')
    if (seq <= previous) throw new GatemeshError('GM_ERR_MALFORMED', 'Field \'seqs\' must be strictly increasing.')
    if (checkpointBucket(seq) !== bucket) throw new GatemeshError('GM_ERR_MALFORMED', `Seq ${seq} is not in bucket ${bucket}.`)
    previous = seq
  }
  return { sensor, gw, bucket, part, prev, seqs: seqs as number[] }
}

/** [PER-10] The body's canonical bytes `b`. */
function encodeBody (body: CheckpointBody): Uint8Array {
  const prev = body.prev === null ? null : { bucket: body.prev.bucket, part: body.prev.part, h: body.prev.h }
  return encodeCanonical({ v: CHECKPOINT_VERSION, sensor: body.sensor, gw: body.gw, bucket: body.bucket, part: body.part, prev, seqs: body.seqs })
}

/**
 * [PER-10] Checks the body rules (GM_ERR_MALFORMED), that `gw` is the signer's key, and signs:
 * the checkpoint `{ b, s }`.
 */
export async function signCheckpoint (suite: CryptoSuite, signer: SigningKey, body: CheckpointBody): Promise<Uint8Array> {
  const checked = checkBody({ ...body } as unknown as Struct)
  if (!equalBytes(checked.gw, signer.publicKey)) throw new GatemeshError('GM_ERR_MALFORMED', 'A checkpoint\'s gw is the key that signs it.')
  const b = encodeBody(checked)
  const s = await suite.sign(signer, toBeSigned(b))
  return encodeCanonical({ b, s })
}

/**
 * [PER-10] Decodes a checkpoint (size bound first, canonical form), checks the body rules and
 * verifies the signature by the body's `gw`. GM_ERR_TOO_LARGE, GM_ERR_MALFORMED,
 * GM_ERR_NON_CANONICAL, GM_ERR_UNSUPPORTED_VERSION or GM_ERR_BAD_SIGNATURE.
 * `signatureVerified`: the bytes are ones this process verified before (a replica reading back
 * what it stored, [PER-20]); everything but the signature is still checked. A reader never sets it.
 */
export async function openCheckpoint (suite: CryptoSuite, encoded: Uint8Array, options: { maxBytes?: number, signatureVerified?: boolean } = {}): Promise<OpenedCheckpoint> {
  const maxBytes = Math.min(options.maxBytes ?? MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_BYTES)
  const outer = asStruct(decodeCanonical(encoded, { maxBytes }), 'A checkpoint')
  onlyKeys(outer, ['b', 's'], 'A checkpoint')
  const b = bytes(outer, 'b', { max: MAX_CHECKPOINT_BYTES })
  const s = bytes(outer, 's', 64)
  const struct = asStruct(decodeCanonical(b, { maxBytes: MAX_CHECKPOINT_BYTES }), 'A checkpoint body')
  if (struct.v !== CHECKPOINT_VERSION) throw new GatemeshError('GM_ERR_UNSUPPORTED_VERSION', `Checkpoint version ${String(struct.v)}.`)
  const body = checkBody(struct)
  if (options.signatureVerified !== true && !await suite.verify(body.gw, toBeSigned(b), s)) throw new GatemeshError('GM_ERR_BAD_SIGNATURE', 'The checkpoint is not signed by its gw.')
  return { ...body, bytes: encoded, hash: await suite.sha256(b) }
}
