/**
 * The certificate gate: no peer takes part in the overlay before its certificate has verified.
 *
 * [OVL-1] Every new connection runs the certificate exchange (protocol.ts). Until it succeeds the
 * remote peer is "unverified": identify is not run, the DHT neither answers nor sends it RPCs,
 * and it cannot enter the routing table (guarded-components.ts).
 * [OVL-4] A peer whose certificate is missing, malformed, expired, revoked, issued by another CA,
 * self-signed, or not for the key Noise authenticated is refused and disconnected, and dials to
 * and from it are denied for `denyFor` ms (for ever once revoked).
 * [OVL-3] An exchange that fails without a verdict on the peer (it timed out, its stream or
 * connection closed first) only closes that connection: the peer is not refused, and its next
 * connection runs the exchange again.
 */
import { isPeerId } from '@libp2p/interface'
import { TypedEventEmitter } from 'main-event'
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { CERT_PROTOCOL, messageChannel } from './protocol.ts'
import type { Hello } from './protocol.ts'
import type { RevocationState } from '../revocation/state.ts'
import type { CertificateTrust, Role, VerifiedCertificate, VerifiedPeer } from '../types.ts'
import type { Connection, PeerId, PeerStore, Startable, Stream, TypedEventTarget, Libp2pEvents } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

export interface CertificateGateComponents {
  events: TypedEventTarget<Libp2pEvents>
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
}

export interface CertificateGateInit {
  trust: CertificateTrust
  revocations: RevocationState
  /** Our own certificate (DER); a function so that a renewed certificate is used at once. */
  certificate: () => Uint8Array
  /** The services this peer runs, advertised in its hello. [OVL-31] */
  services?: () => readonly string[]
  /** Runs identify on a connection once its peer has verified. [OVL-5] */
  identify?: (connection: Connection) => Promise<unknown>
  exchangeTimeout?: number
  denyFor?: number
}

export interface CertificateGateEvents {
  'peer:verified': CustomEvent<VerifiedPeer>
  'peer:rejected': CustomEvent<{ peerId: string, code: string }>
}

type Outcome = VerifiedPeer | undefined

/** [OVL-3] Codes of an exchange that failed without a verdict on the peer: not a refusal. */
const INCONCLUSIVE = new Set(['GM_ERR_CERT_EXCHANGE_TIMEOUT', 'GM_ERR_CERT_EXCHANGE_INTERRUPTED'])

export class CertificateGate extends TypedEventEmitter<CertificateGateEvents> implements Startable {
  private readonly components: CertificateGateComponents
  private readonly init: CertificateGateInit
  private readonly log = createLogger('gatemesh:overlay:gate')
  private readonly exchangeTimeout: number
  private readonly denyFor: number
  private readonly verified = new Map<string, VerifiedPeer>()
  private readonly denied = new Map<string, number>()
  private readonly inbound = new Map<string, PromiseWithResolvers<Outcome>>()
  private readonly waiters = new Map<string, Set<(outcome: Outcome) => void>>()
  /** Inbound connections whose dialer has opened the exchange's stream. */
  private readonly exchanging = new Set<string>()
  private running = false

  constructor (components: CertificateGateComponents, init: CertificateGateInit) {
    super()
    this.components = components
    this.init = init
    this.exchangeTimeout = init.exchangeTimeout ?? 10_000
    this.denyFor = init.denyFor ?? 30_000
    this.onConnectionOpen = this.onConnectionOpen.bind(this)
    this.onPeerDisconnect = this.onPeerDisconnect.bind(this)
  }

  readonly [Symbol.toStringTag] = 'gatemesh:certificate-gate'

  isStarted (): boolean { return this.running }

  async start (): Promise<void> {
    await this.components.registrar.handle(CERT_PROTOCOL, (stream, connection) => this.onInboundExchange(stream, connection), {
      maxInboundStreams: 2, maxOutboundStreams: 2
    })
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.components.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    this.running = true
  }

  async stop (): Promise<void> {
    this.running = false
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.components.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    await this.components.registrar.unhandle(CERT_PROTOCOL)
    for (const peer of [...this.waiters.keys()]) this.notify(peer, undefined)
    for (const pending of this.inbound.values()) pending.resolve(undefined)
    this.inbound.clear()
    this.exchanging.clear()
  }

  /** The verified certificate of a connected peer, if any. */
  certificateOf (peerId: PeerId | string): VerifiedPeer | undefined {
    return this.verified.get(peerId.toString())
  }

  verifiedPeers (): VerifiedPeer[] {
    return [...this.verified.values()]
  }

  /** Whether dials to and from this peer are refused. Used by the connection gater. */
  isDenied (peerId: PeerId | string): boolean {
    const until = this.denied.get(peerId.toString())
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.denied.delete(peerId.toString())
    return false
  }

  /**
   * Resolves with the peer's certificate once it has verified on some connection; connects first
   * if there is no connection. Throws GM_ERR_PEER_NOT_VERIFIED otherwise. [OVL-6]
   */
  async ensureVerified (peerId: PeerId, options: { signal?: AbortSignal } = {}): Promise<VerifiedPeer> {
    const known = this.verified.get(peerId.toString())
    if (known !== undefined) return known
    if (this.isDenied(peerId)) throw new GatemeshError('GM_ERR_PEER_NOT_VERIFIED', 'The peer was refused.')
    const waiting = this.waitVerified(peerId)
    if (this.components.connectionManager.getConnections(peerId).length === 0) {
      await this.components.connectionManager.openConnection(peerId, { signal: options.signal })
    }
    const cert = await waiting
    if (cert === undefined) throw new GatemeshError('GM_ERR_PEER_NOT_VERIFIED')
    return cert
  }

  /** Waits (up to the exchange timeout) for the peer to verify; undefined if it does not. */
  async waitVerified (peerId: PeerId | string): Promise<Outcome> {
    const id = peerId.toString()
    const known = this.verified.get(id)
    if (known !== undefined) return known
    if (this.isDenied(id) || !this.running) return undefined
    return await new Promise<Outcome>(resolve => {
      const timer = setTimeout(() => { done(undefined) }, this.exchangeTimeout)
      const done = (outcome: Outcome): void => {
        clearTimeout(timer)
        this.waiters.get(id)?.delete(done)
        resolve(outcome)
      }
      let set = this.waiters.get(id)
      if (set === undefined) this.waiters.set(id, set = new Set())
      set.add(done)
    })
  }

  /**
   * Refuses a peer: forgets its certificate, closes its connections, denies it for a while
   * (for ever when `permanent`), and tells listeners so the routing table drops it. [OVL-4]
   */
  reject (peerId: PeerId | string, code: string, permanent = false): void {
    const id = peerId.toString()
    this.verified.delete(id)
    this.denied.set(id, permanent ? Number.POSITIVE_INFINITY : Date.now() + this.denyFor)
    this.notify(id, undefined)
    this.log.warn({ peer: id, code }, 'peer refused')
    const pid = isPeerId(peerId) ? peerId : undefined
    const connections = this.components.connectionManager.getConnections(pid)
      .filter(c => c.remotePeer.toString() === id)
    for (const connection of connections) connection.abort(new GatemeshError('GM_ERR_PEER_NOT_VERIFIED', code))
    this.safeDispatchEvent('peer:rejected', { detail: { peerId: id, code } })
  }

  /** Re-checks every verified peer against the CRL in force and the clock. [OVL-23] */
  async recheck (): Promise<void> {
    const revocations = this.init.revocations.current()
    const now = Date.now()
    for (const [peer, until] of [...this.denied]) if (until <= now) this.denied.delete(peer)
    for (const cert of [...this.verified.values()]) {
      if (revocations?.serials.has(cert.serial) === true) this.reject(cert.peerId, 'GM_ERR_PEER_REVOKED', true)
      else if (cert.notAfter.getTime() <= now) this.reject(cert.peerId, 'GM_ERR_CERT_REJECTED')
    }
  }

  private notify (peerId: string, outcome: Outcome): void {
    const set = this.waiters.get(peerId)
    if (set === undefined) return
    this.waiters.delete(peerId)
    for (const done of set) done(outcome)
  }

  private hello (): Hello {
    const cert = this.init.certificate()
    const crl = this.init.revocations.current()?.der
    const hello: Hello = { v: 1, cert }
    if (crl !== undefined) hello.crl = crl
    const services = this.init.services?.() ?? []
    if (services.length > 0) hello.services = [...services]
    return hello
  }

  /** Verifies a hello from `peerId`, adopting its CRL first if that is newer. [OVL-22] */
  private async verifyHello (hello: Hello, peerId: string): Promise<VerifiedPeer> {
    if (hello.crl !== undefined) {
      try {
        this.init.revocations.offer(await this.init.trust.verifyRevocationList(hello.crl))
      } catch (err) {
        this.log.debug({ peer: peerId, err }, 'ignoring an invalid CRL in a hello')
      }
    }
    let cert: VerifiedCertificate
    try {
      cert = await this.init.trust.verifyCertificate(hello.cert, { peerId, revocations: this.init.revocations.current(), now: new Date() })
    } catch (err) {
      const revoked = isGatemeshError(err) && /REVOKED/.test(err.code)
      throw new GatemeshError(revoked ? 'GM_ERR_PEER_REVOKED' : 'GM_ERR_CERT_REJECTED', undefined, { cause: err })
    }
    // [OVL-31] a peer runs only what it advertises, and counts only for what its certificate grants
    const advertised = new Set(hello.services ?? [])
    return { ...cert, services: cert.roles.filter((role: Role) => advertised.has(role)) }
  }

  private onConnectionOpen (evt: CustomEvent<Connection>): void {
    const connection = evt.detail
    const peerId = connection.remotePeer.toString()
    if (this.isDenied(peerId)) {
      connection.abort(new GatemeshError('GM_ERR_PEER_NOT_VERIFIED'))
      return
    }
    const outcome = connection.direction === 'outbound'
      ? this.runOutboundExchange(connection)
      : this.inboundOutcome(connection).promise
    // [OVL-3] a dialer that never opened the exchange's stream is one that does not run it
    // (refused: no certificate); one whose exchange started but did not finish timed out
    let timedOut: 'GM_ERR_CERT_MISSING' | 'GM_ERR_CERT_EXCHANGE_TIMEOUT' = 'GM_ERR_CERT_EXCHANGE_TIMEOUT'
    const timer = setTimeout(() => {
      if (connection.direction === 'inbound' && !this.exchanging.has(connection.id)) timedOut = 'GM_ERR_CERT_MISSING'
      this.inbound.get(connection.id)?.resolve(undefined)
    }, this.exchangeTimeout)
    void outcome.then(cert => {
      clearTimeout(timer)
      this.inbound.delete(connection.id)
      this.exchanging.delete(connection.id)
      this.settle(connection, cert, timedOut)
    })
  }

  private inboundOutcome (connection: Connection): PromiseWithResolvers<Outcome> {
    let pending = this.inbound.get(connection.id)
    if (pending === undefined) this.inbound.set(connection.id, pending = Promise.withResolvers<Outcome>())
    return pending
  }

  private settle (connection: Connection, cert: Outcome, timedOut: string): void {
    const peerId = connection.remotePeer.toString()
    if (cert === undefined) {
      // the exchange's own failure has closed the connection already; still open: the timer fired
      if (connection.status === 'open') this.refuse(connection, new GatemeshError(timedOut as 'GM_ERR_CERT_MISSING'))
      return
    }
    if (connection.status !== 'open') {
      // it closed while the exchange ended: the peer is not verified on a closed connection [OVL-1]
      this.notifyUnlessPending(connection)
      return
    }
    this.verified.set(peerId, cert)
    this.notify(peerId, cert)
    this.safeDispatchEvent('peer:verified', { detail: cert })
    this.log.debug({ peer: peerId, roles: cert.roles, services: cert.services }, 'peer verified')
    // [OVL-5] identify only now, so the peer store, routing table and pubsub learn certified peers only.
    void this.init.identify?.(connection).catch((err: unknown) => {
      this.log.debug({ peer: peerId, err }, 'identify failed')
    })
  }

  /** Dialer side: send our hello, verify the listener's answer. [OVL-3] */
  private async runOutboundExchange (connection: Connection): Promise<Outcome> {
    const peerId = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(this.exchangeTimeout)
    let stream: Stream | undefined
    try {
      stream = await connection.newStream(CERT_PROTOCOL, { signal })
      const channel = messageChannel(stream)
      await channel.write(this.hello(), { signal })
      const answer = await channel.read({ signal })
      if ('error' in answer) throw new GatemeshError('GM_ERR_CERT_REFUSED_BY_PEER', answer.error)
      const cert = await this.verifyHello(answer, peerId)
      await stream.close({ signal }).catch(() => {})
      return cert
    } catch (err) {
      stream?.abort(err instanceof Error ? err : new Error(String(err)))
      this.refuse(connection, err)
      return undefined
    }
  }

  /** Listener side: verify the dialer's hello, answer with ours or a refusal. [OVL-3] */
  private async onInboundExchange (stream: Stream, connection: Connection): Promise<void> {
    this.exchanging.add(connection.id)
    const pending = this.inboundOutcome(connection)
    const peerId = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(this.exchangeTimeout)
    const channel = messageChannel(stream)
    try {
      const hello = await channel.read({ signal })
      if ('error' in hello) throw new GatemeshError('GM_ERR_CERT_EXCHANGE_MALFORMED', 'A dialer must send hello.')
      let cert: VerifiedPeer
      try {
        cert = await this.verifyHello(hello, peerId)
      } catch (err) {
        const code = isGatemeshError(err) ? err.code : 'GM_ERR_CERT_REJECTED'
        await channel.write({ v: 1, error: code }, { signal }).catch(() => {})
        throw err
      }
      await channel.write(this.hello(), { signal })
      await stream.close({ signal }).catch(() => {})
      pending.resolve(cert)
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      this.refuse(connection, err)
      pending.resolve(undefined)
    }
  }

  /** Ends a failed exchange: a refusal when the peer is at fault [OVL-4], else closes this connection only [OVL-3]. */
  private refuse (connection: Connection, err: unknown): void {
    const code = exchangeErrorCode(err)
    if (INCONCLUSIVE.has(code)) this.fail(connection, code)
    else this.reject(connection.remotePeer, code, code === 'GM_ERR_PEER_REVOKED')
  }

  /**
   * [OVL-3] An exchange that timed out or was cut short: closes this connection (unless the peer
   * verified on it after all), but neither denies nor forgets the peer, and leaves its other
   * connections alone; a later connection runs the exchange again.
   */
  private fail (connection: Connection, code: string): void {
    const id = connection.remotePeer.toString()
    this.log.info({ peer: id, code }, 'certificate exchange failed; connection closed, the peer may connect again')
    connection.abort(new GatemeshError(code === 'GM_ERR_CERT_EXCHANGE_INTERRUPTED' ? 'GM_ERR_CERT_EXCHANGE_INTERRUPTED' : 'GM_ERR_CERT_EXCHANGE_TIMEOUT'))
    if (!this.verified.has(id)) this.notifyUnlessPending(connection)
  }

  /** Tells whoever waits for the peer that it did not verify, unless another of its connections still may. */
  private notifyUnlessPending (connection: Connection): void {
    const others = this.components.connectionManager.getConnections(connection.remotePeer)
      .filter(c => c.id !== connection.id && c.status === 'open')
    if (others.length === 0) this.notify(connection.remotePeer.toString(), undefined)
  }

  private onPeerDisconnect (evt: CustomEvent<PeerId>): void {
    this.verified.delete(evt.detail.toString())
  }
}

/** The code of an exchange's failure: the gatemesh code, a timeout, an unsupported protocol (no gate), or a cut-short stream. */
function exchangeErrorCode (err: unknown): string {
  if (isGatemeshError(err)) return err.code
  const name = (err as Error | undefined)?.name
  if (name === 'TimeoutError' || name === 'AbortError') return 'GM_ERR_CERT_EXCHANGE_TIMEOUT'
  // a peer that does not speak /gatemesh/cert/1.0.0 has no place in the overlay
  if (name === 'UnsupportedProtocolError' || name === 'InvalidMessageError') return 'GM_ERR_CERT_EXCHANGE_MALFORMED'
  return 'GM_ERR_CERT_EXCHANGE_INTERRUPTED'
}

export function certificateGate (init: CertificateGateInit): (components: CertificateGateComponents) => CertificateGate {
  return (components) => new CertificateGate(components, init)
}
