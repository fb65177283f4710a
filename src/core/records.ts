/**
 * Signed records: the unit the overlay stores. One canonical CBOR map, signed by Ed25519 over a
 * domain-separated encoding of every other field, so a change to any byte is detected.
 * [REC-1] .. [REC-5] in docs/PROTOCOL.md.
 */
import type { CryptoSuite, SigningKey } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { utf8 } from './bytes.ts'
import { CborWriter } from './cbor-writer.ts'
import { decodeCanonical, encodeCanonical } from './encoding.ts'
import { asStruct, bytes, onlyKeys, optUint, str, uint, type Struct } from './shape.ts'

export const RECORD_VERSION = 1
const RECORD_DOMAIN = utf8('gatemesh/record/v1\0')
const RECORD_FIELDS = ['v', 'type', 'key', 'seq', 'exp', 'body', 'signer', 'sig'] as const
const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,31}$/

export interface RecordFields {
  /** Namespace, e.g. 'account', 'sensor', 'latest', 'crl'. */
  type: string
  /** The record's key within its namespace. */
  key: string
  /** Higher wins; a record never replaces one with a higher or equal seq. */
  seq: number
  /** Expiry in milliseconds since the Unix epoch, where the record has one. */
  exp?: number
  body: Struct
}

export interface SignedRecord extends RecordFields {
  v: 1
  /** Raw Ed25519 public key of the signer. */
  signer: Uint8Array
  sig: Uint8Array
}

export interface OpenRecordOptions {
  /** The namespace the caller expects; anything else is GM_ERR_WRONG_RECORD_TYPE. */
  type?: string
  /** Milliseconds since the epoch; defaults to Date.now(). */
  now?: number
  maxBytes?: number
}

const writer = new CborWriter()

/**
 * [REC-2] The record's map, written around `body`, the canonical encoding of its body: with
 * `sig`, the record as stored; without, prefixed with the domain tag, what is signed. The bytes
 * are encodeCanonical's of the same map (tests hold them to it), the body encoded once instead
 * of twice for a signature and once more in full for the record (a latest record cost 136-172 µs
 * on the collector's event loop, now 96-112, 63 of them the signature).
 * Keys in canonical order (RFC 8949 §4.2.1: bytewise order of the encoded keys, so the shorter
 * text keys first): v, exp, key, seq, sig, body, type, signer. Fields not named here are not
 * written (earlier versions wrote them, and every reader refused the record).
 */
function writeRecord (record: Omit<SignedRecord, 'sig'>, body: Uint8Array, sig?: Uint8Array): Uint8Array {
  const w = writer.begin()
  try {
    if (sig === undefined) w.raw(RECORD_DOMAIN)
    w.map((record.exp === undefined ? 6 : 7) + (sig === undefined ? 0 : 1)).text('v').uint(record.v)
    if (record.exp !== undefined) w.text('exp').uint(record.exp)
    w.text('key').text(record.key).text('seq').uint(record.seq)
    if (sig !== undefined) w.text('sig').bytes(sig)
    return w.text('body').raw(body).text('type').text(record.type).text('signer').bytes(record.signer).finish()
  } catch (err) {
    w.reset()
    throw err
  }
}

/** [REC-2] The signature covers the domain tag and every field but `sig`. */
function toBeSigned (record: Omit<SignedRecord, 'sig'>): Uint8Array {
  return writeRecord(record, encodeCanonical(record.body))
}

/** [REC-2] Signs and encodes a record. */
export async function signRecord (suite: CryptoSuite, signer: SigningKey, fields: RecordFields): Promise<Uint8Array> {
  const record: Omit<SignedRecord, 'sig'> = { v: RECORD_VERSION, type: fields.type, key: fields.key, seq: fields.seq, body: fields.body, signer: signer.publicKey }
  if (fields.exp !== undefined) record.exp = fields.exp
  validateFields(record as unknown as Struct)
  const body = encodeCanonical(record.body)
  const sig = await suite.sign(signer, writeRecord(record, body))
  return writeRecord(record, body, sig)
}

function validateFields (struct: Struct): void {
  str(struct, 'type', 32, TYPE_PATTERN)
  str(struct, 'key', 512)
  uint(struct, 'seq')
  optUint(struct, 'exp')
  asStruct(struct.body, 'Field \'body\'')
  bytes(struct, 'signer', 32)
}

/** [REC-3] Decodes, checks canonical form, shape, version, type, expiry and signature. */
export async function openRecord (suite: CryptoSuite, encoded: Uint8Array, options: OpenRecordOptions = {}): Promise<SignedRecord> {
  const struct = asStruct(decodeCanonical(encoded, { maxBytes: options.maxBytes }), 'A record')
  if (struct.v !== RECORD_VERSION) throw new GatemeshError('GM_ERR_UNSUPPORTED_VERSION', `Record version ${String(struct.v)}.`)
  onlyKeys(struct, RECORD_FIELDS, 'A record')
  validateFields(struct)
  bytes(struct, 'sig', 64)
  const record = struct as unknown as SignedRecord
  if (options.type !== undefined && record.type !== options.type) {
    throw new GatemeshError('GM_ERR_WRONG_RECORD_TYPE', `Expected '${options.type}', got '${record.type}'.`)
  }
  if (!await suite.verify(record.signer, toBeSigned(record), record.sig)) throw new GatemeshError('GM_ERR_BAD_SIGNATURE')
  if (record.exp !== undefined && record.exp <= (options.now ?? Date.now())) throw new GatemeshError('GM_ERR_EXPIRED')
  return record
}
