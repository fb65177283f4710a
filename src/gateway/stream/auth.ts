/**
 * Log-in to the stream broker ([STR-6] .. [STR-9]): MQTT user name = pseudonym, password = a
 * stream token (core's token.ts) signed by the user's signing key. The account's verified signing key
 * comes from the overlay through a bounded cache; each refusal maps to one CONNACK return code.
 */
import { GatemeshError, isGatemeshError, isPseudonym } from '../../core/index.ts'

/** [STR-7] CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const CONNACK = {
  UNACCEPTABLE_PROTOCOL: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5
} as const

/** [STR-6] A token is at most 2 048 bytes; a longer password is refused before any look-up. */
export const MAX_TOKEN_BYTES = 2048

/** What the broker needs of an account: its verified signing key. */
export interface AccountKey { sigPub: Uint8Array }

export interface LoginComponents {
  /**
   * The account's verified signing key from the overlay (the account record, checked by core's
   * verifyAccountBundle), undefined when there is no such account; throws when the overlay
   * cannot answer.
   */
  lookupAccount: (pseudonym: string) => Promise<AccountKey | undefined>
  /** Core's verifyStreamToken bound to a suite: resolves for a good token, throws otherwise. */
  verifyToken: (token: string, expected: { sigPub: Uint8Array, pseudonym: string }) => Promise<unknown>
}

export interface AccountCacheInit {
  positiveTtlMs?: number
  negativeTtlMs?: number
  maxEntries?: number
  now?: () => number
}

interface CacheEntry { key: AccountKey | undefined, at: number, pending?: Promise<AccountKey | undefined> }

/**
 * [STR-6] Verified signing keys by pseudonym: an account found is remembered 10 minutes, an
 * account not found 5 seconds (a user who just signed up is not kept out for long), a failure
 * not at all; concurrent look-ups of one pseudonym share one fetch; at most `maxEntries` kept.
 */
export class AccountCache {
  private readonly lookup: (pseudonym: string) => Promise<AccountKey | undefined>
  private readonly entries = new Map<string, CacheEntry>()
  private readonly positiveTtlMs: number
  private readonly negativeTtlMs: number
  private readonly maxEntries: number
  private readonly now: () => number

  constructor (lookup: (pseudonym: string) => Promise<AccountKey | undefined>, init: AccountCacheInit = {}) {
    this.lookup = lookup
    this.positiveTtlMs = init.positiveTtlMs ?? 10 * 60_000
    this.negativeTtlMs = init.negativeTtlMs ?? 5000
    this.maxEntries = init.maxEntries ?? 10_000
    this.now = init.now ?? Date.now
  }

  async get (pseudonym: string): Promise<AccountKey | undefined> {
    const entry = this.entries.get(pseudonym)
    if (entry !== undefined) {
      if (entry.pending !== undefined) return await entry.pending
      const ttl = entry.key === undefined ? this.negativeTtlMs : this.positiveTtlMs
      if (this.now() - entry.at < ttl) return entry.key
      this.entries.delete(pseudonym)
    }
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: the oldest tenth goes
      let drop = Math.ceil(this.maxEntries / 10)
      for (const key of this.entries.keys()) {
        if (drop-- <= 0) break
        this.entries.delete(key)
      }
    }
    const fresh: CacheEntry = { key: undefined, at: -Infinity }
    fresh.pending = this.lookup(pseudonym).then(key => {
      fresh.key = key
      fresh.at = this.now()
      fresh.pending = undefined
      return key
    }, (err: unknown) => {
      this.entries.delete(pseudonym)
      throw err
    })
    this.entries.set(pseudonym, fresh)
    return await fresh.pending
  }
}

/** A refused log-in: its code (logged, counted) and its CONNACK return code. */
export class LoginRefused extends Error {
  readonly error: GatemeshError
  readonly returnCode: number
  constructor (error: GatemeshError, returnCode: number) {
    super(error.code)
    this.error = error
    this.returnCode = returnCode
  }
}

/**
 * [STR-6] [STR-7] Checks a CONNECT's user name and password; resolves with the pseudonym, or
 * rejects with LoginRefused. The token never leaves this function (never logged, never kept).
 */
export async function checkLogin (accounts: AccountCache, verifyToken: LoginComponents['verifyToken'], username: string | undefined, password: Buffer | undefined): Promise<string> {
  if (username === undefined || username === '' || password === undefined || password.length === 0) {
    throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_NOT_AUTHORIZED'), CONNACK.NOT_AUTHORIZED)
  }
  if (!isPseudonym(username)) throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_UNKNOWN_USER'), CONNACK.BAD_USERNAME_OR_PASSWORD)
  if (password.length > MAX_TOKEN_BYTES) throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_BAD_TOKEN', 'The token is too long.'), CONNACK.BAD_USERNAME_OR_PASSWORD)
  let account: AccountKey | undefined
  try {
    account = await accounts.get(username)
  } catch (err) {
    throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_DIRECTORY', undefined, { cause: err }), CONNACK.SERVER_UNAVAILABLE)
  }
  if (account === undefined) throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_UNKNOWN_USER'), CONNACK.BAD_USERNAME_OR_PASSWORD)
  try {
    await verifyToken(password.toString('utf8'), { sigPub: account.sigPub, pseudonym: username })
  } catch (err) {
    // the verifier's own code (malformed, signature, expired, subject) says which; the
    // application learns only "bad user name or password"
    const reason = isGatemeshError(err) ? err.code : 'unknown'
    throw new LoginRefused(new GatemeshError('GM_ERR_STREAM_BAD_TOKEN', `(${reason})`, { cause: err }), CONNACK.BAD_USERNAME_OR_PASSWORD)
  }
  return username
}

export interface ConnectRateInit {
  /** CONNECTs per second an address may sustain. */
  perSecond?: number
  /** CONNECTs an address may send at once. */
  burst?: number
  maxAddresses?: number
  now?: () => number
}

/**
 * [STR-9] A token bucket of CONNECTs per remote address, so that one address's flood of CONNECTs
 * (each one a DHT look-up and a signature check) cannot take the broker's time from the others.
 */
export class ConnectRate {
  private readonly buckets = new Map<string, { tokens: number, at: number }>()
  private readonly perMs: number
  private readonly burst: number
  private readonly maxAddresses: number
  private readonly now: () => number

  constructor (init: ConnectRateInit = {}) {
    this.perMs = (init.perSecond ?? 20) / 1000
    this.burst = init.burst ?? 50
    this.maxAddresses = init.maxAddresses ?? 100_000
    this.now = init.now ?? Date.now
  }

  take (address: string): boolean {
    const t = this.now()
    let bucket = this.buckets.get(address)
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxAddresses) this.sweep(t)
      bucket = { tokens: this.burst, at: t }
      this.buckets.set(address, bucket)
    } else {
      bucket.tokens = Math.min(this.burst, bucket.tokens + (t - bucket.at) * this.perMs)
      bucket.at = t
    }
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }

  /** Drops full buckets (a new one would be the same); if none is full, the oldest half. */
  private sweep (t: number): void {
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + (t - bucket.at) * this.perMs >= this.burst) this.buckets.delete(address)
    }
    if (this.buckets.size < this.maxAddresses) return
    let drop = Math.ceil(this.maxAddresses / 2)
    for (const address of this.buckets.keys()) {
      if (drop-- <= 0) break
      this.buckets.delete(address)
    }
  }
}
