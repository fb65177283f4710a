/**
 * The overlay node: js-libp2p (TCP, Noise, Yamux) with kad-dht in server mode on the private
 * protocol `/gatemesh/kad/1.0.0` [OVL-9], guarded by the certificate gate, with a durable
 * datastore, CRL sync and republishing.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, MessageType } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { GatemeshError } from '../core/index.ts'
import { createLogger } from '../platform/logger.ts'
import { keepDialableAddresses } from './address-mapper.ts'
import { openDatastore } from './datastore.ts'
import { certificateGate, guardComponents } from './gate/index.ts'
import { createHeldRecords, createValidators, keyBytes, parseKey, selectors, DHT_DATASTORE_PREFIX } from './records/index.ts'
import { Republisher } from './republish.ts'
import { CrlSync, RevocationState } from './revocation/index.ts'
import { findPeersByRole } from './roles.ts'
import type { CertificateGate } from './gate/index.ts'
import type { OverlayComponents, Role, VerifiedCertificate, VerifiedRevocationList } from './types.ts'
import type { Identify } from '@libp2p/identify'
import type { KadDHT, KadDHTComponents, QueryEvent } from '@libp2p/kad-dht'
import type { Libp2p, PeerId } from '@libp2p/interface'
import type { LevelDatastore } from 'datastore-level'

export interface OverlayInit {
  /** The gateway's data directory; the datastore lives in `<dataDir>/datastore`. */
  dataDir: string
  /** Our certificate (DER) from the gatemesh CA. */
  certificate: Uint8Array
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

interface RoutingTableInternals {
  kb?: { toIterable: () => Iterable<{ peerId: PeerId }> }
  remove: (peer: PeerId) => Promise<void>
  addEventListener: (type: 'peer:add', listener: () => void) => void
}

type Services = { identify: Identify, ping: unknown, gate: CertificateGate, dht: KadDHT }

export class OverlayNode {
  readonly libp2p: Libp2p<Services>
  readonly revocations: RevocationState
  private readonly components: OverlayComponents
  private readonly init: OverlayInit
  private readonly datastore: LevelDatastore
  private readonly validators: ReturnType<typeof createValidators>
  private readonly crlSync: CrlSync
  private readonly republisher: Republisher
  private readonly log = createLogger('gatemesh:overlay')
  private certificate: Uint8Array
  private selfCertificate: VerifiedCertificate | undefined
  private bootstrapTimer: ReturnType<typeof setTimeout> | undefined
  private knownPeers: string[] = []
  private running = false

  constructor (libp2p: Libp2p<Services>, datastore: LevelDatastore, revocations: RevocationState, validators: ReturnType<typeof createValidators>, components: OverlayComponents, init: OverlayInit) {
    this.libp2p = libp2p
    this.datastore = datastore
    this.revocations = revocations
    this.validators = validators
    this.components = components
    this.init = init
    this.certificate = init.certificate
    const held = createHeldRecords(datastore, DHT_DATASTORE_PREFIX)
    this.crlSync = new CrlSync({
      trust: components.trust,
      revocations,
      fetchRevocationList: components.fetchRevocationList,
      dhtGet: async key => await this.get(new TextDecoder().decode(key)).then(r => r.value, () => undefined),
      dhtPut: async (key, value) => { await this.put(new TextDecoder().decode(key), value) },
      localGet: async key => await held.get(key),
      recheck: async () => { await this.libp2p.services.gate.recheck() }
    }, { interval: init.crlInterval })
    this.republisher = new Republisher({
      datastore,
      validate: async (key, value) => { await this.validate(key, value) },
      publish: async (key, value) => { await this.publish(key, value) }
    }, { interval: init.republishInterval })
  }

  get peerId (): string { return this.libp2p.peerId.toString() }

  addresses (): string[] {
    return this.libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  currentCertificate (): Uint8Array { return this.certificate }

  /** Uses a renewed certificate from now on (new connections present it). */
  async setCertificate (der: Uint8Array): Promise<void> {
    this.selfCertificate = await this.components.trust.verifyCertificate(der, { peerId: this.peerId })
    this.certificate = der
  }

  async start (): Promise<void> {
    this.knownPeers = await loadKnownPeers(this.init.dataDir)
    this.selfCertificate = await this.components.trust.verifyCertificate(this.certificate, { peerId: this.peerId })
      .catch((err: unknown) => { throw new GatemeshError('GM_ERR_CERT_REJECTED', 'Our own certificate does not verify.', { cause: err }) })
    await this.crlSync.restore()
    await this.libp2p.start()
    this.running = true
    const gate = this.libp2p.services.gate
    const routingTable = this.routingTableInternals()
    // [OVL-24] a revoked or refused peer leaves the routing table and the peer store at once.
    gate.addEventListener('peer:rejected', evt => {
      const peerId = this.libp2p.getPeers().find(p => p.toString() === evt.detail.peerId) ?? undefined
      void this.forget(evt.detail.peerId, peerId)
    })
    this.revocations.addEventListener('update', () => { void gate.recheck() })
    routingTable.addEventListener('peer:add', () => { this.onFirstPeer() })
    await this.crlSync.start()
    await this.republisher.start()
    this.bootstrap(0)
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.bootstrapTimer)
    await saveKnownPeers(this.init.dataDir, this.libp2p).catch(() => {})
    await this.republisher.stop()
    await this.crlSync.stop()
    await this.libp2p.stop()
    await this.datastore.close()
  }

  /** Validates a record exactly as a remote peer would (including the held-record check). */
  async validate (key: Uint8Array, value: Uint8Array): Promise<void> {
    const { namespace } = parseKey(key)
    const validator = this.validators[namespace]
    if (validator === undefined) throw new GatemeshError('GM_ERR_RECORD_KEY')
    await validator(key, value)
  }

  /**
   * Validates locally, then stores the record here and at the peers closest to the key. [OVL-12]
   * Throws GM_ERR_DHT_PUT_FAILED when peers are known but none accepted it (the local copy stays
   * and is republished); a peer alone in the overlay keeps the record locally.
   */
  async put (key: string, value: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PutResult> {
    this.assertRunning()
    const bytes = keyBytes(key)
    await this.validate(bytes, value)
    const result = await this.publish(bytes, value, options)
    if (result.accepted === 0 && this.routingTable().length > 0) throw new GatemeshError('GM_ERR_DHT_PUT_FAILED')
    return result
  }

  /** Reads the newest valid record for a key: our copy only when `local`, else a DHT lookup. */
  async get (key: string, options: { local?: boolean, signal?: AbortSignal } = {}): Promise<LookupResult> {
    this.assertRunning()
    const bytes = keyBytes(key)
    parseKey(bytes)
    if (options.local === true) {
      const value = await createHeldRecords(this.datastore).get(bytes)
      if (value === undefined) throw new GatemeshError('GM_ERR_RECORD_NOT_FOUND')
      await this.validate(bytes, value)
      return { value, contacted: 0 }
    }
    const contacted = new Set<string>()
    let value: Uint8Array | undefined
    for await (const event of this.libp2p.services.dht.get(bytes, { signal: options.signal })) {
      countContact(event, contacted)
      if (event.name === 'VALUE') value = event.value
    }
    if (value === undefined) throw new GatemeshError('GM_ERR_RECORD_NOT_FOUND')
    return { value, contacted: contacted.size }
  }

  /** The verified peers with `role` nearest `key` (ourselves included when we hold the role). */
  async findPeersByRole (role: Role, key: string, count = 3): Promise<VerifiedCertificate[]> {
    this.assertRunning()
    const dht = this.libp2p.services.dht
    const gate = this.libp2p.services.gate
    return await findPeersByRole({
      closestPeers: async function * (k) {
        for await (const event of dht.getClosestPeers(k)) if (event.name === 'FINAL_PEER') yield event.peer.id
      },
      certificateOf: async peerId => await gate.ensureVerified(peerId, { signal: AbortSignal.timeout(10_000) }),
      verifiedPeers: () => gate.verifiedPeers(),
      self: () => this.selfCertificate
    }, role, keyBytes(key), count)
  }

  /** Peer ids in our routing table. */
  routingTable (): string[] {
    const kb = this.routingTableInternals().kb
    return kb === undefined ? [] : [...kb.toIterable()].map(p => p.peerId.toString())
  }

  verifiedPeers (): VerifiedCertificate[] {
    return this.libp2p.services.gate.verifiedPeers()
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

  private async publish (key: Uint8Array, value: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<PutResult> {
    const contacted = new Set<string>()
    let accepted = 0
    for await (const event of this.libp2p.services.dht.put(key, value, { signal: options.signal }) as AsyncIterable<QueryEvent>) {
      countContact(event, contacted)
      if (event.name === 'PEER_RESPONSE' && event.messageType === MessageType.PUT_VALUE) accepted++
    }
    return { accepted, contacted: contacted.size }
  }

  private async forget (id: string, peerId: PeerId | undefined): Promise<void> {
    const target = peerId ?? peerIdFromString(id)
    await this.routingTableInternals().remove(target).catch(() => {})
    await this.libp2p.peerStore.delete(target).catch(() => {})
  }

  private routingTableInternals (): RoutingTableInternals {
    return (this.libp2p.services.dht as unknown as { routingTable: RoutingTableInternals }).routingTable
  }

  private firstPeerSeen = false
  private onFirstPeer (): void {
    if (this.firstPeerSeen) return
    this.firstPeerSeen = true
    // [OVL-9] look ourselves up as soon as we know one peer, to fill the routing table
    void this.libp2p.services.dht.refreshRoutingTable().catch(() => {})
    void (async () => {
      for await (const _ of this.libp2p.services.dht.getClosestPeers(this.libp2p.peerId.toMultihash().bytes)) { /* drain */ }
    })().catch(() => {})
  }

  /** Dials every bootstrap address until one peer is verified; retries with backoff. [OVL-9] */
  private bootstrap (attempt: number): void {
    const addresses = [...new Set([...(this.init.bootstrap ?? []), ...this.knownPeers])]
    if (addresses.length === 0 || !this.running) return
    this.bootstrapTimer = setTimeout(() => {
      void (async () => {
        await Promise.allSettled(addresses.map(async addr => {
          const connection = await this.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
          return await this.libp2p.services.gate.waitVerified(connection.remotePeer)
        }))
        if (this.libp2p.services.gate.verifiedPeers().length === 0) this.bootstrap(attempt + 1)
      })().catch(() => { this.bootstrap(attempt + 1) })
    }, attempt === 0 ? 0 : Math.min(5000, 250 * 2 ** attempt))
  }

  private assertRunning (): void {
    if (!this.running) throw new GatemeshError('GM_ERR_OVERLAY_NOT_STARTED')
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

async function saveKnownPeers (dataDir: string, libp2p: Libp2p<Services>): Promise<void> {
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

function countContact (event: QueryEvent, contacted: Set<string>): void {
  if (event.name === 'SEND_QUERY') contacted.add(event.to.toString())
}

/** Builds (but does not start) an overlay node. */
export async function createOverlayNode (components: OverlayComponents, init: OverlayInit): Promise<OverlayNode> {
  if (typeof init.dataDir !== 'string' || init.dataDir === '') throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', 'dataDir is required.')
  const listen = init.listen ?? ['/ip4/127.0.0.1/tcp/0']
  for (const addr of [...listen, ...(init.bootstrap ?? []), ...(init.announce ?? [])]) {
    try {
      multiaddr(addr)
    } catch (err) {
      throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `Not a multiaddr: ${addr}`, { cause: err })
    }
  }
  const prefix = init.protocolPrefix ?? '/gatemesh'
  const datastore = await openDatastore(init.dataDir)
  const revocations = new RevocationState()
  const validators = createValidators({
    trust: components.trust,
    records: components.records,
    held: createHeldRecords(datastore, DHT_DATASTORE_PREFIX),
    revocations: () => revocations.current()
  }, {
    maxRecordBytes: init.maxRecordBytes,
    onRevocationList: list => { revocations.offer(list) }
  })
  let gate: CertificateGate | undefined
  // set once libp2p exists; the services' closures read them later
  const late: { node?: OverlayNode, identify?: Identify } = {}
  const libp2p = await createLibp2p({
    start: false,
    privateKey: components.privateKey,
    // the peer store lives in memory (a LevelDB peer store cost ~5 % CPU per idle gateway at 25
    // peers); only the DHT's records go to disk, through the datastore kad-dht is given below
    datastore: new MemoryDatastore(),
    addresses: { listen, announce: init.announce ?? [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: peerId => gate?.isDenied(peerId) ?? false,
      denyInboundEncryptedConnection: peerId => gate?.isDenied(peerId) ?? false,
      denyOutboundEncryptedConnection: peerId => gate?.isDenied(peerId) ?? false
    },
    // keep-alive pings on our own protocol prefix, less often than the default 10 s
    connectionMonitor: { protocolPrefix: prefix.replace(/^\//, ''), pingInterval: 30_000 },
    // many peers share 127.0.0.1 in tests and on one LAN host
    connectionManager: {
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 512,
      maxConnections: init.maxConnections ?? 300
    },
    services: {
      // [OVL-5] identify is run by the gate, after the certificate has verified
      identify: identify({ protocolPrefix: prefix.replace(/^\//, ''), runOnConnectionOpen: false }),
      ping: ping({ protocolPrefix: prefix.replace(/^\//, '') }),
      gate: (c: Parameters<ReturnType<typeof certificateGate>>[0]): CertificateGate => {
        gate = certificateGate({
          trust: components.trust,
          revocations,
          certificate: () => late.node?.currentCertificate() ?? init.certificate,
          identify: async connection => await late.identify?.identify(connection),
          exchangeTimeout: init.exchangeTimeout
        })(c)
        return gate
      },
      dht: (c: KadDHTComponents & { gate: CertificateGate }) => kadDHT({
        protocol: `${prefix}/kad/1.0.0`,
        clientMode: false,
        peerInfoMapper: keepDialableAddresses,
        validators,
        selectors,
        kBucketSize: init.kBucketSize,
        querySelfInterval: init.querySelfInterval ?? 60_000,
        allowQueryWithZeroPeers: true,
        datastorePrefix: DHT_DATASTORE_PREFIX,
        logPrefix: 'gatemesh:kad'
      })(guardComponents(c, () => c.gate, datastore))
    }
  })
  late.identify = libp2p.services.identify
  late.node = new OverlayNode(libp2p as unknown as Libp2p<Services>, datastore, revocations, validators, components, init)
  return late.node
}
