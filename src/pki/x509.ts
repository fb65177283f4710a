/**
 * The one place that loads @peculiar/x509: it needs `reflect-metadata` loaded first. It uses the
 * platform's WebCrypto (`globalThis.crypto`), which has Ed25519 in Node 24 and current browsers.
 * Everything else in gatemesh imports x509 from here.
 */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'

export { x509 }

/** Signature algorithm of every gatemesh certificate, request and revocation list. */
export const ED25519: Algorithm = { name: 'Ed25519' }
