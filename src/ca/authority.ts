/**
 * The certificate authority's operations over its directory: tokens, enrollment, renewal,
 * revocation and the CRL. Every check runs before any state changes, so a refused request leaves
 * the state as it was. The HTTP service (server.ts) and the CLI (src/cli/ca.ts) both call this.
 */
import { createHash, randomBytes } from 'node:crypto'
import { GatemeshError, isGatemeshError } from '../core/errors.ts'
import type { Logger } from '../platform/logger.ts'
import {
  REQUEST_TIME_WINDOW_MS, canonicalRoles, createRevocationList, issueGatewayCertificate, peerIdToRawPublicKey,
  verifyCertificateRequest, verifyGatewayCertificate
} from '../pki/index.ts'
import type { Role } from '../pki/index.ts'
import { openCa } from './directory.ts'
import type { CaSettings, LoadedCa } from './directory.ts'
import type { CertificateRecord, CaStore, CrlRecord, TokenRecord } from './store.ts'

export interface CertificateAuthorityInit {
  dir: string
  /** Overrides the validity of issued certificates stored at init. */
  certificateValidityMs?: number
  /** The clock; tests move it. */
  now?: () => Date
  logger?: Logger
}

export interface IssuedCertificate {
  certificate: Uint8Array
  caCertificate: Uint8Array
  peerId: string
  roles: Role[]
  serial: string
  notAfter: Date
}

export interface RevokeResult {
  peerId: string
  alreadyRevoked: boolean
  serials: string[]
  crlNumber: number
}

/** [CA-3] Tokens are `gmt_` + 32 random bytes, base64url; only their SHA-256 is stored. */
export function hashToken (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export class CertificateAuthority {
  readonly caCertificate: Uint8Array
  readonly settings: CaSettings
  private readonly ca: LoadedCa
  private readonly store: CaStore
  private readonly now: () => Date
  private readonly logger?: Logger
  private publishing?: Promise<CrlRecord>

  private constructor (ca: LoadedCa, init: CertificateAuthorityInit) {
    this.ca = ca
    this.store = ca.store
    this.caCertificate = ca.keys.certificate
    this.settings = { ...ca.settings, ...(init.certificateValidityMs === undefined ? {} : { certificateValidityMs: init.certificateValidityMs }) }
    this.now = init.now ?? (() => new Date())
    this.logger = init.logger
  }

  static async open (init: CertificateAuthorityInit): Promise<CertificateAuthority> {
    return new CertificateAuthority(await openCa(init.dir), init)
  }

  close (): void {
    this.store.close()
  }

  /** [CA-3] Creates a one-time enrollment token for `roles`, valid for `ttlMs`. */
  createToken (roles: readonly Role[], ttlMs: number): { token: string, expiresAt: Date, roles: Role[] } {
    const canonical = canonicalRoles(roles)
    if (canonical.length === 0) throw new GatemeshError('GM_ERR_CA_NO_ROLES')
    const token = `gmt_${randomBytes(32).toString('base64url')}`
    const now = this.now()
    const expiresAt = new Date(now.getTime() + ttlMs)
    this.store.addToken({ hash: hashToken(token), roles: canonical, createdAt: now, expiresAt })
    this.logger?.info({ roles: canonical, expiresAt }, 'enrollment token created')
    return { token, expiresAt, roles: canonical }
  }

  private tokenFailure (token: TokenRecord | undefined, now: Date): GatemeshError | undefined {
    if (token === undefined) return new GatemeshError('GM_ERR_TOKEN_INVALID')
    if (token.usedAt !== undefined) return new GatemeshError('GM_ERR_TOKEN_USED')
    if (token.expiresAt.getTime() <= now.getTime()) return new GatemeshError('GM_ERR_TOKEN_EXPIRED')
    return undefined
  }

  private async issue (peerId: string, publicKey: Uint8Array, roles: Role[], now: Date): Promise<IssuedCertificate> {
    const issued = await issueGatewayCertificate(this.ca.keys, { publicKey, peerId, roles, validityMs: this.settings.certificateValidityMs, now })
    this.store.addCertificate({ serial: issued.serial, peerId, roles, notBefore: issued.notBefore, notAfter: issued.notAfter, issuedAt: now, der: issued.der })
    return { certificate: issued.der, caCertificate: this.caCertificate, peerId, roles, serial: issued.serial, notAfter: issued.notAfter }
  }

  /** [CA-3] Enrollment: a valid unused token and a proof-of-possession request give a certificate. */
  async enroll (token: string, csr: Uint8Array): Promise<IssuedCertificate> {
    const now = this.now()
    const request = await verifyCertificateRequest(csr, now)
    const hash = hashToken(token)
    const failure = this.tokenFailure(this.store.findToken(hash), now)
    if (failure !== undefined) throw failure
    if (this.store.isRevoked(request.peerId)) throw new GatemeshError('GM_ERR_ENROLL_PEER_REVOKED')
    // The one state change that decides: exactly one caller consumes the token.
    if (!this.store.consumeToken(hash, request.peerId, now)) {
      throw this.tokenFailure(this.store.findToken(hash), now) ?? new GatemeshError('GM_ERR_TOKEN_USED')
    }
    const roles = this.store.findToken(hash)?.roles ?? []
    const issued = await this.issue(request.peerId, request.publicKey, roles, now)
    this.logger?.info({ peerId: issued.peerId, serial: issued.serial, roles }, 'certificate issued')
    return issued
  }

  /** [CA-5] Renewal: the current valid certificate plus a fresh request by the same key. */
  async renew (certificate: Uint8Array, csr: Uint8Array): Promise<IssuedCertificate> {
    const now = this.now()
    const request = await verifyCertificateRequest(csr, now)
    let current
    try {
      current = await verifyGatewayCertificate(certificate, { caCertificate: this.caCertificate, peerId: request.peerId, now })
    } catch (err) {
      if (isGatemeshError(err, 'GM_ERR_CERT_KEY_MISMATCH') || isGatemeshError(err, 'GM_ERR_CERT_SUBJECT_MISMATCH')) {
        throw new GatemeshError('GM_ERR_RENEW_KEY_MISMATCH', undefined, { cause: err })
      }
      throw err
    }
    if (this.store.isRevoked(current.peerId)) throw new GatemeshError('GM_ERR_CERT_REVOKED')
    if (!this.store.recordRenewal(sha256(csr), now, 2 * REQUEST_TIME_WINDOW_MS + 60_000)) throw new GatemeshError('GM_ERR_RENEW_REPLAYED')
    const issued = await this.issue(current.peerId, request.publicKey, current.roles, now)
    this.logger?.info({ peerId: issued.peerId, serial: issued.serial, previous: current.serial }, 'certificate renewed')
    return issued
  }

  /** Revokes every certificate of a peer and publishes a new CRL. */
  async revoke (peerId: string): Promise<RevokeResult> {
    peerIdToRawPublicKey(peerId)
    const certificates = this.store.listCertificates(peerId)
    if (certificates.length === 0) throw new GatemeshError('GM_ERR_CA_PEER_UNKNOWN')
    const added = this.store.revokePeer(peerId, this.now())
    const crl = await this.publishCrl()
    this.logger?.info({ peerId, crlNumber: crl.number, alreadyRevoked: !added }, 'peer revoked')
    return { peerId, alreadyRevoked: !added, serials: certificates.map(cert => cert.serial), crlNumber: crl.number }
  }

  /**
   * For the CA's metrics, read from the database (a `ca revoke` by another process shows at
   * once): peers revoked, certificates issued, and the newest CRL's number (0: none yet).
   */
  metricsSnapshot (): { revokedPeers: number, certificates: number, crlNumber: number } {
    return { ...this.store.counts(), crlNumber: this.store.latestCrl()?.number ?? 0 }
  }

  listCertificates (): CertificateRecord[] {
    return this.store.listCertificates()
  }

  listTokens (): TokenRecord[] {
    return this.store.listTokens()
  }

  /** [CA-7] Signs and stores a new CRL listing every unexpired certificate of every revoked peer. */
  async publishCrl (): Promise<CrlRecord> {
    const thisUpdate = new Date(Math.floor(this.now().getTime() / 1000) * 1000)
    const nextUpdate = new Date(thisUpdate.getTime() + this.settings.crlValidityMs)
    const snapshot = this.store.nextCrlSnapshot(thisUpdate)
    const der = await createRevocationList(this.ca.keys, { number: snapshot.number, entries: snapshot.entries.map(entry => ({ serial: entry.serial, revokedAt: entry.revokedAt })), thisUpdate, nextUpdate })
    const crl = { number: snapshot.number, revision: snapshot.revision, thisUpdate, nextUpdate, der }
    this.store.addCrl(crl)
    return crl
  }

  /**
   * [CA-8] The current CRL, read from the database on every call (so a `ca revoke` by another
   * process shows at once); re-signed when the revocation state changed or half its life is over.
   */
  async currentCrl (): Promise<CrlRecord> {
    const latest = this.store.latestCrl()
    const now = this.now().getTime()
    if (latest !== undefined && latest.revision === this.store.revision() &&
      now < latest.thisUpdate.getTime() + (latest.nextUpdate.getTime() - latest.thisUpdate.getTime()) / 2) {
      return latest
    }
    this.publishing ??= this.publishCrl().finally(() => { this.publishing = undefined })
    return await this.publishing
  }
}
