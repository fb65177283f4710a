/**
 * Accounts as the access service sees them: sealed bundles in the overlay, checked before they
 * are stored, and the signing keys that signed requests are verified with. [ACS-3] [ACS-4] [ACS-6]
 */
import type { CryptoSuite } from '../../core/index.ts'
import { GatemeshError, verifyAccountBundle } from '../../core/index.ts'
import { dhtGet, dhtPut, keys, type AccessDht } from './dht.ts'

/**
 * [ACS-22] The largest bundle the service stores. A genuine one is about 460 bytes (two 32-byte
 * public keys, the KDF parameters, 93 bytes of ciphertext, a 52-character key, the signature);
 * the overlay's own limit for an account record is 4 KiB ([OVL-11], [ACC-4]).
 */
export const MAX_ACCOUNT_BUNDLE_BYTES = 1024

export interface AccountDirectoryComponents {
  suite: CryptoSuite
  dht: AccessDht
}

export interface AccountDirectoryInit {
  /** Accept bundles below MIN_KDF_ITERATIONS: for tests only, never in a deployment. */
  allowWeakKdfForTests?: boolean
  /** Signing keys remembered at most (a pseudonym's keys never change, so entries never go stale). */
  maxCachedKeys?: number
}

export class AccountDirectory {
  private readonly suite: CryptoSuite
  private readonly dht: AccessDht
  private readonly allowWeakKdf: boolean
  private readonly maxCached: number
  private readonly signingKeys = new Map<string, Uint8Array>()

  constructor (components: AccountDirectoryComponents, init: AccountDirectoryInit = {}) {
    this.suite = components.suite
    this.dht = components.dht
    this.allowWeakKdf = init.allowWeakKdfForTests === true
    this.maxCached = init.maxCachedKeys ?? 10_000
  }

  private remember (pseudonym: string, sigPub: Uint8Array): void {
    if (this.signingKeys.size >= this.maxCached) {
      const oldest = this.signingKeys.keys().next().value
      if (oldest !== undefined) this.signingKeys.delete(oldest)
    }
    this.signingKeys.set(pseudonym, sigPub)
  }

  /** [ACS-3] Checks a new bundle and stores it; GM_ERR_ACCOUNT_EXISTS when the pseudonym is taken. */
  async create (bundle: Uint8Array): Promise<string> {
    if (bundle.length > MAX_ACCOUNT_BUNDLE_BYTES) throw new GatemeshError('GM_ERR_TOO_LARGE', `An account bundle is at most ${MAX_ACCOUNT_BUNDLE_BYTES} bytes.`)
    const account = await verifyAccountBundle(this.suite, bundle, { allowWeakKdf: this.allowWeakKdf })
    if (await dhtGet(this.dht, keys.account(account.pseudonym)) !== undefined) throw new GatemeshError('GM_ERR_ACCOUNT_EXISTS')
    await dhtPut(this.dht, keys.account(account.pseudonym), bundle)
    this.remember(account.pseudonym, account.sigPub)
    return account.pseudonym
  }

  /** [ACS-4] The stored bundle, as the overlay holds it (the client verifies and opens it). */
  async bundle (pseudonym: string): Promise<Uint8Array> {
    const bundle = await dhtGet(this.dht, keys.account(pseudonym))
    if (bundle === undefined) throw new GatemeshError('GM_ERR_ACCOUNT_NOT_FOUND')
    return bundle
  }

  /** [ACS-6] The Ed25519 key a pseudonym signs with, or undefined when there is no valid account. */
  async signingKey (pseudonym: string): Promise<Uint8Array | undefined> {
    const cached = this.signingKeys.get(pseudonym)
    if (cached !== undefined) return cached
    const bundle = await dhtGet(this.dht, keys.account(pseudonym))
    if (bundle === undefined) return undefined
    try {
      const account = await verifyAccountBundle(this.suite, bundle, { allowWeakKdf: this.allowWeakKdf })
      if (account.pseudonym !== pseudonym) return undefined
      this.remember(pseudonym, account.sigPub)
      return account.sigPub
    } catch {
      return undefined
    }
  }
}
