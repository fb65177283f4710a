/** DHT record namespaces: keys, validators, selectors. */
export { NAMESPACES, RECORD_TYPES, CRL_KEY, parseKey, recordKey, keyBytes } from './keys.ts'
export type { Namespace, ParsedKey } from './keys.ts'
export { createValidators, decodeCrlValue, peerIdOfSigner, DEFAULT_MAX_RECORD_BYTES } from './validators.ts'
export type { ValidatorComponents, ValidatorInit } from './validators.ts'
export { selectors, newestIndex } from './selectors.ts'
export { createHeldRecords, recordDatastoreKey, DHT_DATASTORE_PREFIX } from './held.ts'
export type { HeldRecords } from './held.ts'
export { compareRecords, readVersion } from './versions.ts'
