/** Revocation: the CRL in force and its propagation through the CA and the DHT. */
export { RevocationState } from './state.ts'
export type { RevocationStateEvents } from './state.ts'
export { CrlSync, encodeCrlValue, DEFAULT_CRL_INTERVAL } from './crl-sync.ts'
export type { CrlSyncComponents, CrlSyncInit } from './crl-sync.ts'
