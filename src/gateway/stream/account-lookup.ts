/**
 * [STR-6] The broker's `lookupAccount` over any fetch of account records (the DHT in a gateway):
 * the bundle is verified with core's verifyAccountBundle (its record signature and the
 * pseudonym's derivation from its keys) and must be the asked pseudonym's; a record that does
 * not verify counts as no account. A failing fetch throws (CONNACK 3, [STR-7]).
 */
import { verifyAccountBundle } from '../../core/index.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { AccountKey } from './auth.ts'

export interface AccountLookupComponents {
  suite: CryptoSuite
  /** The stored account bundle of the pseudonym, undefined when there is none; throws when the overlay cannot answer. */
  fetch: (pseudonym: string) => Promise<Uint8Array | undefined>
}

export interface AccountLookupInit {
  /** Accept bundles below the minimum KDF iterations: tests only. */
  allowWeakKdfForTests?: boolean
}

export function createAccountKeyLookup (components: AccountLookupComponents, init: AccountLookupInit = {}): (pseudonym: string) => Promise<AccountKey | undefined> {
  return async pseudonym => {
    const bundle = await components.fetch(pseudonym)
    if (bundle === undefined) return undefined
    try {
      const account = await verifyAccountBundle(components.suite, bundle, { allowWeakKdf: init.allowWeakKdfForTests === true })
      return account.pseudonym === pseudonym ? { sigPub: account.sigPub } : undefined
    } catch {
      return undefined
    }
  }
}
