/**
 * What ties a reading to the network the user trusts [ENV-10]: the CA certificate the client
 * pinned at sign-up or log-in ([ACS-19]), and the check that the key which sealed an envelope
 * (`gw`) is a collector that CA certified. HPKE base mode does not authenticate the sender, so
 * without this check anyone who knows a reader's public key could seal a reading for it.
 * Browser-safe: src/pki runs on WebCrypto (@peculiar/x509).
 */
import type { CryptoSuite } from '../core/index.ts'
import { GatemeshError, equalBytes, isGatemeshError, toHex } from '../core/index.ts'
import { loadCaCertificate, rawPublicKeyToPeerId, verifyGatewayCertificate } from '../pki/index.ts'

/** Verified collector certificates remembered per verifier (parsing X.509 costs milliseconds). */
const MAX_CACHED = 64

/** The SHA-256 of a DER certificate as `openssl x509 -fingerprint -sha256` prints it: `AB:CD:...`. */
export async function certificateFingerprint (suite: CryptoSuite, der: Uint8Array): Promise<string> {
  return toHex(await suite.sha256(der)).toUpperCase().replace(/(..)(?!$)/g, '$1:')
}

/** [ACS-19] A CA certificate a client may pin: a self-signed Ed25519 CA certificate, valid now. */
export async function checkCaCertificate (der: Uint8Array): Promise<void> {
  await loadCaCertificate(der, new Date())
}

/** What a reader learns about the gateway that sealed a reading, once verified. */
export interface CertifiedCollector {
  /** The libp2p peer id of `gw`, as its certificate names it. */
  peerId: string
  roles: string[]
  notAfter: Date
}

interface Verified extends CertifiedCollector { notBefore: Date }

/**
 * [ENV-10] Checks that `gw` is the key of a gateway certificate chained to one CA, valid at the
 * reading's time and granting the collector role. One verifier per pinned CA certificate.
 */
export class CollectorVerifier {
  readonly caCertificate: Uint8Array
  private readonly cache = new Map<string, Verified>()
  /** The last (gw, verified) per certificate object, with a copy of its DER (an object can change). */
  private readonly byObject = new WeakMap<Uint8Array, { gw: string, der: Uint8Array, verified: Verified }>()

  constructor (caCertificate: Uint8Array) {
    this.caCertificate = caCertificate
  }

  /** Resolves to the certified collector; GM_ERR_CLIENT_READING_UNAUTHENTIC otherwise (the cause says why). */
  async verify (gw: Uint8Array, certificate: Uint8Array, at: number): Promise<CertifiedCollector> {
    const when = new Date(at)
    const gwHex = toHex(gw)
    // the same certificate object again (a page's readings share one): no key over its DER
    const byObject = this.byObject.get(certificate)
    let verified = byObject?.gw === gwHex && equalBytes(byObject.der, certificate) ? byObject.verified : undefined
    const key = verified === undefined ? `${gwHex}|${toHex(certificate)}` : ''
    verified ??= this.cache.get(key)
    if (verified === undefined) {
      let peerId: string
      try {
        peerId = rawPublicKeyToPeerId(gw)
      } catch (err) {
        throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', 'Its gateway key is not an Ed25519 key.', { cause: err })
      }
      try {
        const cert = await verifyGatewayCertificate(certificate, { caCertificate: this.caCertificate, peerId, now: when })
        verified = { peerId, roles: cert.roles, notBefore: cert.notBefore, notAfter: cert.notAfter }
      } catch (err) {
        const code = isGatemeshError(err) ? err.code : 'an error'
        throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', `The gateway certificate it came with does not certify the key that sealed it under the pinned CA at ${when.toISOString()} (${code}).`, { cause: err })
      }
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string)
      this.cache.set(key, verified)
    }
    if (byObject?.verified !== verified) this.byObject.set(certificate, { gw: gwHex, der: Uint8Array.from(certificate), verified })
    if (when < verified.notBefore || when > verified.notAfter) {
      // [ENV-10] checked at every reading's own time, whether the certificate was verified now or before
      throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', `Its gateway certificate is not valid at ${when.toISOString()}.`)
    }
    if (!verified.roles.includes('collector')) {
      throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', `It was sealed by gateway ${verified.peerId}, which is not certified as a collector (roles: ${verified.roles.join(', ')}).`)
    }
    return { peerId: verified.peerId, roles: [...verified.roles], notAfter: verified.notAfter }
  }
}
