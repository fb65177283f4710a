/**
 * The gateway's identity on disk, under its data directory:
 *   peer.key         its libp2p Ed25519 private key (protobuf), mode 0600, created on first start
 *   certificate.der  its certificate from the gatemesh CA
 *   ca.der           the CA certificate it trusts
 * The first start enrolls with a token; later starts reuse key and certificate, and a
 * certificate close to expiry is renewed.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { GatemeshError } from '../core/index.ts'
import { enroll, renew } from '../pki/index.ts'
import type { PrivateKey } from '@libp2p/interface'

export interface StoredIdentity {
  privateKey: PrivateKey
  peerId: string
  certificate?: Uint8Array
  caCertificate?: Uint8Array
}

const KEY_FILE = 'peer.key'
const CERT_FILE = 'certificate.der'
const CA_FILE = 'ca.der'

async function readOptional (path: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Writes atomically (temp file + rename) with the given mode. */
async function writeAtomic (path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, data, { mode })
  await chmod(tmp, mode)
  await rename(tmp, path)
}

export async function loadOrCreateKey (dataDir: string): Promise<PrivateKey> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, KEY_FILE)
  const existing = await readOptional(path)
  if (existing === undefined) {
    const key = await generateKeyPair('Ed25519')
    await writeAtomic(path, privateKeyToProtobuf(key), 0o600)
    return key
  }
  const mode = (await stat(path)).mode
  if ((mode & 0o077) !== 0) throw new GatemeshError('GM_ERR_GATEWAY_KEY_PERMISSIONS', path)
  try {
    const key = privateKeyFromProtobuf(existing)
    if (key.type !== 'Ed25519') throw new Error('not Ed25519')
    return key
  } catch (err) {
    throw new GatemeshError('GM_ERR_GATEWAY_KEY', path, { cause: err })
  }
}

export async function loadIdentity (dataDir: string): Promise<StoredIdentity> {
  const privateKey = await loadOrCreateKey(dataDir)
  return {
    privateKey,
    peerId: peerIdFromPrivateKey(privateKey).toString(),
    certificate: await readOptional(join(dataDir, CERT_FILE)),
    caCertificate: await readOptional(join(dataDir, CA_FILE))
  }
}

export async function saveCertificate (dataDir: string, certificate: Uint8Array, caCertificate?: Uint8Array): Promise<void> {
  if (caCertificate !== undefined) await writeAtomic(join(dataDir, CA_FILE), caCertificate, 0o644)
  await writeAtomic(join(dataDir, CERT_FILE), certificate, 0o644)
}

/** Enrolls with a one-time token and stores the certificate and the CA certificate. */
export async function enrollIdentity (dataDir: string, identity: StoredIdentity, caUrl: string, token: string): Promise<StoredIdentity> {
  const { certificate, caCertificate } = await enroll({ caUrl, token, privateKey: identity.privateKey })
  await saveCertificate(dataDir, certificate, caCertificate)
  return { ...identity, certificate, caCertificate }
}

export async function renewIdentity (dataDir: string, identity: StoredIdentity, caUrl: string): Promise<StoredIdentity> {
  if (identity.certificate === undefined) throw new GatemeshError('GM_ERR_GATEWAY_TOKEN_REQUIRED')
  const { certificate } = await renew({ caUrl, certificate: identity.certificate, privateKey: identity.privateKey })
  await saveCertificate(dataDir, certificate)
  return { ...identity, certificate }
}
