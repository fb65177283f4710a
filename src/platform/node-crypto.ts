/**
 * The CryptoSuite over node:crypto's synchronous calls. Gateways use it on the ingest path: a
 * WebCrypto call in Node hops to the threadpool (tens of microseconds), node:crypto does not.
 * It must give the same bytes as the WebCrypto suite; the core's vectors run against both.
 */
import * as nodeCrypto from 'node:crypto'
import { allocBytes } from '../core/bytes.ts'
import { GatemeshError } from '../core/errors.ts'
import type { AeadKey, AgreementKey, CryptoSuite, SigningKey } from '../core/suite.ts'

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

interface NodeAeadKey extends AeadKey { readonly key: nodeCrypto.KeyObject, readonly algorithm: nodeCrypto.CipherGCMTypes }
interface NodeSigningKey extends SigningKey { readonly key: nodeCrypto.KeyObject }
interface NodeAgreementKey extends AgreementKey { readonly key: nodeCrypto.KeyObject }

function requireLength (bytes: Uint8Array, lengths: readonly number[], what: string): void {
  if (!(bytes instanceof Uint8Array) || !lengths.includes(bytes.length)) {
    throw new GatemeshError('GM_ERR_BAD_KEY', `${what} must be ${lengths.join(' or ')} bytes.`)
  }
}

function gcmAlgorithm (length: number): nodeCrypto.CipherGCMTypes {
  return length === 16 ? 'aes-128-gcm' : 'aes-256-gcm'
}

function rawPublic (key: nodeCrypto.KeyObject): Uint8Array {
  return new Uint8Array(nodeCrypto.createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(12))
}

export function createNodeCryptoSuite (): CryptoSuite {
  const verifyKeys = new Map<string, nodeCrypto.KeyObject>()
  // Small random requests are served from a pool refilled in bulk (one syscall per 16 KiB);
  // every caller gets its own copy, and no byte is handed out twice.
  const pool = new Uint8Array(16 * 1024)
  let poolOffset = pool.length

  function cipherKey (key: AeadKey | Uint8Array): { key: Uint8Array | nodeCrypto.KeyObject, algorithm: nodeCrypto.CipherGCMTypes } {
    if (key instanceof Uint8Array) {
      requireLength(key, [16, 32], 'An AES key')
      // A KeyObject first: node's raw-key path costs about three times as much (measured).
      return { key: nodeCrypto.createSecretKey(key), algorithm: gcmAlgorithm(key.length) }
    }
    return key as NodeAeadKey
  }

  function sha256Sync (data: Uint8Array): Uint8Array {
    // the one-shot hash: half the cost of a Hash object for a reading's few hundred bytes (measured)
    return new Uint8Array(nodeCrypto.hash('sha256', data, 'buffer'))
  }

  function aeadSealSync (key: AeadKey | Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    const k = cipherKey(key)
    const cipher = nodeCrypto.createCipheriv(k.algorithm, k.key, nonce, { authTagLength: 16 })
    cipher.setAAD(aad)
    const head = cipher.update(plaintext)
    const tail = cipher.final()
    const tag = cipher.getAuthTag()
    const out = allocBytes(head.length + tail.length + 16)
    out.set(head, 0)
    out.set(tail, head.length)
    out.set(tag, head.length + tail.length)
    return out
  }

  function verifyKey (publicKey: Uint8Array): nodeCrypto.KeyObject {
    const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1')
    let key = verifyKeys.get(id)
    if (key === undefined) {
      key = nodeCrypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
      if (verifyKeys.size >= 4096) verifyKeys.clear()
      verifyKeys.set(id, key)
    }
    return key
  }

  return {
    name: 'node:crypto',
    randomBytes (length) {
      if (length > 256) return new Uint8Array(nodeCrypto.randomBytes(length))
      if (poolOffset + length > pool.length) {
        nodeCrypto.randomFillSync(pool)
        poolOffset = 0
      }
      const out = pool.slice(poolOffset, poolOffset + length)
      pool.fill(0, poolOffset, poolOffset + length)
      poolOffset += length
      return out
    },
    async sha256 (data) {
      return sha256Sync(data)
    },
    sha256Sync,
    async pbkdf2Sha256 (password, salt, iterations, length) {
      return await new Promise((resolve, reject) => {
        nodeCrypto.pbkdf2(password, salt, iterations, length, 'sha256', (err, out) => {
          if (err === null) resolve(new Uint8Array(out))
          else reject(err)
        })
      })
    },
    async importAeadKey (raw) {
      requireLength(raw, [16, 32], 'An AES key')
      const key: NodeAeadKey = { kind: 'aead', key: nodeCrypto.createSecretKey(raw), algorithm: gcmAlgorithm(raw.length) }
      return key
    },
    async aeadSeal (key, nonce, plaintext, aad) {
      return aeadSealSync(key, nonce, plaintext, aad)
    },
    aeadSealSync,
    async aeadOpen (key, nonce, ciphertext, aad) {
      const k = cipherKey(key)
      if (nonce.length !== 12 || ciphertext.length < 16) throw new GatemeshError('GM_ERR_DECRYPT_FAILED')
      try {
        const decipher = nodeCrypto.createDecipheriv(k.algorithm, k.key, nonce, { authTagLength: 16 })
        decipher.setAAD(aad)
        decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
        const head = decipher.update(ciphertext.subarray(0, ciphertext.length - 16))
        return new Uint8Array(Buffer.concat([head, decipher.final()]))
      } catch (err) {
        throw new GatemeshError('GM_ERR_DECRYPT_FAILED', undefined, { cause: err })
      }
    },
    async importSigningKey (seed) {
      requireLength(seed, [32], 'An Ed25519 seed')
      const key = nodeCrypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
      const signing: NodeSigningKey = { kind: 'signing', key, publicKey: rawPublic(key) }
      return signing
    },
    async sign (key, message) {
      return new Uint8Array(nodeCrypto.sign(null, message, (key as NodeSigningKey).key))
    },
    async verify (publicKey, message, signature) {
      if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32 || !(signature instanceof Uint8Array) || signature.length !== 64) return false
      try {
        return nodeCrypto.verify(null, message, verifyKey(publicKey), signature)
      } catch {
        return false
      }
    },
    async importAgreementKey (secret) {
      requireLength(secret, [32], 'An X25519 secret')
      const key = nodeCrypto.createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' })
      const agreement: NodeAgreementKey = { kind: 'agreement', key, publicKey: rawPublic(key) }
      return agreement
    },
    async agreementCryptoKey (key) {
      // node:crypto's CryptoKey type knows more key usages than the DOM's; the object is the same.
      return (key as NodeAgreementKey).key.toCryptoKey({ name: 'X25519' }, false, ['deriveBits']) as unknown as CryptoKey
    }
  }
}
