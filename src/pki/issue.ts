/**
 * Issuing side of the certificate profile [CA-1] [CA-2] [CA-7]: the self-signed CA root, gateway
 * certificates and revocation lists. Used by the CA (src/ca) and by tests that need a CA.
 */
import { ED25519, x509 } from './x509.ts'
import { rawPublicKeyToSpki } from './keys.ts'
import { CLOCK_SKEW_MS, DEFAULT_CERTIFICATE_VALIDITY_MS, OID_CRL_NUMBER, canonicalRoles, createRolesExtension } from './profile.ts'
import type { Role } from './profile.ts'
import { encodeInteger } from './der.ts'

export interface CaKeys {
  /** The CA's Ed25519 signing key. */
  privateKey: CryptoKey
  /** The CA certificate, DER. */
  certificate: Uint8Array
}

export interface CreateCaInit {
  /** Subject common name of the root; default 'gatemesh CA'. */
  name?: string
  /** Validity of the root; default 10 years. */
  validityMs?: number
  now?: Date
}

/** A random positive 16-byte serial as lowercase hex (first octet 0x40..0x7f: positive, never shortened). */
export function randomSerial (): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16))
  bytes[0] = ((bytes[0] ?? 0) & 0x3f) | 0x40
  return Buffer.from(bytes).toString('hex')
}

/** [CA-1] Generates an Ed25519 CA key and its self-signed root certificate. */
export async function createCertificateAuthority (init: CreateCaInit = {}): Promise<{ privateKey: CryptoKey, pkcs8: Uint8Array, certificate: Uint8Array }> {
  const now = init.now ?? new Date()
  const keys = await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify']) as CryptoKeyPair
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [init.name ?? 'gatemesh CA'] }, { O: ['gatemesh'] }],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + (init.validityMs ?? 10 * 365 * 24 * 60 * 60 * 1000)),
    keys,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
    ]
  })
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey))
  return { privateKey: keys.privateKey, pkcs8, certificate: new Uint8Array(certificate.rawData) }
}

export async function importCaPrivateKey (pkcs8: Uint8Array): Promise<CryptoKey> {
  return await crypto.subtle.importKey('pkcs8', new Uint8Array(pkcs8), ED25519, false, ['sign'])
}

export interface IssueInit {
  /** The gateway's raw Ed25519 public key (its libp2p key). */
  publicKey: Uint8Array
  peerId: string
  roles: readonly Role[]
  validityMs?: number
  serial?: string
  now?: Date
}

/** [CA-2] Issues a gateway certificate. */
export async function issueGatewayCertificate (ca: CaKeys, init: IssueInit): Promise<{ der: Uint8Array, serial: string, notBefore: Date, notAfter: Date }> {
  const now = init.now ?? new Date()
  const caCert = new x509.X509Certificate(new Uint8Array(ca.certificate))
  const serial = init.serial ?? randomSerial()
  const notBefore = new Date(Math.floor((now.getTime() - CLOCK_SKEW_MS) / 1000) * 1000)
  const notAfter = new Date(Math.floor((now.getTime() + (init.validityMs ?? DEFAULT_CERTIFICATE_VALIDITY_MS)) / 1000) * 1000)
  const publicKey = new x509.PublicKey(rawPublicKeyToSpki(init.publicKey))
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: [{ CN: [init.peerId] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter,
    publicKey,
    signingKey: ca.privateKey,
    signingAlgorithm: ED25519,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      createRolesExtension(canonicalRoles(init.roles))
    ]
  })
  return { der: new Uint8Array(certificate.rawData), serial, notBefore, notAfter }
}

export interface RevocationEntry {
  serial: string
  revokedAt: Date
}

export interface CreateRevocationListInit {
  number: number
  entries: readonly RevocationEntry[]
  thisUpdate?: Date
  nextUpdate: Date
}

/** [CA-7] Signs a CRL (RFC 5280 v2) with a CRL number, an authority key identifier and nextUpdate. */
export async function createRevocationList (ca: CaKeys, init: CreateRevocationListInit): Promise<Uint8Array> {
  const caCert = new x509.X509Certificate(new Uint8Array(ca.certificate))
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subjectName,
    thisUpdate: init.thisUpdate ?? new Date(),
    nextUpdate: init.nextUpdate,
    signingAlgorithm: ED25519,
    signingKey: ca.privateKey,
    extensions: [
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
      new x509.Extension(OID_CRL_NUMBER, false, encodeInteger(init.number))
    ],
    entries: init.entries.map(entry => ({ serialNumber: entry.serial, revocationDate: entry.revokedAt }))
  })
  return new Uint8Array(crl.rawData)
}
