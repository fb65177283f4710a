/**
 * The CA's durable state in one SQLite database (node:sqlite): enrollment tokens (hashes only),
 * issued certificates, revoked peers, signed CRLs and used renewal requests. Every operation is a
 * single statement or a short synchronous transaction, so several processes (`ca serve` and
 * `ca revoke`) can share the database; WAL mode and a busy timeout let them wait for each other.
 */
import { DatabaseSync } from 'node:sqlite'
import type { Role } from '../pki/index.ts'

export interface TokenRecord {
  hash: string
  roles: Role[]
  createdAt: Date
  expiresAt: Date
  usedAt?: Date
  usedBy?: string
}

export interface CertificateRecord {
  serial: string
  peerId: string
  roles: Role[]
  notBefore: Date
  notAfter: Date
  issuedAt: Date
  der: Uint8Array
  revokedAt?: Date
}

export interface CrlRecord {
  number: number
  revision: number
  thisUpdate: Date
  nextUpdate: Date
  der: Uint8Array
}

export interface CrlSnapshot {
  number: number
  revision: number
  entries: Array<{ serial: string, revokedAt: Date }>
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  hash TEXT PRIMARY KEY, roles TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  used_at INTEGER, used_by TEXT);
CREATE TABLE IF NOT EXISTS certificates (
  serial TEXT PRIMARY KEY, peer_id TEXT NOT NULL, roles TEXT NOT NULL, not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL, issued_at INTEGER NOT NULL, der BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS certificates_by_peer ON certificates (peer_id);
CREATE TABLE IF NOT EXISTS revoked_peers (peer_id TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS crls (
  number INTEGER PRIMARY KEY, revision INTEGER NOT NULL, this_update INTEGER NOT NULL,
  next_update INTEGER NOT NULL, der BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS renewals (request_hash TEXT PRIMARY KEY, at INTEGER NOT NULL);
`

type Row = Record<string, unknown>

function date (value: unknown): Date {
  return new Date(Number(value))
}

function roles (value: unknown): Role[] {
  return String(value).split(',').filter(role => role !== '') as Role[]
}

function toToken (row: Row): TokenRecord {
  return {
    hash: String(row.hash),
    roles: roles(row.roles),
    createdAt: date(row.created_at),
    expiresAt: date(row.expires_at),
    ...(row.used_at === null ? {} : { usedAt: date(row.used_at), usedBy: String(row.used_by) })
  }
}

function toCertificate (row: Row): CertificateRecord {
  return {
    serial: String(row.serial),
    peerId: String(row.peer_id),
    roles: roles(row.roles),
    notBefore: date(row.not_before),
    notAfter: date(row.not_after),
    issuedAt: date(row.issued_at),
    der: new Uint8Array(row.der as Uint8Array),
    ...(row.revoked_at === null || row.revoked_at === undefined ? {} : { revokedAt: date(row.revoked_at) })
  }
}

export class CaStore {
  private readonly db: DatabaseSync

  constructor (path: string) {
    this.db = new DatabaseSync(path, { timeout: 10_000 })
    this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;')
    this.db.exec(SCHEMA)
  }

  close (): void {
    if (this.db.isOpen) this.db.close()
  }

  getMeta (key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key)
    return row === undefined ? undefined : String(row.value)
  }

  setMeta (key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value)
  }

  addToken (token: TokenRecord): void {
    this.db.prepare('INSERT INTO tokens (hash, roles, created_at, expires_at) VALUES (?, ?, ?, ?)')
      .run(token.hash, token.roles.join(','), token.createdAt.getTime(), token.expiresAt.getTime())
  }

  findToken (hash: string): TokenRecord | undefined {
    const row = this.db.prepare('SELECT * FROM tokens WHERE hash = ?').get(hash)
    return row === undefined ? undefined : toToken(row)
  }

  listTokens (): TokenRecord[] {
    return this.db.prepare('SELECT * FROM tokens ORDER BY created_at').all().map(toToken)
  }

  /** [CA-3] Marks a token used, atomically: true for exactly one caller, and only before it expires. */
  consumeToken (hash: string, peerId: string, now: Date): boolean {
    const result = this.db.prepare('UPDATE tokens SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?')
      .run(now.getTime(), peerId, hash, now.getTime())
    return Number(result.changes) === 1
  }

  addCertificate (cert: CertificateRecord): void {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      this.db.prepare('INSERT INTO certificates (serial, peer_id, roles, not_before, not_after, issued_at, der) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(cert.serial, cert.peerId, cert.roles.join(','), cert.notBefore.getTime(), cert.notAfter.getTime(), cert.issuedAt.getTime(), cert.der)
      // A peer revoked while this certificate was being issued: the next CRL must list it.
      if (this.isRevoked(cert.peerId)) this.bumpRevision()
      this.db.exec('COMMIT')
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }

  listCertificates (peerId?: string): CertificateRecord[] {
    const select = `SELECT c.*, r.revoked_at FROM certificates c LEFT JOIN revoked_peers r ON r.peer_id = c.peer_id`
    const rows = peerId === undefined
      ? this.db.prepare(`${select} ORDER BY c.issued_at`).all()
      : this.db.prepare(`${select} WHERE c.peer_id = ? ORDER BY c.issued_at`).all(peerId)
    return rows.map(toCertificate)
  }

  isRevoked (peerId: string): boolean {
    return this.db.prepare('SELECT 1 FROM revoked_peers WHERE peer_id = ?').get(peerId) !== undefined
  }

  /** Peers revoked, and certificates issued, so far (for the CA's metrics). */
  counts (): { revokedPeers: number, certificates: number } {
    const revoked = this.db.prepare('SELECT COUNT(*) AS n FROM revoked_peers').get()
    const issued = this.db.prepare('SELECT COUNT(*) AS n FROM certificates').get()
    return { revokedPeers: Number(revoked?.n ?? 0), certificates: Number(issued?.n ?? 0) }
  }

  /** Revokes a peer (all its certificates). Returns false when it was revoked already. */
  revokePeer (peerId: string, now: Date): boolean {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const result = this.db.prepare('INSERT OR IGNORE INTO revoked_peers (peer_id, revoked_at) VALUES (?, ?)').run(peerId, now.getTime())
      const added = Number(result.changes) === 1
      if (added) this.bumpRevision()
      this.db.exec('COMMIT')
      return added
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }

  /** The revocation state's revision: it changes whenever the next CRL must differ from the last. */
  revision (): number {
    return Number(this.getMeta('revision') ?? '0')
  }

  private bumpRevision (): void {
    this.setMeta('revision', String(this.revision() + 1))
  }

  /**
   * [CA-7] Allocates the next CRL number and reads the entries it must list, in one transaction:
   * a higher number always lists at least what a lower one does.
   */
  nextCrlSnapshot (now: Date): CrlSnapshot {
    this.db.exec('BEGIN IMMEDIATE')
    try {
      const number = Number(this.getMeta('crl_number') ?? '0') + 1
      this.setMeta('crl_number', String(number))
      const revision = this.revision()
      const rows = this.db.prepare(`SELECT c.serial, r.revoked_at FROM certificates c JOIN revoked_peers r ON r.peer_id = c.peer_id
        WHERE c.not_after > ? ORDER BY c.serial`).all(now.getTime())
      this.db.exec('COMMIT')
      return { number, revision, entries: rows.map(row => ({ serial: String(row.serial), revokedAt: date(row.revoked_at) })) }
    } catch (err) {
      this.db.exec('ROLLBACK')
      throw err
    }
  }

  addCrl (crl: CrlRecord): void {
    this.db.prepare('INSERT OR IGNORE INTO crls (number, revision, this_update, next_update, der) VALUES (?, ?, ?, ?, ?)')
      .run(crl.number, crl.revision, crl.thisUpdate.getTime(), crl.nextUpdate.getTime(), crl.der)
    this.db.prepare('DELETE FROM crls WHERE number < (SELECT MAX(number) FROM crls) - 16').run()
  }

  latestCrl (): CrlRecord | undefined {
    const row = this.db.prepare('SELECT * FROM crls ORDER BY number DESC LIMIT 1').get()
    if (row === undefined) return undefined
    return { number: Number(row.number), revision: Number(row.revision), thisUpdate: date(row.this_update), nextUpdate: date(row.next_update), der: new Uint8Array(row.der as Uint8Array) }
  }

  /** [CA-5] Records a renewal request; false when the same request was used before. */
  recordRenewal (requestHash: string, now: Date, keepMs: number): boolean {
    this.db.prepare('DELETE FROM renewals WHERE at < ?').run(now.getTime() - keepMs)
    const result = this.db.prepare('INSERT OR IGNORE INTO renewals (request_hash, at) VALUES (?, ?)').run(requestHash, now.getTime())
    return Number(result.changes) === 1
  }
}
