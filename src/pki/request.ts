/**
 * Certificate requests [CA-4]: a PKCS#10 request signed with the gateway's own libp2p Ed25519 key
 * (proof of possession), subject CN = the peer id of that key, and a request-time extension that
 * bounds how long a request can be replayed.
 */
import type { PrivateKey } from '@libp2p/interface'
import { GatemeshError } from '../core/errors.ts'
import { ED25519, x509 } from './x509.ts'
import { libp2pKeyToCryptoKeyPair, rawPublicKeyToPeerId, spkiToRawPublicKey } from './keys.ts'
import {
  MAX_DER_BYTES, REQUEST_TIME_EXTENSION_OID, REQUEST_TIME_WINDOW_MS, createRequestTimeExtension, findExtensions, parseRequestTimeExtensionValue
} from './profile.ts'

export interface CertificateRequestInfo {
  /** The peer id of the requesting key (and the request's subject CN). */
  peerId: string
  /** The requested key as a DER SubjectPublicKeyInfo. */
  spki: Uint8Array
  /** The raw 32-byte Ed25519 key. */
  publicKey: Uint8Array
  requestTime: Date
}

export async function createCertificateRequest (privateKey: PrivateKey, now: Date = new Date()): Promise<Uint8Array> {
  const keys = await libp2pKeyToCryptoKeyPair(privateKey)
  const peerId = rawPublicKeyToPeerId(privateKey.publicKey.raw)
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [peerId] }],
    keys,
    signingAlgorithm: ED25519,
    extensions: [createRequestTimeExtension(now)]
  })
  return new Uint8Array(csr.rawData)
}

/**
 * Checks a certificate request: well formed, Ed25519, signed by the key it names, subject is that
 * key's peer id, request time within the window around `now`.
 */
export async function verifyCertificateRequest (der: Uint8Array, now: Date = new Date()): Promise<CertificateRequestInfo> {
  if (!(der instanceof Uint8Array) || der.length === 0 || der.length > MAX_DER_BYTES) throw new GatemeshError('GM_ERR_CSR_MALFORMED')
  let csr: x509.Pkcs10CertificateRequest
  let spki: Uint8Array
  let extensions: x509.Extension[]
  try {
    csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der))
    spki = new Uint8Array(csr.publicKey.rawData)
    extensions = csr.extensions
    void csr.subjectName
  } catch (err) {
    throw new GatemeshError('GM_ERR_CSR_MALFORMED', undefined, { cause: err })
  }
  const publicKey = spkiToRawPublicKey(spki)
  if (publicKey === undefined || csr.signatureAlgorithm.name !== 'Ed25519') throw new GatemeshError('GM_ERR_CSR_KEY_UNSUPPORTED')
  let signed: boolean
  try {
    signed = await csr.verify()
  } catch {
    signed = false
  }
  if (!signed) throw new GatemeshError('GM_ERR_CSR_SIGNATURE')
  let peerId: string
  try {
    peerId = rawPublicKeyToPeerId(publicKey)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CSR_KEY_UNSUPPORTED', undefined, { cause: err })
  }
  const names = csr.subjectName.getField('CN')
  if (names.length !== 1 || names[0] !== peerId) throw new GatemeshError('GM_ERR_CSR_SUBJECT_MISMATCH')
  const timeExtensions = findExtensions(extensions, REQUEST_TIME_EXTENSION_OID)
  let requestTime: Date
  try {
    if (timeExtensions.length !== 1) throw new Error('exactly one request time expected')
    requestTime = parseRequestTimeExtensionValue(timeExtensions[0]!.value)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CSR_STALE', undefined, { cause: err })
  }
  if (Math.abs(requestTime.getTime() - now.getTime()) > REQUEST_TIME_WINDOW_MS) throw new GatemeshError('GM_ERR_CSR_STALE')
  return { peerId, spki, publicKey, requestTime }
}
