/**
 * Finding peers by role. [OVL-30] Roles come only from verified certificates. To find the peers
 * of a role nearest a key, a peer runs a Kademlia lookup for the key (which connects to, and so
 * verifies, the closest peers), keeps those that run the role's service, and tops up from every
 * other verified peer running it, nearest (XOR of SHA-256 ids) first. [OVL-31] A peer runs a
 * service when its hello advertises it and its certificate grants it: a role granted but not run
 * (persistence and stream, which no service of this build implements) finds no one.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { sha256 } from 'multiformats/hashes/sha2'
import { GatemeshError } from '../core/index.ts'
import { ROLES } from './types.ts'
import type { Role, VerifiedPeer } from './types.ts'
import type { PeerId } from '@libp2p/interface'

export function assertRole (role: string): asserts role is Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new GatemeshError('GM_ERR_ROLE_UNKNOWN')
}

export async function kadId (bytes: Uint8Array): Promise<Uint8Array> {
  return (await sha256.digest(bytes)).digest
}

function xorCompare (a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const d = (((a[i] ?? 0) ^ (target[i] ?? 0)) - ((b[i] ?? 0) ^ (target[i] ?? 0)))
    if (d !== 0) return d
  }
  return 0
}

export interface RoleFinderComponents {
  /** Peer ids a Kademlia lookup for `key` returns, closest first. */
  closestPeers: (key: Uint8Array) => AsyncIterable<PeerId>
  /** Resolves with a peer's verified certificate, connecting if needed; undefined if it has none. */
  certificateOf: (peerId: PeerId) => Promise<VerifiedPeer | undefined>
  verifiedPeers: () => VerifiedPeer[]
  self: () => VerifiedPeer | undefined
}

/** [OVL-31] Whether a verified peer runs the service of `role` (advertised and granted). */
export function runs (peer: VerifiedPeer | undefined, role: Role): peer is VerifiedPeer {
  return peer !== undefined && peer.services.includes(role) && peer.roles.includes(role)
}

export async function findPeersByRole (components: RoleFinderComponents, role: Role, key: Uint8Array, count: number): Promise<VerifiedPeer[]> {
  assertRole(role)
  const found = new Map<string, VerifiedPeer>()
  const self = components.self()
  if (runs(self, role)) found.set(self.peerId, self)
  for await (const peerId of components.closestPeers(key)) {
    const cert = await components.certificateOf(peerId).catch(() => undefined)
    if (runs(cert, role)) found.set(cert.peerId, cert)
  }
  for (const cert of components.verifiedPeers()) {
    if (runs(cert, role)) found.set(cert.peerId, cert)
  }
  const target = await kadId(key)
  const withIds = await Promise.all([...found.values()].map(async cert => ({ cert, id: await kadId(peerIdFromString(cert.peerId).toMultihash().bytes) })))
  withIds.sort((a, b) => xorCompare(a.id, b.id, target))
  return withIds.slice(0, count).map(({ cert }) => cert)
}
