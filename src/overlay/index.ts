/**
 * gatemesh overlay: a private, certified Kademlia overlay of gateways. Protocol clauses [OVL-n]
 * are in docs/PROTOCOL.md.
 */
export { createOverlayNode, OverlayNode } from './node.ts'
export type { OverlayInit, LookupResult, PutResult, ServiceStreamHandler, OverlayEvents } from './node.ts'
export type { Libp2pServiceFactory } from './libp2p.ts'
export type { DhtOperation, DhtOutcome, OverlayComponents, CertificateTrust, RecordVerifier, OpenedRecord, VerifiedCertificate, VerifiedPeer, VerifiedRevocationList, Role } from './types.ts'
export { ROLES } from './types.ts'
export { OVERLAY_ERRORS } from './errors.ts'
export type { OverlayErrorCode } from './errors.ts'
export { NAMESPACES, RECORD_TYPES, CRL_KEY, parseKey, recordKey, newestIndex } from './records/index.ts'
export type { NamespaceDefinition } from './records/index.ts'
export { CERT_PROTOCOL } from './gate/index.ts'
export { encodeCrlValue } from './revocation/index.ts'
export { assertRole } from './roles.ts'
