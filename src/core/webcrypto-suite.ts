/**
 * The CryptoSuite over WebCrypto (`globalThis.crypto`): runs unchanged in browsers and in Node.
 * Ed25519 and X25519 private keys are imported as PKCS#8 built from their raw 32 bytes, since
 * WebCrypto has no raw private-key import for them.
 */
import type { AeadKey, AgreementKey, CryptoSuite, SigningKey } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { concat, fromBase64Url } from './bytes.ts'

const ED25519_PKCS8_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20)
const X25519_PKCS8_PREFIX = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20)

interface WebAeadKey extends AeadKey { readonly key: CryptoKey }
interface WebSigningKey extends SigningKey { readonly key: CryptoKey }
interface WebAgreementKey extends AgreementKey { readonly key: CryptoKey }

type Bytes = Uint8Array<ArrayBuffer>

/** WebCrypto's typings want ArrayBuffer-backed views; copy only when needed. */
function buf (bytes: Uint8Array): Bytes {
  return (bytes.buffer instanceof ArrayBuffer ? bytes : new Uint8Array(bytes)) as Bytes
}

function requireLength (bytes: Uint8Array, lengths: readonly number[], what: string): void {
  if (!(bytes instanceof Uint8Array) || !lengths.includes(bytes.length)) {
    throw new GatemeshError('GM_ERR_BAD_KEY', `${what} must be ${lengths.join(' or ')} bytes.`)
  }
}

export function createWebCryptoSuite (webCrypto: Crypto = globalThis.crypto): CryptoSuite {
  const subtle = webCrypto.subtle
  const verifyKeys = new Map<string, CryptoKey>()

  async function aeadKey (key: AeadKey | Uint8Array, usage: KeyUsage): Promise<CryptoKey> {
    if (key instanceof Uint8Array) {
      requireLength(key, [16, 32], 'An AES key')
      return await subtle.importKey('raw', buf(key), 'AES-GCM', false, [usage])
    }
    return (key as WebAeadKey).key
  }

  async function publicFromPrivate (key: CryptoKey): Promise<Uint8Array> {
    const jwk = await subtle.exportKey('jwk', key)
    return fromBase64Url(jwk.x ?? '')
  }

  async function verifyKey (publicKey: Uint8Array): Promise<CryptoKey> {
    const id = String.fromCharCode(...publicKey)
    let key = verifyKeys.get(id)
    if (key === undefined) {
      key = await subtle.importKey('raw', buf(publicKey), { name: 'Ed25519' }, false, ['verify'])
      if (verifyKeys.size >= 1024) verifyKeys.clear()
      verifyKeys.set(id, key)
    }
    return key
  }

  return {
    name: 'webcrypto',
    randomBytes (length) {
      const out = new Uint8Array(length)
      for (let offset = 0; offset < length; offset += 65536) webCrypto.getRandomValues(out.subarray(offset, offset + 65536))
      return out
    },
    async sha256 (data) {
      return new Uint8Array(await subtle.digest('SHA-256', buf(data)))
    },
    async pbkdf2Sha256 (password, salt, iterations, length) {
      const k = await subtle.importKey('raw', buf(password), 'PBKDF2', false, ['deriveBits'])
      return new Uint8Array(await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: buf(salt), iterations }, k, length * 8))
    },
    async importAeadKey (raw) {
      requireLength(raw, [16, 32], 'An AES key')
      const key: WebAeadKey = { kind: 'aead', key: await subtle.importKey('raw', buf(raw), 'AES-GCM', false, ['encrypt', 'decrypt']) }
      return key
    },
    async aeadSeal (key, nonce, plaintext, aad) {
      const k = await aeadKey(key, 'encrypt')
      return new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad) }, k, buf(plaintext)))
    },
    async aeadOpen (key, nonce, ciphertext, aad) {
      const k = await aeadKey(key, 'decrypt')
      try {
        return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: buf(nonce), additionalData: buf(aad) }, k, buf(ciphertext)))
      } catch (err) {
        throw new GatemeshError('GM_ERR_DECRYPT_FAILED', undefined, { cause: err })
      }
    },
    async importSigningKey (seed) {
      requireLength(seed, [32], 'An Ed25519 seed')
      const key = await subtle.importKey('pkcs8', buf(concat(ED25519_PKCS8_PREFIX, seed)), { name: 'Ed25519' }, true, ['sign'])
      const signing: WebSigningKey = { kind: 'signing', key, publicKey: await publicFromPrivate(key) }
      return signing
    },
    async sign (key, message) {
      return new Uint8Array(await subtle.sign({ name: 'Ed25519' }, (key as WebSigningKey).key, buf(message)))
    },
    async verify (publicKey, message, signature) {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32 || !(signature instanceof Uint8Array) || signature.length !== 64) return false
      try {
        return await subtle.verify({ name: 'Ed25519' }, await verifyKey(publicKey), buf(signature), buf(message))
      } catch {
        return false
      }
    },
    async importAgreementKey (secret) {
      requireLength(secret, [32], 'An X25519 secret')
      const key = await subtle.importKey('pkcs8', buf(concat(X25519_PKCS8_PREFIX, secret)), { name: 'X25519' }, true, ['deriveBits'])
      const agreement: WebAgreementKey = { kind: 'agreement', key, publicKey: await publicFromPrivate(key) }
      return agreement
    },
    async agreementCryptoKey (key) {
      return (key as WebAgreementKey).key
    }
  }
}

/** The suite over this runtime's `globalThis.crypto`. */
export const webCryptoSuite: CryptoSuite = createWebCryptoSuite()
