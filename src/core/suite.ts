/**
 * The primitives the core's constructions rest on. The constructions (identity, account bundle,
 * envelope, records, requests) are written once, over this interface; a suite supplies the
 * primitives: `webCryptoSuite` (browsers, CLI) or the node:crypto suite in src/platform (gateways,
 * where WebCrypto's threadpool hop costs more than the primitive). Both give identical bytes; the
 * known-answer vectors hold every suite to that.
 */

/** An AES-GCM key prepared for repeated use (a CryptoKey, a KeyObject, ...). */
export interface AeadKey {
  readonly kind: 'aead'
}

/** An Ed25519 private key. */
export interface SigningKey {
  readonly kind: 'signing'
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
}

/** An X25519 private key. */
export interface AgreementKey {
  readonly kind: 'agreement'
  /** Raw 32-byte X25519 public key. */
  readonly publicKey: Uint8Array
}

export interface CryptoSuite {
  readonly name: string
  /** Cryptographically secure random bytes. */
  randomBytes (length: number): Uint8Array
  sha256 (data: Uint8Array): Promise<Uint8Array>
  pbkdf2Sha256 (password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array>
  /** Prepares a 16- or 32-byte AES key for AES-GCM. */
  importAeadKey (raw: Uint8Array): Promise<AeadKey>
  /** AES-GCM with a 96-bit nonce and a 128-bit tag appended to the ciphertext. */
  aeadSeal (key: AeadKey | Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>
  /**
   * Optional synchronous forms of sha256 and aeadSeal, giving the same bytes, for suites whose
   * primitives are synchronous anyway (node:crypto): the sealer uses them when present, which
   * spares it an await per call (a dozen per reading sealed).
   */
  sha256Sync?: (data: Uint8Array) => Uint8Array
  aeadSealSync?: (key: AeadKey | Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array) => Uint8Array
  /** Throws GM_ERR_DECRYPT_FAILED when the tag does not verify. */
  aeadOpen (key: AeadKey | Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, aad: Uint8Array): Promise<Uint8Array>
  /** An Ed25519 key from its 32-byte seed (RFC 8032 private key). */
  importSigningKey (seed: Uint8Array): Promise<SigningKey>
  sign (key: SigningKey, message: Uint8Array): Promise<Uint8Array>
  /** False for a wrong signature or a malformed key; never throws for bad input. */
  verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<boolean>
  /** An X25519 key from its 32-byte scalar (RFC 7748; clamped on use). */
  importAgreementKey (secret: Uint8Array): Promise<AgreementKey>
  /**
   * The same X25519 private key as a WebCrypto CryptoKey (usage deriveBits), for HPKE: @hpke/core
   * runs on WebCrypto whatever the suite (hpke.ts).
   */
  agreementCryptoKey (key: AgreementKey): Promise<CryptoKey>
}
