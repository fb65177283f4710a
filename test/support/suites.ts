/** Every CryptoSuite the core must behave identically under. */
import { webCryptoSuite, type CryptoSuite } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'

export const SUITES: readonly CryptoSuite[] = [webCryptoSuite, createNodeCryptoSuite()]
