/**
 * The overlay's libp2p node: TCP, Noise, Yamux; identify and ping on the gatemesh prefix; the
 * certificate gate; kad-dht in server mode on `/gatemesh/kad/1.0.0` [OVL-9]; and the extra libp2p
 * services the overlay was configured with [OVL-33]. kad-dht and every extra service see
 * components guarded by the gate. Private to the overlay: nothing outside src/overlay holds it.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { MemoryDatastore } from 'datastore-core'
import { createLibp2p } from 'libp2p'
import { keepDialableAddresses } from './address-mapper.ts'
import { certificateGate, guardComponents } from './gate/index.ts'
import type { CertificateGate, CertificateGateInit, GuardableComponents } from './gate/index.ts'
import type { Identify } from '@libp2p/identify'
import type { KadDHT, KadDHTComponents, Selectors, Validators } from '@libp2p/kad-dht'
import type { Libp2p, PeerInfo, PrivateKey } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'

/** A libp2p service factory, as in libp2p's `services` map (for example `gossipsub()`). */
export type Libp2pServiceFactory = (components: GuardableComponents & Record<string, unknown>) => unknown

/** The services every overlay node runs; an extra service may not take these names. */
export const CORE_SERVICES = ['identify', 'ping', 'gate', 'dht'] as const

export type CoreServices = { identify: Identify, ping: unknown, gate: CertificateGate, dht: KadDHT } & Record<string, unknown>

export interface Libp2pParts {
  privateKey: PrivateKey
  listen: string[]
  announce: string[]
  protocolPrefix: string
  maxConnections?: number
  kBucketSize?: number
  querySelfInterval?: number
  /** The gate's init, but for identify, which this module wires. */
  gate: Omit<CertificateGateInit, 'identify'>
  validators: Validators
  selectors: Selectors
  /** kad-dht's datastore (the records); libp2p's own (the peer store) stays in memory. */
  datastore: Datastore
  extraServices: Record<string, Libp2pServiceFactory>
}

/** [OVL-9] DHT streams one connection carries at once, each way. */
const DHT_STREAMS_PER_CONNECTION = 256

export async function createOverlayLibp2p (parts: Libp2pParts): Promise<Libp2p<CoreServices>> {
  const prefix = parts.protocolPrefix.replace(/^\//, '')
  let gate: CertificateGate | undefined
  const late: { identify?: Identify } = {}
  const gated = (): CertificateGate => gate as CertificateGate
  // [OVL-24] a refused peer is never handed to another peer in a DHT answer
  const peerInfoMapper = (peer: PeerInfo): PeerInfo => gate?.isDenied(peer.id) === true ? { ...peer, multiaddrs: [] } : keepDialableAddresses(peer)
  const extra = Object.fromEntries(Object.entries(parts.extraServices).map(([name, factory]) => [
    name,
    (c: GuardableComponents & Record<string, unknown>) => factory(guardComponents(c, gated))
  ]))
  const libp2p = await createLibp2p({
    start: false,
    privateKey: parts.privateKey,
    // the peer store lives in memory (a LevelDB peer store cost ~5 % CPU per idle gateway at 25
    // peers); only the DHT's records go to disk, through the datastore kad-dht is given below
    datastore: new MemoryDatastore(),
    addresses: { listen: parts.listen, announce: parts.announce },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: peerId => gate?.isDenied(peerId) ?? false,
      denyInboundEncryptedConnection: peerId => gate?.isDenied(peerId) ?? false,
      denyOutboundEncryptedConnection: peerId => gate?.isDenied(peerId) ?? false
    },
    // keep-alive pings on our own protocol prefix, less often than the default 10 s
    connectionMonitor: { protocolPrefix: prefix, pingInterval: 30_000 },
    // many peers share 127.0.0.1 in tests and on one LAN host
    connectionManager: {
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: 512,
      maxConnections: parts.maxConnections ?? 300
    },
    services: {
      ...extra,
      // [OVL-5] identify is run by the gate, after the certificate has verified
      identify: identify({ protocolPrefix: prefix, runOnConnectionOpen: false }),
      ping: ping({ protocolPrefix: prefix }),
      gate: (c: Parameters<ReturnType<typeof certificateGate>>[0]): CertificateGate => {
        gate = certificateGate({ ...parts.gate, identify: async connection => await late.identify?.identify(connection) })(c)
        return gate
      },
      dht: (c: KadDHTComponents & { gate: CertificateGate }) => kadDHT({
        protocol: `${parts.protocolPrefix}/kad/1.0.0`,
        clientMode: false,
        peerInfoMapper,
        validators: parts.validators,
        selectors: parts.selectors,
        kBucketSize: parts.kBucketSize,
        querySelfInterval: parts.querySelfInterval ?? 60_000,
        allowQueryWithZeroPeers: true,
        // [OVL-9] a DHT request is a stream of its own, and a busy gateway's puts and gets go to
        // the same few near peers: kad-dht's default 32 inbound (64 outbound) streams per
        // connection refused a burst of 64 puts from one gateway (a put failed)
        maxInboundStreams: DHT_STREAMS_PER_CONNECTION,
        maxOutboundStreams: DHT_STREAMS_PER_CONNECTION,
        logPrefix: 'gatemesh:kad'
      })(guardComponents(c, () => c.gate, parts.datastore))
    }
  })
  late.identify = (libp2p.services as unknown as CoreServices).identify
  return libp2p as unknown as Libp2p<CoreServices>
}
