/**
 * What every receiver of a collector's sealed readings checks of the collecting gateway, shared by
 * persistence ([PER-2] store) and the stream relay ([STR-31]): its certificate is the CA's, for the
 * peer id of the gateway's key, valid now, not revoked by the overlay's current CRL, and grants
 * `collector`. Each caller reports a failure with its own code. The envelopes' own signatures
 * (with each batch signature verified once, [ENV-9]) are core's `verifyEnvelope`.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { GatemeshError } from '../core/index.ts'
import type { CertificateTrust, VerifiedCertificate, VerifiedRevocationList } from '../overlay/index.ts'

/** The peer id of a gateway's Ed25519 key (32 bytes). */
export function gwPeerId (gw: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(gw)).toString()
}

export interface CollectorCertificateCheck {
  /** The peer id the certificate must certify. */
  peerId: string
  revocations: VerifiedRevocationList | undefined
  now: Date
}

/**
 * The certificate `der`, verified by `trust` for `peerId` against `revocations` at `now`, granting
 * collector. Throws the trust's GatemeshError when it does not verify, and
 * GM_ERR_RECORD_NOT_COLLECTOR when it verifies without granting collector.
 */
export async function verifyCollectorCertificate (trust: CertificateTrust, der: Uint8Array, check: CollectorCertificateCheck): Promise<VerifiedCertificate> {
  const cert = await trust.verifyCertificate(der, { peerId: check.peerId, revocations: check.revocations, now: check.now })
  if (!cert.roles.includes('collector')) throw new GatemeshError('GM_ERR_RECORD_NOT_COLLECTOR', 'The certificate does not grant collector.')
  return cert
}
