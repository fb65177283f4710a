/**
 * gatemesh overlay: a private, certified Kademlia overlay of gateways. Protocol clauses [OVL-n]
 * are in docs/PROTOCOL.md.
 */
export { createOverlayNode, OverlayNode } from './node.ts'
export type { OverlayInit, LookupResult, PutResult } from './node.ts'
export type { OverlayComponents, CertificateTrust, RecordVerifier, OpenedRecord, VerifiedCertificate, VerifiedRevocationList, Role } from './types.ts'
export { ROLES } from './types.ts'
export { OVERLAY_ERRORS } from './errors.ts'
export type { OverlayErrorCode } from './errors.ts'
export { NAMESPACES, RECORD_TYPES, CRL_KEY, parseKey, recordKey } from './records/index.ts'
export { CERT_PROTOCOL } from './gate/index.ts'
export { encodeCrlValue } from './revocation/index.ts'
export { assertRole } from './roles.ts'
