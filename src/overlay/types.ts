/**
 * The collaborators the overlay needs from the rest of gatemesh. The overlay never imports
 * src/pki or src/core's record code directly: the gateway's composition root passes them in, so
 * the overlay can be tested with fakes and the parts stay decoupled.
 */
import type { PrivateKey } from '@libp2p/interface'

export type Role = 'collector' | 'access' | 'persistence' | 'stream'
export const ROLES: readonly Role[] = ['collector', 'access', 'persistence', 'stream']

/** A certificate that verified: what the overlay keeps about a peer. */
export interface VerifiedCertificate {
  der: Uint8Array
  peerId: string
  roles: Role[]
  serial: string
  notBefore: Date
  notAfter: Date
}

/**
 * A peer whose certificate verified, with the services it runs: those its hello advertised that
 * its certificate also grants. [OVL-31] A peer is found by role only for these.
 */
export interface VerifiedPeer extends VerifiedCertificate {
  services: Role[]
}

export interface VerifiedRevocationList {
  der: Uint8Array
  number: number
  thisUpdate: Date
  nextUpdate: Date
  serials: ReadonlySet<string>
}

/** Certificate checks, already bound to the gatemesh CA certificate. */
export interface CertificateTrust {
  /** Throws (a GatemeshError) unless `der` is a valid, unrevoked CA certificate for `peerId`. */
  verifyCertificate (der: Uint8Array, init: { peerId: string, revocations?: VerifiedRevocationList, now?: Date }): Promise<VerifiedCertificate>
  /** Throws unless `der` is a CRL signed by the gatemesh CA. */
  verifyRevocationList (der: Uint8Array): Promise<VerifiedRevocationList>
}

/** A signed record as src/core opens it. */
export interface OpenedRecord {
  v: number
  type: string
  key: string
  seq: number
  exp?: number
  body: Record<string, unknown>
  signer: Uint8Array
  sig: Uint8Array
}

/** Signed-record checks from src/core. */
export interface RecordVerifier {
  /** Verifies canonical form, signature and expiry; throws a GatemeshError otherwise. */
  openRecord (bytes: Uint8Array, init: { type?: string, now?: number, maxBytes?: number }): Promise<OpenedRecord>
  derivePseudonym (sigPub: Uint8Array, encPub: Uint8Array): Promise<string>
  /**
   * The full content rules of a record type beyond who signs it ([ACC-4] for accounts, [SEN-3]
   * for sensors); throws a GatemeshError when they fail. Optional: without it only the signer
   * rules of [OVL-11] apply.
   */
  verifyContent? (type: string, bytes: Uint8Array): Promise<void>
}

/** The DHT operations the overlay reports to `observeOperation` (a get of our own copy is `get_local`). */
export type DhtOperation = 'get' | 'get_local' | 'put' | 'find_peers'
export type DhtOutcome = 'ok' | 'not_found' | 'error'

export interface OverlayComponents {
  /** The gateway's libp2p Ed25519 key: its peer id, and the key its certificate names. */
  privateKey: PrivateKey
  trust: CertificateTrust
  records: RecordVerifier
  /** Fetches the current CRL (DER) from the CA; absent when the CA is not reachable by URL. */
  fetchRevocationList?: () => Promise<Uint8Array>
  /** Told about every get, put and find-peers-by-role once it settles (the gateway's metrics). */
  observeOperation?: (op: DhtOperation, outcome: DhtOutcome, seconds: number, role?: Role) => void
}
