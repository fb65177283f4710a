/**
 * Conversions between libp2p Ed25519 keys and peer ids, and the SPKI / WebCrypto forms that X.509
 * uses. A gateway certificate certifies the gateway's own libp2p key, so these are exact.
 */
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { GatemeshError } from '../core/errors.ts'
import { ED25519 } from './x509.ts'

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { AlgorithmIdentifier { 1.3.101.112 }, BIT STRING } */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
export const ED25519_PUBLIC_KEY_BYTES = 32

export function rawPublicKeyToSpki (raw: Uint8Array): Uint8Array<ArrayBuffer> {
  if (raw.length !== ED25519_PUBLIC_KEY_BYTES) throw new Error('an Ed25519 public key has 32 bytes')
  const spki = new Uint8Array(ED25519_SPKI_PREFIX.length + raw.length)
  spki.set(ED25519_SPKI_PREFIX)
  spki.set(raw, ED25519_SPKI_PREFIX.length)
  return spki
}

/** The raw 32-byte key of an Ed25519 SPKI, or undefined when the SPKI holds another kind of key. */
export function spkiToRawPublicKey (spki: Uint8Array): Uint8Array | undefined {
  if (spki.length !== ED25519_SPKI_PREFIX.length + ED25519_PUBLIC_KEY_BYTES) return undefined
  for (let i = 0; i < ED25519_SPKI_PREFIX.length; i++) {
    if (spki[i] !== ED25519_SPKI_PREFIX[i]) return undefined
  }
  return spki.slice(ED25519_SPKI_PREFIX.length)
}

/** The raw Ed25519 public key inside a libp2p peer id string; GM_ERR_PKI_PEER_ID_INVALID otherwise. */
export function peerIdToRawPublicKey (peerId: string): Uint8Array {
  let parsed
  try {
    parsed = peerIdFromString(peerId)
  } catch (err) {
    throw new GatemeshError('GM_ERR_PKI_PEER_ID_INVALID', undefined, { cause: err })
  }
  if (parsed.type !== 'Ed25519' || parsed.publicKey === undefined || parsed.toString() !== peerId) {
    throw new GatemeshError('GM_ERR_PKI_PEER_ID_INVALID')
  }
  return parsed.publicKey.raw
}

export function rawPublicKeyToPeerId (raw: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(raw)).toString()
}

function base64url (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url')
}

/** A WebCrypto key pair holding the same Ed25519 key as a libp2p private key (for signing X.509 requests). */
export async function libp2pKeyToCryptoKeyPair (privateKey: PrivateKey): Promise<CryptoKeyPair> {
  if (privateKey.type !== 'Ed25519') throw new GatemeshError('GM_ERR_CSR_KEY_UNSUPPORTED')
  const seed = privateKey.raw.subarray(0, 32)
  const publicRaw = privateKey.publicKey.raw
  const jwk: JsonWebKey = { kty: 'OKP', crv: 'Ed25519', d: base64url(seed), x: base64url(publicRaw) }
  return {
    privateKey: await crypto.subtle.importKey('jwk', jwk, ED25519, false, ['sign']),
    publicKey: await crypto.subtle.importKey('raw', new Uint8Array(publicRaw), ED25519, true, ['verify'])
  }
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}
