/**
 * Binds the overlay's collaborators to gatemesh's PKI and core: certificate checks against the
 * CA certificate, signed-record checks on the node:crypto suite.
 */
import { createHash } from 'node:crypto'
import { ACCOUNT_RECORD_TYPE, derivePseudonym, openRecord, SENSOR_RECORD_TYPE, verifyAccountBundle, verifySensorRecord } from '../core/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { verifyGatewayCertificate, verifyRevocationList } from '../pki/index.ts'
import type { CertificateTrust, OpenedRecord, RecordVerifier, VerifiedCertificate } from '../overlay/index.ts'

const CACHE_SIZE = 1024

/**
 * Certificate checks bound to the CA certificate. A certificate that verified for a peer id under
 * a given CRL number is remembered (X.509 parsing in JS costs milliseconds and every connection
 * and every latest reading checks one); a remembered result is still checked against the clock.
 */
export function createCertificateTrust (caCertificate: Uint8Array): CertificateTrust {
  const cache = new Map<string, VerifiedCertificate>()
  return {
    async verifyCertificate (der, init) {
      const now = init.now ?? new Date()
      const key = `${createHash('sha256').update(der).digest('hex')}|${init.peerId}|${init.revocations?.number ?? -1}`
      const known = cache.get(key)
      if (known !== undefined && known.notBefore <= now && now < known.notAfter) return known
      const cert = await verifyGatewayCertificate(der, { caCertificate, ...init, now })
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value as string)
      cache.set(key, cert)
      return cert
    },
    verifyRevocationList: async der => await verifyRevocationList(der, caCertificate)
  }
}

export function createRecordVerifier (): RecordVerifier {
  const suite = createNodeCryptoSuite()
  return {
    openRecord: async (bytes, init) => await openRecord(suite, bytes, init) as unknown as OpenedRecord,
    derivePseudonym: async (sigPub, encPub) => await derivePseudonym(suite, sigPub, encPub),
    // [ACC-4] [SEN-3]: DHT peers hold accounts and sensors to the same rules as the services.
    verifyContent: async (type, bytes) => {
      if (type === ACCOUNT_RECORD_TYPE) await verifyAccountBundle(suite, bytes)
      else if (type === SENSOR_RECORD_TYPE) await verifySensorRecord(suite, bytes)
    }
  }
}
