/**
 * HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, from @hpke/core, a
 * maintained implementation on WebCrypto for Node and browsers. gatemesh uses a context's secret
 * export (RFC 9180 §5.3) to derive per-recipient wrapping keys ([ENV-3]); hpke.test.ts checks
 * this module against the RFC's test vectors (Appendix A.1).
 *
 * @hpke/core runs on `globalThis.crypto` whatever CryptoSuite the caller uses: a context is set
 * up once per recipient and epoch, not per reading, so the node:crypto suite's speed does not
 * matter here. The suite is asked only for its X25519 private key as a CryptoKey.
 */
import { Aes128Gcm, Aes256Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256, type EncryptionContext, type RecipientContext, type SenderContext } from '@hpke/core'
import type { AgreementKey, CryptoSuite } from './suite.ts'
import { GatemeshError } from './errors.ts'

export type HpkeAead = 'AES-128-GCM' | 'AES-256-GCM'
export const AES_128_GCM: HpkeAead = 'AES-128-GCM'
export const AES_256_GCM: HpkeAead = 'AES-256-GCM'
export type { EncryptionContext as HpkeContext, RecipientContext as HpkeRecipientContext, SenderContext as HpkeSenderContext }

const suites = new Map<HpkeAead, CipherSuite>()

function cipherSuite (aead: HpkeAead): CipherSuite {
  let suite = suites.get(aead)
  if (suite === undefined) {
    suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: aead === AES_128_GCM ? new Aes128Gcm() : new Aes256Gcm() })
    suites.set(aead, suite)
  }
  return suite
}

function requireKey (bytes: Uint8Array, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new GatemeshError('GM_ERR_BAD_KEY', `${what} must be 32 bytes.`)
}

/** @hpke/core's failures here are all about the keys given: a malformed or low-order X25519 key. */
async function keyed<T> (what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action()
  } catch (err) {
    throw new GatemeshError('GM_ERR_BAD_KEY', `${what} failed.`, { cause: err })
  }
}

/**
 * SetupBaseS (RFC 9180 §5.1.1). The ephemeral key pair is DeriveKeyPair(ephemeralIkm) (§7.1.3):
 * the caller passes 32 bytes from its suite's randomness, so that the suite stays the one source
 * of randomness (a known-answer suite fixes it, and the envelope vectors with it).
 */
export async function setupBaseSender (aead: HpkeAead, recipientPublicKey: Uint8Array, info: Uint8Array, ephemeralIkm: Uint8Array): Promise<{ enc: Uint8Array, context: SenderContext }> {
  if (!(ephemeralIkm instanceof Uint8Array) || ephemeralIkm.length < 32) throw new RangeError('HPKE: the ephemeral input keying material must be at least 32 bytes')
  requireKey(recipientPublicKey, 'The recipient\'s X25519 public key')
  const suite = cipherSuite(aead)
  return await keyed('HPKE encapsulation', async () => {
    const context = await suite.createSenderContext({ recipientPublicKey: await suite.kem.deserializePublicKey(recipientPublicKey), info, ekm: ephemeralIkm })
    return { enc: new Uint8Array(context.enc), context }
  })
}

/** SetupBaseR (RFC 9180 §5.1.1) for the recipient's X25519 key, held by `crypto`. */
export async function setupBaseRecipient (crypto: CryptoSuite, aead: HpkeAead, enc: Uint8Array, recipient: AgreementKey, info: Uint8Array): Promise<RecipientContext> {
  requireKey(enc, 'The encapsulated key')
  const suite = cipherSuite(aead)
  const privateKey = await crypto.agreementCryptoKey(recipient)
  return await keyed('HPKE decapsulation', async () => {
    const recipientKey = { privateKey, publicKey: await suite.kem.deserializePublicKey(recipient.publicKey) }
    return await suite.createRecipientContext({ recipientKey, enc, info })
  })
}

/** RFC 9180 §5.3 secret export. */
export async function contextExport (context: EncryptionContext, exporterContext: Uint8Array, length: number): Promise<Uint8Array> {
  return new Uint8Array(await context.export(exporterContext, length))
}
