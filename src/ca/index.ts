/**
 * gatemesh certificate authority: its directory and state, its operations, and the enrollment
 * service. The command line is src/cli/ca.ts; the profile and wire formats are in docs/PROTOCOL.md.
 */
export { CA_ERRORS } from './errors.ts'
export type { CaErrorCode } from './errors.ts'
export { initCa, openCa, certificatePem, DEFAULT_SETTINGS, KEY_FILE, CERTIFICATE_FILE, DATABASE_FILE } from './directory.ts'
export type { CaSettings, InitCaInit, LoadedCa } from './directory.ts'
export { CertificateAuthority, hashToken } from './authority.ts'
export type { CertificateAuthorityInit, IssuedCertificate, RevokeResult } from './authority.ts'
export { createCaServer } from './server.ts'
export type { CaServer, CaServerInit, CaServerComponents } from './server.ts'
export { parseDuration, formatDuration } from './duration.ts'
export type { CertificateRecord, TokenRecord, CrlRecord } from './store.ts'
