/**
 * Verification of gateway certificates [CA-6] and revocation lists [CA-7] against the CA
 * certificate. Every failure has its own code (src/pki/errors.ts); bad input never throws anything
 * but a GatemeshError.
 */
import { GatemeshError } from '../core/errors.ts'
import type { ErrorCode } from '../core/errors.ts'
import { x509 } from './x509.ts'
import { bytesEqual, peerIdToRawPublicKey, spkiToRawPublicKey } from './keys.ts'
import {
  MAX_DER_BYTES, OID_AUTHORITY_KEY_IDENTIFIER, OID_BASIC_CONSTRAINTS, OID_CRL_NUMBER, OID_EXTENDED_KEY_USAGE,
  OID_KEY_USAGE, OID_SUBJECT_KEY_IDENTIFIER, ROLES_EXTENSION_OID, findExtensions, parseRolesExtensionValue
} from './profile.ts'
import type { Role } from './profile.ts'
import { decodeInteger } from './der.ts'

export interface GatewayCertificate {
  der: Uint8Array
  peerId: string
  roles: Role[]
  /** Lowercase hex. */
  serial: string
  notBefore: Date
  notAfter: Date
}

export interface RevocationList {
  der: Uint8Array
  number: number
  thisUpdate: Date
  nextUpdate: Date
  /** Serials (lowercase hex) of revoked certificates. */
  serials: ReadonlySet<string>
}

export interface VerifyGatewayCertificateInit {
  caCertificate: Uint8Array
  peerId: string
  revocations?: RevocationList
  now?: Date
}

const KNOWN_EXTENSIONS = [
  OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_EXTENDED_KEY_USAGE, OID_SUBJECT_KEY_IDENTIFIER,
  OID_AUTHORITY_KEY_IDENTIFIER, ROLES_EXTENSION_OID
]

function isKnown (extension: x509.Extension): boolean {
  return KNOWN_EXTENSIONS.some(oid => findExtensions([extension], oid).length === 1)
}

function parse<T> (der: Uint8Array, code: ErrorCode, make: (der: Uint8Array<ArrayBuffer>) => T): T {
  if (!(der instanceof Uint8Array) || der.length === 0 || der.length > MAX_DER_BYTES) throw new GatemeshError(code)
  try {
    return make(new Uint8Array(der))
  } catch (err) {
    throw new GatemeshError(code, undefined, { cause: err })
  }
}

/** Normalises a hex serial: lowercase, no leading zero octets. */
export function normalizeSerial (hex: string): string {
  const lower = hex.toLowerCase()
  const stripped = lower.replace(/^(00)+/, '')
  return stripped === '' ? '00' : stripped
}

function isEd25519 (algorithm: Algorithm): boolean {
  return algorithm.name === 'Ed25519'
}

async function signedBy (subject: x509.X509Certificate | x509.X509Crl, issuer: x509.X509Certificate): Promise<boolean> {
  try {
    if (subject instanceof x509.X509Crl) return await subject.verify({ publicKey: issuer.publicKey })
    return await subject.verify({ publicKey: issuer.publicKey, signatureOnly: true })
  } catch {
    return false
  }
}

function sameName (a: x509.Name, b: x509.Name): boolean {
  return bytesEqual(new Uint8Array(a.toArrayBuffer()), new Uint8Array(b.toArrayBuffer()))
}

/** Parses and checks the trust anchor: a self-signed Ed25519 CA certificate inside its validity. */
export async function loadCaCertificate (der: Uint8Array, now?: Date): Promise<x509.X509Certificate> {
  const ca = parse(der, 'GM_ERR_CA_CERT_INVALID', bytes => new x509.X509Certificate(bytes))
  const constraints = ca.getExtension(x509.BasicConstraintsExtension)
  if (constraints === null || !constraints.ca || !isEd25519(ca.publicKey.algorithm) || !(await signedBy(ca, ca))) {
    throw new GatemeshError('GM_ERR_CA_CERT_INVALID')
  }
  if (now !== undefined && (now < ca.notBefore || now > ca.notAfter)) throw new GatemeshError('GM_ERR_CA_CERT_EXPIRED')
  return ca
}

/** [CA-6] Verifies a gateway certificate for `peerId`; returns what it certifies. */
export async function verifyGatewayCertificate (der: Uint8Array, init: VerifyGatewayCertificateInit): Promise<GatewayCertificate> {
  const now = init.now ?? new Date()
  const expectedKey = peerIdToRawPublicKey(init.peerId)
  const ca = await loadCaCertificate(init.caCertificate, now)
  const cert = parse(der, 'GM_ERR_CERT_MALFORMED', bytes => {
    const parsed = new x509.X509Certificate(bytes)
    // Touch the lazily decoded fields so that a broken encoding fails here, not later.
    void parsed.serialNumber; void parsed.notBefore; void parsed.notAfter; void parsed.extensions; void parsed.publicKey.rawData
    return parsed
  })

  // Issuer and signature.
  if (!sameName(cert.issuerName, ca.subjectName) || !(await signedBy(cert, ca))) {
    const selfSigned = sameName(cert.issuerName, cert.subjectName) && await signedBy(cert, cert)
    throw new GatemeshError(selfSigned ? 'GM_ERR_CERT_SELF_SIGNED' : 'GM_ERR_CERT_UNTRUSTED')
  }

  // Profile: v3 end-entity Ed25519 certificate, no critical extension we do not understand.
  const constraints = cert.getExtension(x509.BasicConstraintsExtension)
  const usage = cert.getExtension(x509.KeyUsagesExtension)
  if (findExtensions(cert.extensions, OID_BASIC_CONSTRAINTS).length > 1 || constraints?.ca === true) throw new GatemeshError('GM_ERR_CERT_PROFILE', 'It is a CA certificate.')
  if (usage !== null && (usage.usages & x509.KeyUsageFlags.digitalSignature) === 0) throw new GatemeshError('GM_ERR_CERT_PROFILE', 'Its key may not sign.')
  if (cert.extensions.some(extension => extension.critical && !isKnown(extension))) {
    throw new GatemeshError('GM_ERR_CERT_PROFILE', 'It has an unknown critical extension.')
  }

  // Validity.
  if (now < cert.notBefore) throw new GatemeshError('GM_ERR_CERT_NOT_YET_VALID')
  if (now > cert.notAfter) throw new GatemeshError('GM_ERR_CERT_EXPIRED')

  // Revocation.
  const serial = normalizeSerial(cert.serialNumber)
  if (init.revocations?.serials.has(serial) === true) throw new GatemeshError('GM_ERR_CERT_REVOKED')

  // Key and subject: the certificate must certify the peer's own libp2p key, and name it.
  const key = spkiToRawPublicKey(new Uint8Array(cert.publicKey.rawData))
  if (key === undefined || !bytesEqual(key, expectedKey)) throw new GatemeshError('GM_ERR_CERT_KEY_MISMATCH')
  const names = cert.subjectName.getField('CN')
  if (names.length !== 1 || names[0] !== init.peerId) throw new GatemeshError('GM_ERR_CERT_SUBJECT_MISMATCH')

  // Roles.
  const rolesExtensions = findExtensions(cert.extensions, ROLES_EXTENSION_OID)
  if (rolesExtensions.length === 0) throw new GatemeshError('GM_ERR_CERT_ROLES_MISSING')
  let roles: Role[]
  try {
    if (rolesExtensions.length !== 1) throw new Error('more than one roles extension')
    roles = parseRolesExtensionValue(rolesExtensions[0]!.value)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CERT_ROLES_INVALID', undefined, { cause: err })
  }

  return { der: Uint8Array.from(der), peerId: init.peerId, roles, serial, notBefore: cert.notBefore, notAfter: cert.notAfter }
}

/** [CA-7] Verifies a CRL signed by the CA; does not judge its freshness (the caller compares nextUpdate). */
export async function verifyRevocationList (der: Uint8Array, caCertificate: Uint8Array): Promise<RevocationList> {
  const ca = await loadCaCertificate(caCertificate)
  const crl = parse(der, 'GM_ERR_CRL_MALFORMED', bytes => {
    const parsed = new x509.X509Crl(bytes)
    void parsed.thisUpdate; void parsed.nextUpdate; void parsed.entries; void parsed.extensions
    return parsed
  })
  if (!sameName(crl.issuerName, ca.subjectName) || !(await signedBy(crl, ca))) throw new GatemeshError('GM_ERR_CRL_UNTRUSTED')
  const nextUpdate = crl.nextUpdate
  const numberExtension = findExtensions(crl.extensions, OID_CRL_NUMBER)[0]
  if (nextUpdate === undefined || numberExtension === undefined) throw new GatemeshError('GM_ERR_CRL_PROFILE')
  let number: number
  try {
    number = decodeInteger(new Uint8Array(numberExtension.value))
  } catch (err) {
    throw new GatemeshError('GM_ERR_CRL_PROFILE', 'Its CRL number is malformed.', { cause: err })
  }
  const serials = new Set(crl.entries.map(entry => normalizeSerial(entry.serialNumber)))
  return { der: Uint8Array.from(der), number, thisUpdate: crl.thisUpdate, nextUpdate, serials }
}
