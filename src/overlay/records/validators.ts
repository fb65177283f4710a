/**
 * Validators for the gatemesh namespaces. kad-dht runs them on every record a peer PUTs to us, on
 * every record a GET brings back, and on our own held copy. Because kad-dht's PUT handler skips
 * the selector, each validator also refuses a record older than the one already held. [OVL-13]
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { decode } from 'cborg'
import { GatemeshError, equalBytes, isPseudonym, readEnvelopeHeader } from '../../core/index.ts'
import { CRL_KEY, NAMESPACES, RECORD_TYPES, parseKey } from './keys.ts'
import { compareRecords, readVersion } from './versions.ts'
import type { HeldRecords } from './held.ts'
import type { CertificateTrust, OpenedRecord, RecordVerifier, VerifiedRevocationList } from '../types.ts'
import type { Validators } from '@libp2p/kad-dht'

export const DEFAULT_MAX_RECORD_BYTES = 256 * 1024

export interface ValidatorComponents {
  trust: CertificateTrust
  records: RecordVerifier
  held: HeldRecords
  /** The CRL currently in force, used to check the gateway certificate inside a reading. */
  revocations: () => VerifiedRevocationList | undefined
}

export interface ValidatorInit {
  maxRecordBytes?: number
  /** Told about every CRL that validated, so a newer one takes effect at once. [OVL-22] */
  onRevocationList?: (list: VerifiedRevocationList) => void
  now?: () => number
}

function bytesField (body: Record<string, unknown>, name: string): Uint8Array {
  const value = body[name]
  if (!(value instanceof Uint8Array)) throw new GatemeshError('GM_ERR_MALFORMED', `body.${name} must be bytes.`)
  return value
}

function mapField (body: Record<string, unknown>, name: string): Record<string, unknown> {
  const value = body[name]
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw new GatemeshError('GM_ERR_MALFORMED', `body.${name} must be a map.`)
  }
  return value as Record<string, unknown>
}

/** The peer id whose libp2p key is this raw Ed25519 public key. */
export function peerIdOfSigner (signer: Uint8Array): string {
  try {
    return peerIdFromPublicKey(publicKeyFromRaw(signer)).toString()
  } catch (err) {
    throw new GatemeshError('GM_ERR_BAD_KEY', 'The signer is not an Ed25519 public key.', { cause: err })
  }
}

export function createValidators (components: ValidatorComponents, init: ValidatorInit = {}): Validators {
  const maxBytes = init.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES
  const now = init.now ?? Date.now

  /** body.gatewayCert verifies for the signer's peer id against the CA and the CRL in force, and grants `role`. */
  async function requireRole (rec: OpenedRecord, role: string, code: 'GM_ERR_RECORD_NOT_COLLECTOR' | 'GM_ERR_RECORD_NOT_ACCESS'): Promise<void> {
    const der = bytesField(rec.body, 'gatewayCert')
    const peerId = peerIdOfSigner(rec.signer)
    let roles: string[]
    try {
      roles = (await components.trust.verifyCertificate(der, { peerId, revocations: components.revocations(), now: new Date(now()) })).roles
    } catch (err) {
      throw new GatemeshError(code, 'The gateway certificate does not verify.', { cause: err })
    }
    if (!roles.includes(role)) throw new GatemeshError(code)
  }

  // [OVL-11] the namespace-specific rule on who may sign.
  const signerRules: Record<string, (rec: OpenedRecord, id: string) => Promise<void>> = {
    // [OVL-15] an account is signed by its own signing key, and the pseudonym names both keys.
    [NAMESPACES.account]: async (rec, id) => {
      const sigPub = bytesField(rec.body, 'sigPub')
      const encPub = bytesField(rec.body, 'encPub')
      if (!equalBytes(rec.signer, sigPub)) throw new GatemeshError('GM_ERR_RECORD_SIGNER', 'An account is signed by body.sigPub.')
      if (await components.records.derivePseudonym(sigPub, encPub) !== id) throw new GatemeshError('GM_ERR_PSEUDONYM_MISMATCH')
    },
    // [OVL-16] a sensor is signed by its owner, whose public keys the body carries.
    [NAMESPACES.sensor]: async (rec) => {
      const owner = mapField(rec.body, 'owner')
      bytesField(owner, 'encPub')
      if (!equalBytes(rec.signer, bytesField(owner, 'sigPub'))) throw new GatemeshError('GM_ERR_RECORD_SIGNER', 'A sensor is signed by body.owner.sigPub.')
    },
    // [OVL-17] a latest reading is signed by a certified gateway holding the collector role;
    // [OVL-35] the envelope it carries was sealed by that very gateway ([ENV-6] `gw` is the
    // record's signer) for the sensor the key names. The envelope's own signature is the readers'
    // to check ([ENV-10]); the record's signature already covers its bytes.
    [NAMESPACES.latest]: async (rec, id) => {
      await requireRole(rec, 'collector', 'GM_ERR_RECORD_NOT_COLLECTOR')
      const header = readEnvelopeHeader(bytesField(rec.body, 'envelope'))
      if (!equalBytes(header.gw, rec.signer)) throw new GatemeshError('GM_ERR_RECORD_SIGNER', 'The envelope was sealed by another key than the record\'s signer.')
      if (header.sensor !== id) throw new GatemeshError('GM_ERR_RECORD_KEY_MISMATCH', 'The envelope is of another sensor than the key names.')
    },
    // [OVL-18] an access index is { sensors, gatewayCert }, keyed by a pseudonym and signed by a
    // certified gateway holding the access role; any such gateway may sign the next one.
    [NAMESPACES.access]: async (rec, id) => {
      if (!isPseudonym(id)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'An access index is keyed by a pseudonym.')
      const fields = Object.keys(rec.body)
      if (fields.length !== 2 || !Array.isArray(rec.body.sensors)) throw new GatemeshError('GM_ERR_MALFORMED', 'An access index body is { sensors, gatewayCert }.')
      await requireRole(rec, 'access', 'GM_ERR_RECORD_NOT_ACCESS')
    }
  }

  // [OVL-13] never replace a newer held record; [OVL-16] a sensor keeps its first owner.
  async function checkAgainstHeld (key: Uint8Array, value: Uint8Array, field: 'seq' | 'n', pinSigner: boolean): Promise<void> {
    const held = await components.held.get(key)
    if (held === undefined || equalBytes(held, value)) return
    const heldVersion = readVersion(held, field)
    if (heldVersion === undefined) return
    if (heldVersion.exp !== undefined && heldVersion.exp <= now()) return
    if (compareRecords(value, held, field) < 0) throw new GatemeshError('GM_ERR_STALE_RECORD')
    if (pinSigner && heldVersion.signer !== undefined) {
      const signer = readVersion(value, field)?.signer
      if (signer === undefined || !equalBytes(signer, heldVersion.signer)) throw new GatemeshError('GM_ERR_RECORD_OWNER_CHANGED')
    }
  }

  async function validateSigned (key: Uint8Array, value: Uint8Array): Promise<void> {
    const { namespace, id } = parseKey(key)
    const type = RECORD_TYPES[namespace as keyof typeof RECORD_TYPES]
    if (type === undefined) throw new GatemeshError('GM_ERR_RECORD_KEY')
    const rec = await components.records.openRecord(value, { type, now: now(), maxBytes })
    if (rec.key !== id) throw new GatemeshError('GM_ERR_RECORD_KEY_MISMATCH')
    const rule = signerRules[namespace]
    if (rule === undefined) throw new GatemeshError('GM_ERR_RECORD_KEY')
    await rule(rec, id)
    // [OVL-11] then the type's full content rules, where the composition root supplies them.
    await components.records.verifyContent?.(type, value)
    await checkAgainstHeld(key, value, 'seq', namespace === NAMESPACES.sensor)
  }

  // [OVL-20] the CRL value is canonical CBOR {n: CRL number, der: the CRL}.
  async function validateCrl (key: Uint8Array, value: Uint8Array): Promise<void> {
    parseKey(key)
    if (new TextDecoder().decode(key) !== CRL_KEY) throw new GatemeshError('GM_ERR_RECORD_KEY')
    const wrapper = decodeCrlValue(value, maxBytes)
    let list: VerifiedRevocationList
    try {
      list = await components.trust.verifyRevocationList(wrapper.der)
    } catch (err) {
      throw new GatemeshError('GM_ERR_CRL_INVALID', undefined, { cause: err })
    }
    if (list.number !== wrapper.n) throw new GatemeshError('GM_ERR_CRL_INVALID', 'n is not the CRL number.')
    await checkAgainstHeld(key, value, 'n', false).catch((err: unknown) => {
      throw new GatemeshError('GM_ERR_CRL_STALE', undefined, { cause: err })
    })
    init.onRevocationList?.(list)
  }

  return {
    [NAMESPACES.account]: validateSigned,
    [NAMESPACES.sensor]: validateSigned,
    [NAMESPACES.latest]: validateSigned,
    [NAMESPACES.access]: validateSigned,
    [NAMESPACES.crl]: validateCrl
  }
}

export function decodeCrlValue (value: Uint8Array, maxBytes = DEFAULT_MAX_RECORD_BYTES): { n: number, der: Uint8Array } {
  if (value.length > maxBytes) throw new GatemeshError('GM_ERR_TOO_LARGE')
  let map: unknown
  try {
    map = decode(value, { strict: true, useMaps: false, rejectDuplicateMapKeys: true })
  } catch (err) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'The CRL value is not CBOR.', { cause: err })
  }
  const { n, der } = (map ?? {}) as { n?: unknown, der?: unknown }
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || !(der instanceof Uint8Array)) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'Expected {n, der}.')
  }
  return { n, der }
}
