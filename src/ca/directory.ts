/**
 * The CA directory: `ca.key` (the Ed25519 key, PKCS#8 PEM, mode 0600), `ca.crt` (the self-signed
 * root, PEM) and `ca.db` (the state, SQLite, mode 0600). A CA is created once and never
 * overwritten.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { GatemeshError } from '../core/errors.ts'
import { createCertificateAuthority, importCaPrivateKey, loadCaCertificate } from '../pki/index.ts'
import type { CaKeys } from '../pki/index.ts'
import { CaStore } from './store.ts'

export const KEY_FILE = 'ca.key'
export const CERTIFICATE_FILE = 'ca.crt'
export const DATABASE_FILE = 'ca.db'

export interface CaSettings {
  /** Validity of issued gateway certificates. */
  certificateValidityMs: number
  /** Lifetime of a CRL (thisUpdate to nextUpdate). */
  crlValidityMs: number
}

export const DEFAULT_SETTINGS: CaSettings = {
  certificateValidityMs: 30 * 86_400_000,
  crlValidityMs: 86_400_000
}

export interface InitCaInit extends Partial<CaSettings> {
  dir: string
  name?: string
}

function pem (tag: string, der: Uint8Array): string {
  const base64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')
  return `-----BEGIN ${tag}-----\n${base64}\n-----END ${tag}-----\n`
}

function unpem (tag: string, text: string): Uint8Array {
  const match = new RegExp(`-----BEGIN ${tag}-----([A-Za-z0-9+/=\\s]+)-----END ${tag}-----`).exec(text)
  if (match === null) throw new GatemeshError('GM_ERR_CA_STATE_CORRUPT', `No ${tag} PEM block.`)
  return new Uint8Array(Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64'))
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** [CA-1] Creates a CA in `dir`: key (0600), self-signed root, empty state with its settings. */
export async function initCa (init: InitCaInit): Promise<{ certificate: Uint8Array }> {
  await mkdir(init.dir, { recursive: true, mode: 0o700 })
  for (const file of [KEY_FILE, CERTIFICATE_FILE, DATABASE_FILE]) {
    if (await exists(join(init.dir, file))) throw new GatemeshError('GM_ERR_CA_ALREADY_INITIALIZED')
  }
  const ca = await createCertificateAuthority({ name: init.name })
  // 'wx': fail rather than overwrite if another `ca init` raced us to the same directory.
  try {
    await writeFile(join(init.dir, KEY_FILE), pem('PRIVATE KEY', ca.pkcs8), { flag: 'wx', mode: 0o600 })
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_ALREADY_INITIALIZED', undefined, { cause: err })
  }
  await writeFile(join(init.dir, CERTIFICATE_FILE), pem('CERTIFICATE', ca.certificate), { flag: 'wx', mode: 0o644 })
  const store = new CaStore(join(init.dir, DATABASE_FILE))
  try {
    store.setMeta('certificate_validity_ms', String(init.certificateValidityMs ?? DEFAULT_SETTINGS.certificateValidityMs))
    store.setMeta('crl_validity_ms', String(init.crlValidityMs ?? DEFAULT_SETTINGS.crlValidityMs))
  } finally {
    store.close()
  }
  await chmod(join(init.dir, DATABASE_FILE), 0o600)
  return { certificate: ca.certificate }
}

export interface LoadedCa {
  keys: CaKeys
  store: CaStore
  settings: CaSettings
}

/** Opens an existing CA directory; checks the key's file mode and that key and certificate belong together. */
export async function openCa (dir: string): Promise<LoadedCa> {
  const keyPath = join(dir, KEY_FILE)
  if (!(await exists(keyPath)) || !(await exists(join(dir, DATABASE_FILE)))) throw new GatemeshError('GM_ERR_CA_NOT_INITIALIZED', `Directory: ${dir}`)
  const keyStat = await stat(keyPath)
  if ((keyStat.mode & 0o077) !== 0) throw new GatemeshError('GM_ERR_CA_KEY_PERMISSIONS')
  const pkcs8 = unpem('PRIVATE KEY', await readFile(keyPath, 'utf8'))
  const certificate = unpem('CERTIFICATE', await readFile(join(dir, CERTIFICATE_FILE), 'utf8'))
  let privateKey: CryptoKey
  try {
    privateKey = await importCaPrivateKey(pkcs8)
    const caCert = await loadCaCertificate(certificate)
    // Sign and verify a probe: the key must be the one the certificate names.
    const probe = new TextEncoder().encode('gatemesh ca key probe')
    const signature = await crypto.subtle.sign('Ed25519', privateKey, probe)
    if (!(await crypto.subtle.verify('Ed25519', await caCert.publicKey.export(), signature, probe))) throw new Error('key and certificate differ')
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_STATE_CORRUPT', undefined, { cause: err })
  }
  const store = new CaStore(join(dir, DATABASE_FILE))
  const settings: CaSettings = {
    certificateValidityMs: Number(store.getMeta('certificate_validity_ms') ?? DEFAULT_SETTINGS.certificateValidityMs),
    crlValidityMs: Number(store.getMeta('crl_validity_ms') ?? DEFAULT_SETTINGS.crlValidityMs)
  }
  return { keys: { privateKey, certificate }, store, settings }
}

export function certificatePem (der: Uint8Array): string {
  return pem('CERTIFICATE', der)
}
