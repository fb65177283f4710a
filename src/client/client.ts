/**
 * What an application uses to talk to gatemesh: sign up, log in, and (on a Session) bind, share,
 * list and read sensors. Every key is made and used here, on the client; a gateway sees public
 * keys, signed records, sealed bundles and ciphertext only. Runs in browsers and in Node.
 */
import type { AccountRecord, CryptoSuite, Identity } from '../core/index.ts'
import {
  DEFAULT_KDF_ITERATIONS, GatemeshError, fromBase64, generateIdentity, isGatemeshError, isPseudonym,
  createAccountBundle, openAccountBundle, toBase64, verifyAccountBundle, webCryptoSuite
} from '../core/index.ts'
import { Transport, stringField, type FetchFunction } from './http.ts'
import { Session } from './session.ts'

export interface ClientInit {
  /** Any access gateway's base URL, e.g. `http://127.0.0.1:8080`. */
  gateway: string
  /** Default: webCryptoSuite (browsers and Node). */
  suite?: CryptoSuite
  /** Default: the global fetch. */
  fetch?: FetchFunction
  /** PBKDF2 iterations for new bundles; default DEFAULT_KDF_ITERATIONS, at least MIN_KDF_ITERATIONS. */
  kdfIterations?: number
  /** Make and open bundles below MIN_KDF_ITERATIONS. Tests only (gateways refuse them by default). */
  allowWeakKdfForTests?: boolean
  /** Per request; default 30 s. */
  timeoutMs?: number
}

export interface SignupResult {
  identity: Identity
  pseudonym: string
  /** The sealed bundle as stored: safe to keep on disk (the password opens it). */
  bundle: Uint8Array
}

function decode (text: string, what: string): Uint8Array {
  try {
    return fromBase64(text)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `${what} is not base64.`, { cause: err })
  }
}

export class Client {
  readonly suite: CryptoSuite
  readonly transport: Transport
  private readonly init: ClientInit

  constructor (init: ClientInit) {
    this.init = init
    this.suite = init.suite ?? webCryptoSuite
    this.transport = new Transport({ gateway: init.gateway, suite: this.suite, fetch: init.fetch, timeoutMs: init.timeoutMs })
  }

  /** The gateway's base URL as used. */
  get gateway (): string {
    return this.transport.gateway.href.replace(/\/$/, '')
  }

  private get weak (): { allowWeakKdf: boolean } {
    return { allowWeakKdf: this.init.allowWeakKdfForTests === true }
  }

  /** [ACS-3] New keys, a bundle sealed under the password, stored through the gateway. */
  async signup (password: string): Promise<SignupResult> {
    const identity = await generateIdentity(this.suite)
    const bundle = await createAccountBundle(this.suite, identity, password, {
      iterations: this.init.kdfIterations ?? DEFAULT_KDF_ITERATIONS,
      allowWeakKdf: this.weak.allowWeakKdf
    })
    const answer = await this.transport.request('POST', '/v1/accounts', { body: { bundle: toBase64(bundle) } })
    if (answer.pseudonym !== identity.pseudonym) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The gateway stored another pseudonym.')
    return { identity, pseudonym: identity.pseudonym, bundle }
  }

  /**
   * [ACS-4] A user's bundle and public keys, verified here: signed by its own key, and the keys
   * make the pseudonym asked for. Another user's KDF strength is not ours to judge, so a weak one
   * is accepted when only the public keys are wanted.
   */
  async account (pseudonym: string, options: { publicOnly?: boolean } = {}): Promise<{ bundle: Uint8Array, account: AccountRecord }> {
    if (!isPseudonym(pseudonym)) throw new GatemeshError('GM_ERR_MALFORMED', 'Not a pseudonym.')
    const answer = await this.transport.request('GET', `/v1/accounts/${pseudonym}`)
    const bundle = decode(stringField(answer, 'bundle'), 'The bundle')
    let account: AccountRecord
    try {
      account = await verifyAccountBundle(this.suite, bundle, { allowWeakKdf: options.publicOnly === true || this.weak.allowWeakKdf })
    } catch (err) {
      if (isGatemeshError(err, 'GM_ERR_WEAK_KDF')) throw err
      throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The bundle does not verify.', { cause: err })
    }
    if (account.pseudonym !== pseudonym) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The bundle is for another pseudonym.')
    return { bundle, account }
  }

  /** [ACS-5] Fetches the bundle and opens it here with the password. */
  async login (pseudonym: string, password: string): Promise<Session> {
    const { bundle } = await this.account(pseudonym)
    return await this.resume(bundle, password, pseudonym)
  }

  /** Opens a bundle kept by the application (no network); `pseudonym` guards against a swapped file. */
  async resume (bundle: Uint8Array, password: string, pseudonym?: string): Promise<Session> {
    const identity = await openAccountBundle(this.suite, bundle, password, this.weak)
    if (pseudonym !== undefined && identity.pseudonym !== pseudonym) throw new GatemeshError('GM_ERR_PSEUDONYM_MISMATCH', 'The bundle is for another pseudonym.')
    return new Session({ client: this, identity, bundle })
  }
}

export function createClient (init: ClientInit): Client {
  return new Client(init)
}
