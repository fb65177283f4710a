/**
 * The overlay node: js-libp2p (TCP, Noise, Yamux) with kad-dht in server mode on the private
 * protocol `/gatemesh/kad/1.0.0` [OVL-9], guarded by the certificate gate, with a durable
 * datastore, CRL sync and republishing.
 *
 * Services extend it through its public interface only [OVL-32..OVL-34]: before `start()` they
 * register DHT namespaces (`registerNamespace`) and, at any time, libp2p protocols (`handle`),
 * whose streams reach them only from verified peers; they open streams with `dialProtocol`, to
 * verified peers only. Extra libp2p services (gossipsub, say) are configuration
 * (`init.libp2pServices`). The libp2p node itself stays private.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MessageType } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { GatemeshError, isGatemeshError } from '../core/index.ts'
import { openDatastore } from './datastore.ts'
import { gateStreamHandler } from './gate/index.ts'
import { CORE_SERVICES, createOverlayLibp2p } from './libp2p.ts'
import { NamespaceRegistry, builtinNamespaces, createHeldRecords, createValidators, keyBytes, recordingDatastore } from './records/index.ts'
import { Republisher } from './republish.ts'
import { CrlSync, RevocationState } from './revocation/index.ts'
import { findPeersByRole } from './roles.ts'
import { ROLES } from './types.ts'
import type { CoreServices, Libp2pServiceFactory } from './libp2p.ts'
import type { HeldRecordStore, NamespaceDefinition } from './records/index.ts'
import type { DhtOperation, OverlayComponents, Role, VerifiedPeer, VerifiedRevocationList } from './types.ts'
import type { QueryEvent } from '@libp2p/kad-dht'
import type { AbortOptions, Libp2p, PeerId, Stream, StreamHandlerOptions } from '@libp2p/interface'
import type { LevelDatastore } from 'datastore-level'

export interface OverlayInit {
  /** The gateway's data directory; the datastore lives in `<dataDir>/datastore`. */
  dataDir: string
  /** Our certificate (DER) from the gatemesh CA. */
  certificate: Uint8Array
  /** The services this peer runs, advertised to every peer it verifies. [OVL-31] Default none. */
  services?: Role[]
  /** Register the built-in namespaces (accounts, sensors, latest, access, CRL); default true. */
  builtinNamespaces?: boolean
  /**
   * Extra libp2p services by name, as in libp2p's `services` map (for example
   * `{ pubsub: gossipsub() }`); each sees components guarded by the certificate gate. [OVL-33]
   */
  libp2pServices?: Record<string, Libp2pServiceFactory>
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  /** Prefix of every gatemesh protocol id; default `/gatemesh`. */
  protocolPrefix?: string
  kBucketSize?: number
  crlInterval?: number
  republishInterval?: number
  querySelfInterval?: number
  exchangeTimeout?: number
  maxRecordBytes?: number
  maxConnections?: number
}

export interface LookupResult {
  value: Uint8Array
  /** Distinct peers the lookup sent a query to. */
  contacted: number
}

export interface PutResult {
  /** Peers that stored the record. */
  accepted: number
  contacted: number
}

/** Handles a stream of a service's protocol, opened by `peer` (verified). [OVL-32] */
export type ServiceStreamHandler = (stream: Stream, peer: VerifiedPeer) => void | Promise<void>

export interface OverlayEvents {
  'peer:verified': CustomEvent<VerifiedPeer>
  'peer:rejected': CustomEvent<{ peerId: string, code: string }>
  /** [OVL-37] A record (its key, e.g. `/gm-sensor/s1`) was stored here: put by a peer, or by us. */
  'record:held': CustomEvent<string>
}

export class OverlayNode extends TypedEventEmitter<OverlayEvents> {
  readonly revocations: RevocationState
  private readonly components: OverlayComponents
  private readonly init: OverlayInit
  private readonly prefix: string
  private readonly self: PeerId
  private readonly datastore: LevelDatastore
  private readonly held: HeldRecordStore
  private readonly namespaces = new NamespaceRegistry()
  private readonly protocols = new Map<string, { handler: ServiceStreamHandler, options?: StreamHandlerOptions }>()
  private readonly crlSync: CrlSync
  private readonly republisher: Republisher
  /** [OVL-9] verified peers that speak our DHT protocol, from libp2p's public topology events. */
  private readonly dhtPeerIds = new Set<string>()
  private libp2p: Libp2p<CoreServices> | undefined
  private certificate: Uint8Array
  private selfPeer: VerifiedPeer | undefined
  private joinTimer: ReturnType<typeof setTimeout> | undefined
  /** [OVL-9] Per join address: the peer behind it, dials since it was last joined for good, the last dial. */
  private readonly joins = new Map<string, JoinState>()
  private knownPeers: string[] = []
  private running = false

  constructor (datastore: LevelDatastore, components: OverlayComponents, init: OverlayInit) {
    super()
    this.datastore = datastore
    this.components = components
    this.init = init
    this.prefix = init.protocolPrefix ?? '/gatemesh'
    this.self = peerIdFromPrivateKey(components.privateKey)
    this.certificate = init.certificate
    this.revocations = new RevocationState()
    this.held = createHeldRecords(datastore)
    if (init.builtinNamespaces !== false) {
      const validators = createValidators({
        trust: components.trust,
        records: components.records,
        held: this.held,
        revocations: () => this.revocations.current()
      }, {
        maxRecordBytes: init.maxRecordBytes,
        onRevocationList: list => { this.revocations.offer(list) }
      })
      for (const definition of builtinNamespaces(validators)) this.namespaces.register(definition)
    }
    this.crlSync = new CrlSync({
      trust: components.trust,
      revocations: this.revocations,
      fetchRevocationList: components.fetchRevocationList,
      dhtGet: async key => await this.get(new TextDecoder().decode(key)).then(r => r.value, () => undefined),
      dhtPut: async (key, value) => { await this.put(new TextDecoder().decode(key), value) },
      localGet: async key => await this.held.get(key),
      recheck: async () => { await this.libp2p?.services.gate.recheck() }
    }, { interval: init.crlInterval })
    this.republisher = new Republisher({
      held: this.held,
      validate: async (key, value) => { await this.validate(key, value) },
      publish: async (key, value) => { await this.publish(key, value) }
    }, { interval: init.republishInterval })
  }

  get peerId (): string { return this.self.toString() }

  addresses (): string[] {
    return this.libp2p?.getMultiaddrs().map(ma => ma.toString()) ?? []
  }

  currentCertificate (): Uint8Array { return this.certificate }

  /** Uses a renewed certificate from now on (new connections present it). */
  async setCertificate (der: Uint8Array): Promise<void> {
    const cert = await this.components.trust.verifyCertificate(der, { peerId: this.peerId })
    this.selfPeer = { ...cert, services: this.advertised(cert.roles) }
    this.certificate = der
  }

  /**
   * Adds a DHT namespace: records under `/<prefix>/<id>` are stored and served by this peer when
   * `validate` accepts them, `select` picks among several. Only before `start()`. [OVL-34]
   */
  registerNamespace (definition: NamespaceDefinition): void {
    this.namespaces.register(definition)
  }

  /** The registered namespace prefixes. */
  namespacePrefixes (): string[] { return this.namespaces.prefixes() }

  /**
   * Handles a service protocol (under the overlay's protocol prefix). A stream reaches `handler`
   * only from a peer whose certificate has verified; from any other it is aborted. [OVL-32]
   */
  async handle (protocol: string, handler: ServiceStreamHandler, options?: StreamHandlerOptions): Promise<void> {
    if (typeof protocol !== 'string' || !protocol.startsWith(`${this.prefix}/`)) {
      throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `A service protocol lives under ${this.prefix}/.`)
    }
    if (this.protocols.has(protocol) || this.coreProtocols().includes(protocol)) {
      throw new GatemeshError('GM_ERR_OVERLAY_REGISTERED', `The protocol ${protocol} is already handled.`)
    }
    this.protocols.set(protocol, { handler, options })
    if (this.libp2p !== undefined) await this.register(this.libp2p, protocol)
  }

  async unhandle (protocol: string): Promise<void> {
    if (!this.protocols.delete(protocol)) return
    await this.libp2p?.unhandle(protocol)
  }

  /** Opens a stream of `protocol` to a peer, once its certificate has verified (connecting first if needed). [OVL-32] */
  async dialProtocol (peerId: string, protocol: string, options: AbortOptions = {}): Promise<Stream> {
    const libp2p = this.started()
    let peer: PeerId
    try {
      peer = peerIdFromString(peerId)
    } catch (err) {
      throw new GatemeshError('GM_ERR_PEER_NOT_VERIFIED', 'Not a peer id.', { cause: err })
    }
    await libp2p.services.gate.ensureVerified(peer, options)
    return await libp2p.dialProtocol(peer, protocol, options)
  }

  /** An extra libp2p service configured in `init.libp2pServices`. [OVL-33] */
  service<T = unknown> (name: string): T {
    const libp2p = this.started()
    if (this.init.libp2pServices?.[name] === undefined) throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `No libp2p service named ${name}.`)
    return libp2p.services[name] as T
  }

  async start (): Promise<void> {
    if (this.libp2p !== undefined) throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', 'The overlay node was started already.')
    this.knownPeers = await loadKnownPeers(this.init.dataDir)
    const cert = await this.components.trust.verifyCertificate(this.certificate, { peerId: this.peerId })
      .catch((err: unknown) => { throw new GatemeshError('GM_ERR_CERT_REJECTED', 'Our own certificate does not verify.', { cause: err }) })
    this.selfPeer = { ...cert, services: this.advertised(cert.roles) }
    await this.crlSync.restore()
    this.namespaces.close()
    const libp2p = await createOverlayLibp2p({
      privateKey: this.components.privateKey,
      listen: this.init.listen ?? ['/ip4/127.0.0.1/tcp/0'],
      announce: this.init.announce ?? [],
      protocolPrefix: this.prefix,
      maxConnections: this.init.maxConnections,
      kBucketSize: this.init.kBucketSize,
      querySelfInterval: this.init.querySelfInterval,
      gate: {
        trust: this.components.trust,
        revocations: this.revocations,
        certificate: () => this.certificate,
        services: () => this.selfPeer?.services ?? [],
        exchangeTimeout: this.init.exchangeTimeout
      },
      validators: this.namespaces.validators(),
      selectors: this.namespaces.selectors(),
      datastore: recordingDatastore(this.datastore, this.held, key => this.isRegisteredKey(key), key => {
        this.safeDispatchEvent('record:held', { detail: new TextDecoder().decode(key) })
      }),
      extraServices: this.init.libp2pServices ?? {}
    })
    this.libp2p = libp2p
    for (const protocol of this.protocols.keys()) await this.register(libp2p, protocol)
    const gate = libp2p.services.gate
    gate.addEventListener('peer:verified', evt => { this.safeDispatchEvent('peer:verified', { detail: evt.detail }) })
    // [OVL-24] a revoked or refused peer leaves our table of DHT peers and the peer store at once.
    gate.addEventListener('peer:rejected', evt => {
      this.dhtPeerIds.delete(evt.detail.peerId)
      void libp2p.peerStore.delete(peerIdFromString(evt.detail.peerId)).catch(() => {})
      this.safeDispatchEvent('peer:rejected', { detail: evt.detail })
    })
    this.revocations.addEventListener('update', () => { void gate.recheck() })
    // identify runs only once a peer has verified [OVL-5], so a peer the topology reports as
    // speaking the DHT protocol is a verified one
    await libp2p.register(`${this.prefix}/kad/1.0.0`, {
      onConnect: peerId => {
        if (gate.certificateOf(peerId) === undefined) return
        const alone = this.dhtPeerIds.size === 0
        this.dhtPeerIds.add(peerId.toString())
        if (alone) this.onJoined()
      },
      onDisconnect: peerId => { this.dhtPeerIds.delete(peerId.toString()) }
    })
    await libp2p.start()
    this.running = true
    await this.crlSync.start()
    await this.republisher.start()
    this.maintainJoin()
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.joinTimer)
    const libp2p = this.libp2p
    if (libp2p !== undefined) await saveKnownPeers(this.init.dataDir, libp2p).catch(() => {})
    await this.republisher.stop()
    await this.crlSync.stop()
    await libp2p?.stop()
    await this.datastore.close()
  }

  /** Validates a record exactly as a remote peer would (including the held-record check). */
  async validate (key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.namespaces.validate(key, value)
  }

  /**
   * Validates locally, then stores the record here and at the peers closest to the key. [OVL-12]
   * Throws GM_ERR_DHT_PUT_FAILED when peers are known but none accepted it (the local copy stays
   * and is republished); a peer alone in the overlay keeps the record locally.
   */
  async put (key: string, value: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PutResult> {
    return await this.observed('put', undefined, async () => await this.putRecord(key, value, options))
  }

  /** Runs a DHT operation and tells `observeOperation` its outcome and duration. */
  private async observed<T> (op: DhtOperation, role: Role | undefined, run: () => Promise<T>): Promise<T> {
    const observe = this.components.observeOperation
    if (observe === undefined) return await run()
    const start = performance.now()
    try {
      const result = await run()
      observe(op, 'ok', (performance.now() - start) / 1000, role)
      return result
    } catch (err) {
      observe(op, isGatemeshError(err, 'GM_ERR_RECORD_NOT_FOUND') ? 'not_found' : 'error', (performance.now() - start) / 1000, role)
      throw err
    }
  }

  private async putRecord (key: string, value: Uint8Array, options: { signal?: AbortSignal }): Promise<PutResult> {
    this.started()
    const bytes = keyBytes(key)
    await this.validate(bytes, value)
    const result = await this.publish(bytes, value, options)
    if (result.accepted === 0 && this.dhtPeerIds.size > 0) throw new GatemeshError('GM_ERR_DHT_PUT_FAILED')
    return result
  }

  /** Reads the newest valid record for a key: our copy only when `local`, else a DHT lookup. */
  async get (key: string, options: { local?: boolean, signal?: AbortSignal } = {}): Promise<LookupResult> {
    return await this.observed(options.local === true ? 'get_local' : 'get', undefined, async () => await this.getRecord(key, options))
  }

  private async getRecord (key: string, options: { local?: boolean, signal?: AbortSignal }): Promise<LookupResult> {
    const libp2p = this.started()
    const bytes = keyBytes(key)
    this.namespaces.parse(bytes)
    if (options.local === true) {
      const value = await this.held.get(bytes)
      if (value === undefined) throw new GatemeshError('GM_ERR_RECORD_NOT_FOUND')
      await this.validate(bytes, value)
      return { value, contacted: 0 }
    }
    const contacted = new Set<string>()
    let value: Uint8Array | undefined
    let answered = 0
    for await (const event of libp2p.services.dht.get(bytes, { signal: options.signal })) {
      countContact(event, contacted)
      if (event.name === 'VALUE') value = event.value
      else if (event.name === 'PEER_RESPONSE') answered++
    }
    if (value === undefined) throw notFound(answered, this.dhtPeerIds.size)
    return { value, contacted: contacted.size }
  }

  /** The verified peers running the service `role` nearest `key` (ourselves included when we run it). [OVL-30] [OVL-31] */
  async findPeersByRole (role: Role, key: string, count = 3): Promise<VerifiedPeer[]> {
    return await this.observed('find_peers', role, async () => await this.findByRole(role, key, count))
  }

  private async findByRole (role: Role, key: string, count: number): Promise<VerifiedPeer[]> {
    const libp2p = this.started()
    const dht = libp2p.services.dht
    const gate = libp2p.services.gate
    return await findPeersByRole({
      closestPeers: async function * (k) {
        for await (const event of dht.getClosestPeers(k)) if (event.name === 'FINAL_PEER') yield event.peer.id
      },
      certificateOf: async peerId => await gate.ensureVerified(peerId, { signal: AbortSignal.timeout(10_000) }),
      verifiedPeers: () => gate.verifiedPeers(),
      self: () => this.selfPeer
    }, role, keyBytes(key), count)
  }

  /** Verified peers we are connected to that speak our DHT protocol (the overlay's own table, not kad-dht's k-buckets). */
  dhtPeers (): string[] {
    return [...this.dhtPeerIds]
  }

  /**
   * [OVL-37] Whether this node is among the k closest peers to every key as far as it can tell:
   * it has fewer than k DHT peers, so a put anywhere reaches it too (a network of at most k).
   */
  amongClosestToEveryKey (): boolean {
    return this.dhtPeerIds.size < (this.init.kBucketSize ?? K_BUCKET_SIZE)
  }

  /**
   * How many addresses this node dials to join ([OVL-9]): its bootstrap addresses and the peers it
   * saved at its last stop ([OVL-25]). 0: nothing to join through, the first gateway of its network.
   */
  joinAddresses (): number {
    return new Set([...(this.init.bootstrap ?? []), ...this.knownPeers]).size
  }

  verifiedPeers (): VerifiedPeer[] {
    return this.libp2p?.services.gate.verifiedPeers() ?? []
  }

  /** The services this peer advertises (those it runs that its certificate grants). */
  services (): Role[] {
    return this.selfPeer?.services ?? []
  }

  currentRevocationList (): VerifiedRevocationList | undefined {
    return this.revocations.current()
  }

  /** Runs one CRL round now (CA, then DHT). */
  async syncRevocations (): Promise<void> {
    await this.crlSync.sync()
  }

  async republishAll (): Promise<number> {
    return await this.republisher.republishAll()
  }

  private advertised (granted: Role[]): Role[] {
    const wanted = new Set(this.init.services ?? [])
    return ROLES.filter(role => wanted.has(role) && granted.includes(role))
  }

  private isRegisteredKey (key: Uint8Array): boolean {
    try {
      this.namespaces.parse(key)
      return true
    } catch {
      return false
    }
  }

  private coreProtocols (): string[] {
    return [`${this.prefix}/kad/1.0.0`, `${this.prefix}/cert/1.0.0`, `${this.prefix}/id/1.0.0`, `${this.prefix}/ping/1.0.0`]
  }

  private async register (libp2p: Libp2p<CoreServices>, protocol: string): Promise<void> {
    const entry = this.protocols.get(protocol)
    if (entry === undefined) return
    await libp2p.handle(protocol, gateStreamHandler(libp2p.services.gate, async (stream, _connection, peer) => { await entry.handler(stream, peer) }), entry.options)
  }

  private async publish (key: Uint8Array, value: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PutResult> {
    const libp2p = this.started()
    const contacted = new Set<string>()
    let accepted = 0
    for await (const event of libp2p.services.dht.put(key, value, { signal: options.signal }) as AsyncIterable<QueryEvent>) {
      countContact(event, contacted)
      if (event.name === 'PEER_RESPONSE' && event.messageType === MessageType.PUT_VALUE) accepted++
    }
    return { accepted, contacted: contacted.size }
  }

  /** [OVL-9] On joining, and on rejoining after it lost every DHT peer: look ourselves up to fill the routing tables. */
  private onJoined (): void {
    const libp2p = this.libp2p
    if (!this.running || libp2p === undefined) return
    void libp2p.services.dht.refreshRoutingTable().catch(() => {})
    void (async () => {
      for await (const _ of libp2p.services.dht.getClosestPeers(this.self.toMultihash().bytes)) { /* drain */ }
    })().catch(() => {})
  }

  /**
   * [OVL-9] [OVL-25] For as long as it runs, a node dials each of its join addresses (bootstrap
   * addresses and saved peers) whose peer is not verified on a connection, with back-off per
   * address: at once, then 500 ms doubling, at most 5 s while it has no verified DHT peer, at
   * most 5 min once it has one; a peer that stayed verified 1 min starts the back-off afresh.
   * So a node that lost its peers (an exchange timed out, a peer dropped it or restarted) joins
   * again by itself, and a peer that keeps dropping it is not dialled in a tight loop.
   */
  private maintainJoin (): void {
    const libp2p = this.libp2p
    if (!this.running || libp2p === undefined) return
    const gate = libp2p.services.gate
    const alone = this.dhtPeerIds.size === 0 && gate.verifiedPeers().length === 0
    const now = Date.now()
    for (const addr of new Set([...(this.init.bootstrap ?? []), ...this.knownPeers])) {
      let state = this.joins.get(addr)
      if (state === undefined) this.joins.set(addr, state = { peerId: peerIdOf(addr), dials: 0, lastDial: 0, joinedSince: undefined, dialing: false })
      if (state.peerId === this.peerId || state.dialing) continue
      const joined = state.peerId === undefined ? !alone : gate.certificateOf(state.peerId) !== undefined
      if (joined) {
        state.joinedSince ??= now
        if (now - state.joinedSince >= JOIN_STABLE_MS) state.dials = 0
        continue
      }
      state.joinedSince = undefined
      if (now < state.lastDial + joinBackoff(state.dials, alone)) continue
      state.dialing = true
      state.lastDial = now
      void this.dialJoin(libp2p, addr, state)
    }
    this.joinTimer = setTimeout(() => { this.maintainJoin() }, JOIN_TICK_MS)
    this.joinTimer.unref?.()
  }

  private async dialJoin (libp2p: Libp2p<CoreServices>, addr: string, state: JoinState): Promise<void> {
    try {
      const connection = await libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
      state.peerId = connection.remotePeer.toString()
      await libp2p.services.gate.waitVerified(connection.remotePeer)
    } catch {
      // unreachable, or denied for now: the back-off grows
    } finally {
      // every dial counts until the peer has stayed verified JOIN_STABLE_MS
      state.dialing = false
      state.dials++
      state.lastDial = Date.now()
    }
  }

  private started (): Libp2p<CoreServices> {
    if (!this.running || this.libp2p === undefined) throw new GatemeshError('GM_ERR_OVERLAY_NOT_STARTED')
    return this.libp2p
  }
}

interface JoinState {
  /** The peer behind the address: from its /p2p/ part, else learnt from the first dial. */
  peerId: string | undefined
  /** Dials since the peer last stayed verified JOIN_STABLE_MS. */
  dials: number
  lastDial: number
  /** Since when the peer has been verified, while it is. */
  joinedSince: number | undefined
  dialing: boolean
}

/** [OVL-9] How often the node checks its join addresses. */
const JOIN_TICK_MS = 250
/** kad-dht's k (its default `kBucketSize`): a put goes to the k peers closest to its key. */
const K_BUCKET_SIZE = 20
/** [OVL-9] A join peer verified this long is joined for good: its back-off starts afresh. */
const JOIN_STABLE_MS = 60_000

/** [OVL-9] The wait after the `dials`-th dial of a join address. */
function joinBackoff (dials: number, alone: boolean): number {
  if (dials === 0) return 0
  return Math.min(alone ? 5000 : 300_000, 250 * 2 ** dials)
}

function peerIdOf (addr: string): string | undefined {
  try {
    return multiaddr(addr).getComponents().findLast(c => c.name === 'p2p')?.value
  } catch {
    return undefined
  }
}

/**
 * [OVL-25] The peers this gateway was connected to when it stopped, dialled again (with the
 * bootstrap addresses) when it restarts, so a restarted gateway rejoins without --bootstrap.
 */
const KNOWN_PEERS_FILE = 'peers.json'

async function loadKnownPeers (dataDir: string): Promise<string[]> {
  try {
    const value: unknown = JSON.parse(await readFile(join(dataDir, KNOWN_PEERS_FILE), 'utf8'))
    if (!Array.isArray(value)) return []
    return value.filter((a): a is string => typeof a === 'string').filter(a => {
      try { multiaddr(a); return true } catch { return false }
    }).slice(0, 64)
  } catch {
    return []
  }
}

async function saveKnownPeers (dataDir: string, libp2p: Libp2p<CoreServices>): Promise<void> {
  const addrs: string[] = []
  for (const cert of libp2p.services.gate.verifiedPeers().slice(0, 32)) {
    const peer = await libp2p.peerStore.get(peerIdFromString(cert.peerId)).catch(() => undefined)
    for (const { multiaddr: ma } of peer?.addresses ?? []) {
      const text = ma.toString()
      addrs.push(text.includes('/p2p/') ? text : `${text}/p2p/${cert.peerId}`)
    }
  }
  await writeFile(join(dataDir, KNOWN_PEERS_FILE), JSON.stringify(addrs.slice(0, 64)) + '\n', { mode: 0o644 })
}

/**
 * [OVL-36] A get that found no value: "no record" only when a peer answered the query (or the node
 * has no DHT peer to ask); when every peer it asked failed or timed out, nobody said so, and the
 * look-up failed (`GM_ERR_DHT_GET_FAILED`, try again) instead.
 */
export function notFound (answered: number, dhtPeers: number): GatemeshError {
  return answered === 0 && dhtPeers > 0 ? new GatemeshError('GM_ERR_DHT_GET_FAILED') : new GatemeshError('GM_ERR_RECORD_NOT_FOUND')
}

function countContact (event: QueryEvent, contacted: Set<string>): void {
  if (event.name === 'SEND_QUERY') contacted.add(event.to.toString())
}

/** Builds (but does not start) an overlay node: register namespaces and protocols, then `start()`. */
export async function createOverlayNode (components: OverlayComponents, init: OverlayInit): Promise<OverlayNode> {
  if (typeof init.dataDir !== 'string' || init.dataDir === '') throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', 'dataDir is required.')
  for (const addr of [...(init.listen ?? []), ...(init.bootstrap ?? []), ...(init.announce ?? [])]) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `Not a multiaddr: ${addr}`, { cause: err })
    }
  }
  for (const role of init.services ?? []) {
    if (!(ROLES as readonly string[]).includes(role)) throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `Not a role: ${String(role)}`)
  }
  for (const name of Object.keys(init.libp2pServices ?? {})) {
    if ((CORE_SERVICES as readonly string[]).includes(name)) throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `The libp2p service name ${name} is the overlay's own.`)
  }
  const datastore = await openDatastore(init.dataDir)
  return new OverlayNode(datastore, components, init)
}
