/**
 * A user's identity: an Ed25519 signing key, an X25519 encryption key, and the pseudonym derived
 * from both public keys. The pseudonym is self-certifying: anyone holding the two public keys can
 * recompute it. [ID-1] [ID-2]
 */
import type { AgreementKey, CryptoSuite, SigningKey } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { concat, equalBytes, toBase32, utf8 } from './bytes.ts'

const PSEUDONYM_DOMAIN = utf8('gatemesh/pseudonym/v1\0')
const PSEUDONYM_PATTERN = /^[a-z2-7]{52}$/

export interface PublicIdentity {
  readonly pseudonym: string
  /** Raw Ed25519 public key, 32 bytes. */
  readonly sigPub: Uint8Array
  /** Raw X25519 public key, 32 bytes. */
  readonly encPub: Uint8Array
}

export interface Identity extends PublicIdentity {
  readonly signingKey: SigningKey
  readonly agreementKey: AgreementKey
  /** The private halves as raw bytes, for the account bundle only. Never log or send them. */
  readonly secrets: { readonly signingSeed: Uint8Array, readonly agreementSecret: Uint8Array }
}

/** [ID-2] pseudonym = base32(SHA-256("gatemesh/pseudonym/v1\0" || sigPub || encPub)), lower case, no padding. */
export async function derivePseudonym (suite: CryptoSuite, sigPub: Uint8Array, encPub: Uint8Array): Promise<string> {
  if (!(sigPub instanceof Uint8Array) || sigPub.length !== 32 || !(encPub instanceof Uint8Array) || encPub.length !== 32) {
    throw new GatemeshError('GM_ERR_BAD_KEY', 'Public keys must be 32 bytes each.')
  }
  return toBase32(await suite.sha256(concat(PSEUDONYM_DOMAIN, sigPub, encPub)))
}

export function isPseudonym (value: unknown): value is string {
  return typeof value === 'string' && PSEUDONYM_PATTERN.test(value)
}

/** Throws GM_ERR_PSEUDONYM_MISMATCH unless the keys belong to the pseudonym. */
export async function verifyPseudonym (suite: CryptoSuite, identity: PublicIdentity): Promise<void> {
  if (!isPseudonym(identity.pseudonym)) throw new GatemeshError('GM_ERR_MALFORMED', 'Not a pseudonym.')
  const expected = await derivePseudonym(suite, identity.sigPub, identity.encPub)
  if (!equalBytes(utf8(expected), utf8(identity.pseudonym))) throw new GatemeshError('GM_ERR_PSEUDONYM_MISMATCH')
}

export async function identityFromSecrets (suite: CryptoSuite, signingSeed: Uint8Array, agreementSecret: Uint8Array): Promise<Identity> {
  const signingKey = await suite.importSigningKey(signingSeed)
  const agreementKey = await suite.importAgreementKey(agreementSecret)
  return {
    pseudonym: await derivePseudonym(suite, signingKey.publicKey, agreementKey.publicKey),
    sigPub: signingKey.publicKey,
    encPub: agreementKey.publicKey,
    signingKey,
    agreementKey,
    secrets: { signingSeed: Uint8Array.from(signingSeed), agreementSecret: Uint8Array.from(agreementSecret) }
  }
}

/** A new identity from the suite's randomness; done on the client, never on a gateway. */
export async function generateIdentity (suite: CryptoSuite): Promise<Identity> {
  return await identityFromSecrets(suite, suite.randomBytes(32), suite.randomBytes(32))
}
