/**
 * HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-GCM, over a
 * CryptoSuite. gatemesh uses the sender/recipient contexts' secret export (RFC 9180 §5.3) to
 * derive per-recipient wrapping keys; seal/open of the context are here for completeness and for
 * the RFC's test vectors (Appendix A.1), which this module is checked against.
 */
import type { AgreementKey, CryptoSuite } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { concat, utf8 } from './bytes.ts'

const KEM_ID = 0x0020 // DHKEM(X25519, HKDF-SHA256)
const KDF_ID = 0x0001 // HKDF-SHA256
const MODE_BASE = 0x00
const N_SECRET = 32
const N_NONCE = 12

export interface HpkeAead {
  readonly id: number
  readonly keyLength: number
}
export const AES_128_GCM: HpkeAead = { id: 0x0001, keyLength: 16 }
export const AES_256_GCM: HpkeAead = { id: 0x0002, keyLength: 32 }

function i2osp (value: number, length: number): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 255
  return out
}

const KEM_SUITE_ID = concat(utf8('KEM'), i2osp(KEM_ID, 2))
function hpkeSuiteId (aead: HpkeAead): Uint8Array {
  return concat(utf8('HPKE'), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(aead.id, 2))
}

// HKDF-SHA256 (RFC 5869) from HMAC-SHA256: WebCrypto offers only extract-and-expand in one call,
// and HPKE's labeled forms need the two steps apart.
async function extract (suite: CryptoSuite, salt: Uint8Array, ikm: Uint8Array): Promise<Uint8Array> {
  return await suite.hmacSha256(salt, ikm)
}

async function expand (suite: CryptoSuite, prk: Uint8Array, info: Uint8Array, length: number): Promise<Uint8Array> {
  if (length > 255 * 32) throw new RangeError('HKDF-Expand length too large')
  const out = new Uint8Array(length)
  let previous: Uint8Array = new Uint8Array(0)
  for (let i = 1, offset = 0; offset < length; i++) {
    previous = await suite.hmacSha256(prk, concat(previous, info, Uint8Array.of(i)))
    out.set(previous.subarray(0, Math.min(32, length - offset)), offset)
    offset += 32
  }
  return out
}

async function labeledExtract (suite: CryptoSuite, suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Promise<Uint8Array> {
  return await extract(suite, salt, concat(utf8('HPKE-v1'), suiteId, utf8(label), ikm))
}

async function labeledExpand (suite: CryptoSuite, suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Promise<Uint8Array> {
  return await expand(suite, prk, concat(i2osp(length, 2), utf8('HPKE-v1'), suiteId, utf8(label), info), length)
}

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519: the secret scalar from input keying material. */
export async function deriveKeyPair (suite: CryptoSuite, ikm: Uint8Array): Promise<{ secret: Uint8Array, key: AgreementKey }> {
  const prk = await labeledExtract(suite, KEM_SUITE_ID, new Uint8Array(0), 'dkp_prk', ikm)
  const secret = await labeledExpand(suite, KEM_SUITE_ID, prk, 'sk', new Uint8Array(0), 32)
  return { secret, key: await suite.importAgreementKey(secret) }
}

async function dh (suite: CryptoSuite, key: AgreementKey, peer: Uint8Array): Promise<Uint8Array> {
  const shared = await suite.x25519(key, peer)
  // RFC 9180 §7.1.4 / RFC 7748 §6.1: an all-zero output means a low-order peer key.
  if (shared.every(byte => byte === 0)) throw new GatemeshError('GM_ERR_BAD_KEY', 'Low-order X25519 public key.')
  return shared
}

async function extractAndExpand (suite: CryptoSuite, dhValue: Uint8Array, kemContext: Uint8Array): Promise<Uint8Array> {
  const eaePrk = await labeledExtract(suite, KEM_SUITE_ID, new Uint8Array(0), 'eae_prk', dhValue)
  return await labeledExpand(suite, KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, N_SECRET)
}

export interface HpkeContext {
  readonly aead: HpkeAead
  readonly key: Uint8Array
  readonly baseNonce: Uint8Array
  readonly exporterSecret: Uint8Array
}

/** RFC 9180 §5.1 KeySchedule, base mode (no PSK). */
export async function keySchedule (suite: CryptoSuite, aead: HpkeAead, sharedSecret: Uint8Array, info: Uint8Array): Promise<HpkeContext> {
  const suiteId = hpkeSuiteId(aead)
  const empty = new Uint8Array(0)
  const pskIdHash = await labeledExtract(suite, suiteId, empty, 'psk_id_hash', empty)
  const infoHash = await labeledExtract(suite, suiteId, empty, 'info_hash', info)
  const context = concat(Uint8Array.of(MODE_BASE), pskIdHash, infoHash)
  const secret = await labeledExtract(suite, suiteId, sharedSecret, 'secret', empty)
  return {
    aead,
    key: await labeledExpand(suite, suiteId, secret, 'key', context, aead.keyLength),
    baseNonce: await labeledExpand(suite, suiteId, secret, 'base_nonce', context, N_NONCE),
    exporterSecret: await labeledExpand(suite, suiteId, secret, 'exp', context, 32)
  }
}

/**
 * SetupBaseS (RFC 9180 §5.1.1). `ephemeralIkm` is fresh randomness (32 bytes) in production and a
 * fixed value only in known-answer tests.
 */
export async function setupBaseSender (suite: CryptoSuite, aead: HpkeAead, recipientPublicKey: Uint8Array, info: Uint8Array, ephemeralIkm: Uint8Array = suite.randomBytes(32)): Promise<{ enc: Uint8Array, context: HpkeContext }> {
  const ephemeral = await deriveKeyPair(suite, ephemeralIkm)
  const enc = ephemeral.key.publicKey
  const dhValue = await dh(suite, ephemeral.key, recipientPublicKey)
  const sharedSecret = await extractAndExpand(suite, dhValue, concat(enc, recipientPublicKey))
  return { enc, context: await keySchedule(suite, aead, sharedSecret, info) }
}

/** SetupBaseR (RFC 9180 §5.1.1). */
export async function setupBaseRecipient (suite: CryptoSuite, aead: HpkeAead, enc: Uint8Array, recipient: AgreementKey, info: Uint8Array): Promise<HpkeContext> {
  if (!(enc instanceof Uint8Array) || enc.length !== 32) throw new GatemeshError('GM_ERR_BAD_KEY', 'The encapsulated key must be 32 bytes.')
  const dhValue = await dh(suite, recipient, enc)
  const sharedSecret = await extractAndExpand(suite, dhValue, concat(enc, recipient.publicKey))
  return await keySchedule(suite, aead, sharedSecret, info)
}

/** RFC 9180 §5.2 ComputeNonce. */
export function computeNonce (context: HpkeContext, seq: number): Uint8Array {
  const nonce = Uint8Array.from(context.baseNonce)
  const seqBytes = i2osp(seq, N_NONCE)
  for (let i = 0; i < N_NONCE; i++) nonce[i] = (nonce[i] as number) ^ (seqBytes[i] as number)
  return nonce
}

export async function contextSeal (suite: CryptoSuite, context: HpkeContext, seq: number, aad: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
  return await suite.aeadSeal(context.key, computeNonce(context, seq), plaintext, aad)
}

export async function contextOpen (suite: CryptoSuite, context: HpkeContext, seq: number, aad: Uint8Array, ciphertext: Uint8Array): Promise<Uint8Array> {
  return await suite.aeadOpen(context.key, computeNonce(context, seq), ciphertext, aad)
}

/** RFC 9180 §5.3 secret export. */
export async function contextExport (suite: CryptoSuite, context: HpkeContext, exporterContext: Uint8Array, length: number): Promise<Uint8Array> {
  return await labeledExpand(suite, hpkeSuiteId(context.aead), context.exporterSecret, 'sec', exporterContext, length)
}
