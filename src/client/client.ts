/**
 * What an application uses to talk to gatemesh: sign up, log in, and (on a Session) bind, share,
 * list and read sensors. Every key is made and used here, on the client; a gateway sees public
 * keys, signed records, sealed bundles and ciphertext only. Runs in browsers and in Node.
 */
import type { AccountRecord, CryptoSuite, Identity } from '../core/index.ts'
import {
  DEFAULT_KDF_ITERATIONS, GatemeshError, equalBytes, fromBase64, generateIdentity, isGatemeshError, isPseudonym,
  createAccountBundle, openAccountBundle, toBase64, verifyAccountBundle, webCryptoSuite
} from '../core/index.ts'
import type { PageProcessor } from './history-pages.ts'
import { Transport, stringField, type FetchFunction } from './http.ts'
import { Session } from './session.ts'
import { CollectorVerifier, certificateFingerprint, checkCaCertificate, type CertifiedCollector } from './trust.ts'

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
  /**
   * [ACS-19] The network's CA certificate (DER) to pin. Without it the client pins the one the
   * first gateway it asks serves at GET /v1/network (trust on first use): sign-up and log-in ask.
   */
  caCertificate?: Uint8Array
  /**
   * [PER-53] Where a session verifies and opens pages of history, made by its first history read
   * of more than one page: by default the thread that reads (`fallback`); in Node,
   * `createWorkerPages` (src/platform/history-pages.ts) puts that work on a worker thread of its own.
   */
  historyPages?: (reader: { pseudonym: string, agreementSecret: Uint8Array }, fallback: PageProcessor) => PageProcessor
}

export interface SignupResult {
  identity: Identity
  pseudonym: string
  /** The sealed bundle as stored: safe to keep on disk (the password opens it). */
  bundle: Uint8Array
  /** The network's CA certificate, pinned (keep it with the bundle). */
  caCertificate: Uint8Array
}

/** [ACS-18] [ACS-19] The network a gateway belongs to, as the client pinned it. */
export interface NetworkInfo {
  caCertificate: Uint8Array
  /** SHA-256 of the DER, `AB:CD:...`: compare it out of band with what the network's operator publishes. */
  fingerprint: string
  /** true when this call pinned it (trust on first use); false when it matched a pinned one. */
  firstUse: boolean
  /** [ACS-18] The gateway's own Data Collector listeners, when it runs one (where a sensor may send). */
  collector?: { http: string, mqtt: string }
  /** [ACS-18] The gateway's own stream broker listeners, when it runs one (where to subscribe, [STR-40]). */
  stream?: { mqtt: string, ws: string }
  /** [ACS-18] [STR-49] Every stream peer of the network the gateway knows (its own first): where else to subscribe. */
  streams?: Array<{ mqtt: string, ws: string }>
}

/** [ACS-18] `collector` of a /v1/network answer: two URLs, or absent. */
function collectorField (answer: Record<string, unknown>): { http: string, mqtt: string } | undefined {
  const value = answer.collector
  if (value === undefined) return undefined
  const { http, mqtt } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  if (typeof http !== 'string' || typeof mqtt !== 'string' || !/^https?:\/\//.test(http) || !/^mqtts?:\/\//.test(mqtt)) {
    throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'Field \'collector\' is not { http, mqtt } URLs.')
  }
  return { http, mqtt }
}

function streamUrls (value: unknown, field: string): { mqtt: string, ws: string } {
  const { mqtt, ws } = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>
  if (typeof mqtt !== 'string' || typeof ws !== 'string' || !/^mqtts?:\/\//.test(mqtt) || !/^wss?:\/\//.test(ws)) {
    throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', `Field '${field}' is not { mqtt, ws } URLs.`)
  }
  return { mqtt, ws }
}

/** [ACS-18] `stream` of a /v1/network answer: two URLs, or absent. */
function streamField (answer: Record<string, unknown>): { mqtt: string, ws: string } | undefined {
  return answer.stream === undefined ? undefined : streamUrls(answer.stream, 'stream')
}

/** [ACS-18] [STR-49] `streams` of a /v1/network answer: at most 256 pairs of URLs, or absent. */
function streamsField (answer: Record<string, unknown>): Array<{ mqtt: string, ws: string }> | undefined {
  const value = answer.streams
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length > 256) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'Field \'streams\' is not a list of { mqtt, ws } URLs.')
  return value.map(item => streamUrls(item, 'streams'))
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
  /** [ACS-19] The pinned CA: given, or learned on first use; checked before first use. */
  private pinned?: { der: Uint8Array, checked?: Promise<void>, verifier: CollectorVerifier }

  constructor (init: ClientInit) {
    this.init = init
    this.suite = init.suite ?? webCryptoSuite
    this.transport = new Transport({ gateway: init.gateway, suite: this.suite, fetch: init.fetch, timeoutMs: init.timeoutMs })
    if (init.caCertificate !== undefined) this.pin(Uint8Array.from(init.caCertificate))
  }

  private pin (der: Uint8Array, checked?: Promise<void>): void {
    this.pinned = { der, checked, verifier: new CollectorVerifier(der) }
  }

  /** [PER-53] Where a session's history pages are verified and opened, when given (ClientInit.historyPages). */
  get historyPages (): ClientInit['historyPages'] {
    return this.init.historyPages
  }

  /** The pinned CA certificate (DER), once given or learned. */
  get caCertificate (): Uint8Array | undefined {
    return this.pinned?.der
  }

  /** A CA given at construction is checked once, when first used (GM_ERR_CA_CERT_INVALID, GM_ERR_CA_CERT_EXPIRED). */
  private async checkedPin (): Promise<NonNullable<Client['pinned']> | undefined> {
    const pinned = this.pinned
    if (pinned === undefined) return undefined
    pinned.checked ??= checkCaCertificate(pinned.der)
    await pinned.checked
    return pinned
  }

  /**
   * [ACS-18] [ACS-19] The CA certificate the gateway serves, compared with the pinned one
   * (GM_ERR_CLIENT_CA_MISMATCH when it differs), or pinned when none is (trust on first use).
   */
  async network (): Promise<NetworkInfo> {
    const pinned = await this.checkedPin()
    const answer = await this.transport.request('GET', '/v1/network')
    const served = decode(stringField(answer, 'caCertificate'), 'The CA certificate')
    const fingerprint = await certificateFingerprint(this.suite, served)
    const collector = collectorField(answer)
    const stream = streamField(answer)
    const streams = streamsField(answer)
    const extra = { ...(collector === undefined ? {} : { collector }), ...(stream === undefined ? {} : { stream }), ...(streams === undefined ? {} : { streams }) }
    if (pinned !== undefined) return { ...await this.matchPinned(pinned.der, served, fingerprint), ...extra }
    const checked = checkCaCertificate(served)
    try {
      await checked
    } catch (err) {
      throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The gateway\'s CA certificate is not a valid CA certificate.', { cause: err })
    }
    // another call may have pinned one meanwhile: the first pin stays, and this answer must match it
    if (this.pinned !== undefined) return { ...await this.matchPinned(this.pinned.der, served, fingerprint), ...extra }
    this.pin(served, checked)
    return { caCertificate: served, fingerprint, firstUse: true, ...extra }
  }

  private async matchPinned (pinned: Uint8Array, served: Uint8Array, fingerprint: string): Promise<NetworkInfo> {
    if (!equalBytes(pinned, served)) {
      const expected = await certificateFingerprint(this.suite, pinned)
      throw new GatemeshError('GM_ERR_CLIENT_CA_MISMATCH', `It serves the CA with SHA-256 fingerprint ${fingerprint}; the pinned one is ${expected}.`)
    }
    return { caCertificate: pinned, fingerprint, firstUse: false }
  }

  /**
   * [ENV-10] `gw` sealed a reading at `ts`: is it a collector the pinned CA certified then?
   * Without a pinned CA the gateway's is pinned first (trust on first use).
   */
  async verifyCollector (gw: Uint8Array, certificate: Uint8Array, ts: number): Promise<CertifiedCollector> {
    if (this.pinned === undefined) await this.network()
    const pinned = await this.checkedPin()
    if (pinned === undefined) throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'No CA certificate is pinned.')
    return await pinned.verifier.verify(gw, certificate, ts)
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
    // [ACS-19] the network first: nothing is stored at a gateway of another network
    const { caCertificate } = await this.network()
    const identity = await generateIdentity(this.suite)
    const bundle = await createAccountBundle(this.suite, identity, password, {
      iterations: this.init.kdfIterations ?? DEFAULT_KDF_ITERATIONS,
      allowWeakKdf: this.weak.allowWeakKdf
    })
    const answer = await this.transport.request('POST', '/v1/accounts', { body: { bundle: toBase64(bundle) } })
    if (answer.pseudonym !== identity.pseudonym) throw new GatemeshError('GM_ERR_CLIENT_BAD_RESPONSE', 'The gateway stored another pseudonym.')
    return { identity, pseudonym: identity.pseudonym, bundle, caCertificate }
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

  /** [ACS-5] [ACS-19] Checks (or pins) the network's CA, fetches the bundle and opens it here with the password. */
  async login (pseudonym: string, password: string): Promise<Session> {
    await this.network()
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
