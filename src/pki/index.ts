/**
 * gatemesh PKI: the certificate profile, verification of gateway certificates and CRLs, and the
 * enrollment client. Used by the CA (src/ca) and by gateways (src/overlay, src/cli/gateway.ts).
 *
 * Status: every function below is implemented and tested: verifyGatewayCertificate,
 * verifyRevocationList, enroll, renew, fetchRevocationList (plus the issuing helpers the CA uses).
 * Profile and wire formats: docs/PROTOCOL.md.
 */
export type { Role } from './profile.ts'
export {
  ROLES, isRole, canonicalRoles, GATEMESH_OID_ARC, ROLES_EXTENSION_OID, REQUEST_TIME_EXTENSION_OID,
  DEFAULT_CERTIFICATE_VALIDITY_MS, REQUEST_TIME_WINDOW_MS, MAX_DER_BYTES, createRequestTimeExtension, createRolesExtension
} from './profile.ts'
/** @peculiar/x509, loaded after reflect-metadata: import it from here, never directly. */
export { x509, ED25519 } from './x509.ts'
export type { GatewayCertificate, RevocationList, VerifyGatewayCertificateInit } from './verify.ts'
export { verifyGatewayCertificate, verifyRevocationList, loadCaCertificate, normalizeSerial } from './verify.ts'
export type { EnrollInit, RenewInit } from './client.ts'
export { enroll, renew, fetchRevocationList } from './client.ts'
export type { CertificateRequestInfo } from './request.ts'
export { createCertificateRequest, verifyCertificateRequest } from './request.ts'
export type { CaKeys, CreateCaInit, IssueInit, RevocationEntry, CreateRevocationListInit } from './issue.ts'
export { createCertificateAuthority, importCaPrivateKey, issueGatewayCertificate, createRevocationList, randomSerial } from './issue.ts'
export { peerIdToRawPublicKey, rawPublicKeyToPeerId, libp2pKeyToCryptoKeyPair } from './keys.ts'
export { PKI_ERRORS } from './errors.ts'
export type { PkiErrorCode } from './errors.ts'
