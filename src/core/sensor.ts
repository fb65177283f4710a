/**
 * Sensor records and credentials. A sensor record is signed by the sensor's owner and names who
 * may read it: the owner and the readers on its access list, each with the public keys their
 * pseudonym is made of, so anyone can check the list. The sensor's credential is a random secret
 * made on the owner's client and shown once; the record keeps only its hash. [SEN-1] .. [SEN-5]
 */
import type { CryptoSuite } from './suite.ts'
import type { Identity, PublicIdentity } from './identity.ts'
import { GatemeshError } from './errors.ts'
import { concat, equalBytes, toBase64Url, utf8 } from './bytes.ts'
import { derivePseudonym, isPseudonym } from './identity.ts'
import { openRecord, signRecord, type SignedRecord } from './records.ts'
import { SENSOR_ID_PATTERN, MAX_RECIPIENTS, type Recipient } from './envelope.ts'
import { asStruct, bytes, onlyKeys, optUint } from './shape.ts'
import { formatDuration, parseDuration } from './duration.ts'

export const SENSOR_RECORD_TYPE = 'sensor'
const CREDENTIAL_DOMAIN = utf8('gatemesh/sensor-credential/v1\0')
const CREDENTIAL_PATTERN = /^gms_[A-Za-z0-9_-]{43}$/
/** The owner is always a recipient, so at most MAX_RECIPIENTS - 1 readers. */
export const MAX_READERS = MAX_RECIPIENTS - 1
/** [SEN-2] Retention of a record without `retention`: 30 days, in seconds. */
export const DEFAULT_RETENTION_SECONDS = 30 * 86_400
/** [SEN-2] The shortest retention but forever (0): one minute. */
export const MIN_RETENTION_SECONDS = 60
/** [SEN-2] The longest retention but forever (0): 100 years of 365.25 days. */
export const MAX_RETENTION_SECONDS = 36_525 * 86_400

export type Reader = PublicIdentity

export interface SensorInfo {
  sensorId: string
  owner: Reader
  /** The access list besides the owner, sorted by pseudonym. */
  readers: Reader[]
  /** SHA-256 of the credential ([SEN-4]). */
  verifier: Uint8Array
  seq: number
  /**
   * [SEN-2] How long persistence peers keep the sensor's readings, in seconds: the record's
   * `retention`, DEFAULT_RETENTION_SECONDS when it has none, 0 for forever.
   */
  retentionSeconds: number
  record: SignedRecord
}

/** [SEN-1] */
export function isSensorId (value: unknown): value is string {
  return typeof value === 'string' && SENSOR_ID_PATTERN.test(value) && value !== '.' && value !== '..'
}

/** [SEN-4] A new credential (`gms_` + 32 random bytes, base64url) and its verifier. */
export async function createSensorCredential (suite: CryptoSuite): Promise<{ credential: string, verifier: Uint8Array }> {
  const credential = `gms_${toBase64Url(suite.randomBytes(32))}`
  return { credential, verifier: await sensorVerifier(suite, credential) }
}

/** [SEN-4] verifier = SHA-256("gatemesh/sensor-credential/v1" || 0x00 || credential). */
export async function sensorVerifier (suite: CryptoSuite, credential: string): Promise<Uint8Array> {
  if (typeof credential !== 'string' || !CREDENTIAL_PATTERN.test(credential)) throw new GatemeshError('GM_ERR_MALFORMED', 'Not a sensor credential.')
  return await suite.sha256(concat(CREDENTIAL_DOMAIN, utf8(credential)))
}

/**
 * [SEN-5] Compares two SHA-256 digests in constant time: all 32 bytes are visited whatever
 * differs (the length is public; no node: import here, so no crypto.timingSafeEqual).
 */
function sameDigest (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== 32 || b.length !== 32) return false
  let diff = 0
  for (let i = 0; i < 32; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

/**
 * [SEN-5] True when the credential matches the verifier. What is compared is its digest, never
 * the credential: the time taken says nothing of how much of a guess was right.
 */
export async function checkSensorCredential (suite: CryptoSuite, verifier: Uint8Array, credential: unknown): Promise<boolean> {
  if (typeof credential !== 'string' || !CREDENTIAL_PATTERN.test(credential)) return false
  return sameDigest(await sensorVerifier(suite, credential), verifier)
}

function readerStruct (reader: Reader): Record<string, unknown> {
  return { id: reader.pseudonym, sigPub: reader.sigPub, encPub: reader.encPub }
}

export interface SensorRecordInit {
  sensorId: string
  readers?: readonly Reader[]
  verifier: Uint8Array
  /** Higher than the held record's; a grant or revocation is a new record. */
  seq: number
  /**
   * [SEN-2] Retention in seconds: 0 for forever, else MIN_RETENTION_SECONDS to
   * MAX_RETENTION_SECONDS. Absent: the record has no `retention` (DEFAULT_RETENTION_SECONDS).
   */
  retention?: number
}

/** [SEN-2] The retention rule: 0 (forever) or one minute to 100 years, whole seconds. */
function validRetention (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && (value === 0 || (value >= MIN_RETENTION_SECONDS && value <= MAX_RETENTION_SECONDS))
}

/**
 * [SEN-2] A retention as people write it: `forever`, or a duration (`90m`, `12h`, `30d`): seconds,
 * 0 for forever. GM_ERR_MALFORMED for anything else or out of bounds.
 */
export function parseRetention (text: string): number {
  if (typeof text === 'string' && text.trim() === 'forever') return 0
  const ms = typeof text === 'string' ? parseDuration(text) : undefined
  if (ms === undefined) throw new GatemeshError('GM_ERR_MALFORMED', `A retention is 'forever' or a duration such as 12h or 30d, not ${JSON.stringify(text)}.`)
  const seconds = ms / 1000
  if (!validRetention(seconds)) throw new GatemeshError('GM_ERR_MALFORMED', 'A retention is between 1 minute and 100 years (36525d), or forever.')
  return seconds
}

/** [SEN-2] Seconds of retention as people read them: `forever`, `30d`, `12h`. */
export function formatRetention (seconds: number): string {
  return seconds === 0 ? 'forever' : formatDuration(seconds * 1000)
}

/** [SEN-2] The owner signs the sensor record on the client. */
export async function createSensorRecord (suite: CryptoSuite, owner: Identity, init: SensorRecordInit): Promise<Uint8Array> {
  if (!isSensorId(init.sensorId)) throw new GatemeshError('GM_ERR_MALFORMED', 'Sensor ids are 1 to 128 of [A-Za-z0-9._-].')
  if (!(init.verifier instanceof Uint8Array) || init.verifier.length !== 32) throw new GatemeshError('GM_ERR_MALFORMED', 'A verifier is 32 bytes.')
  const readers = [...(init.readers ?? [])].filter(r => r.pseudonym !== owner.pseudonym).sort((a, b) => a.pseudonym < b.pseudonym ? -1 : 1)
  if (readers.length > MAX_READERS) throw new GatemeshError('GM_ERR_TOO_LARGE', `At most ${MAX_READERS} readers.`)
  for (let i = 1; i < readers.length; i++) {
    if (readers[i]?.pseudonym === readers[i - 1]?.pseudonym) throw new GatemeshError('GM_ERR_MALFORMED', 'A reader is listed twice.')
  }
  if (init.retention !== undefined && !validRetention(init.retention)) {
    throw new GatemeshError('GM_ERR_MALFORMED', `A retention is 0 (forever) or ${MIN_RETENTION_SECONDS} to ${MAX_RETENTION_SECONDS} seconds.`)
  }
  const body: Record<string, unknown> = { owner: { sigPub: owner.sigPub, encPub: owner.encPub }, readers: readers.map(readerStruct), verifier: init.verifier }
  // [SEN-2] absent unless given, so a record made as before is the same bytes as before
  if (init.retention !== undefined) body.retention = init.retention
  return await signRecord(suite, owner.signingKey, { type: SENSOR_RECORD_TYPE, key: init.sensorId, seq: init.seq, body })
}

async function parseReader (suite: CryptoSuite, value: unknown, what: string): Promise<Reader> {
  const struct = asStruct(value, what)
  const sigPub = bytes(struct, 'sigPub', 32)
  const encPub = bytes(struct, 'encPub', 32)
  const pseudonym = await derivePseudonym(suite, sigPub, encPub)
  if (struct.id !== undefined && struct.id !== pseudonym) throw new GatemeshError('GM_ERR_PSEUDONYM_MISMATCH', `${what}: the keys do not make the pseudonym.`)
  return { pseudonym, sigPub, encPub }
}

/** [SEN-3] Opens and checks a sensor record: signed by its owner, a well-formed access list. */
export async function verifySensorRecord (suite: CryptoSuite, encoded: Uint8Array, options: { now?: number } = {}): Promise<SensorInfo> {
  const record = await openRecord(suite, encoded, { type: SENSOR_RECORD_TYPE, now: options.now, maxBytes: 64 * 1024 })
  if (!isSensorId(record.key)) throw new GatemeshError('GM_ERR_MALFORMED', 'The record key is not a sensor id.')
  const body = record.body
  onlyKeys(body, ['owner', 'readers', 'verifier', 'retention'], 'A sensor body')
  const retention = optUint(body, 'retention')
  if (retention !== undefined && !validRetention(retention)) {
    throw new GatemeshError('GM_ERR_MALFORMED', `Field 'retention' is 0 (forever) or ${MIN_RETENTION_SECONDS} to ${MAX_RETENTION_SECONDS} seconds.`)
  }
  const ownerStruct = asStruct(body.owner, 'Field \'owner\'')
  onlyKeys(ownerStruct, ['sigPub', 'encPub'], 'Field \'owner\'')
  const owner = await parseReader(suite, ownerStruct, 'The owner')
  if (!equalBytes(record.signer, owner.sigPub)) throw new GatemeshError('GM_ERR_BAD_SIGNATURE', 'A sensor record is signed by its owner.')
  if (!Array.isArray(body.readers) || body.readers.length > MAX_READERS) throw new GatemeshError('GM_ERR_MALFORMED', `Field 'readers' lists at most ${MAX_READERS} readers.`)
  const readers: Reader[] = []
  for (const [i, item] of body.readers.entries()) {
    onlyKeys(asStruct(item, `Reader ${i}`), ['id', 'sigPub', 'encPub'], `Reader ${i}`)
    if (!isPseudonym(asStruct(item, `Reader ${i}`).id)) throw new GatemeshError('GM_ERR_MALFORMED', `Reader ${i} has no pseudonym.`)
    const reader = await parseReader(suite, item, `Reader ${i}`)
    const previous = readers[readers.length - 1]
    if (reader.pseudonym === owner.pseudonym || (previous !== undefined && previous.pseudonym >= reader.pseudonym)) {
      throw new GatemeshError('GM_ERR_MALFORMED', 'Readers are unique, sorted by pseudonym, and exclude the owner.')
    }
    readers.push(reader)
  }
  return { sensorId: record.key, owner, readers, verifier: bytes(body, 'verifier', 32), seq: record.seq, retentionSeconds: retention ?? DEFAULT_RETENTION_SECONDS, record }
}

/** Everyone a reading of this sensor is sealed for: the owner first, then the readers. */
export function sensorRecipients (sensor: Pick<SensorInfo, 'owner' | 'readers'>): Recipient[] {
  return [sensor.owner, ...sensor.readers].map(who => ({ id: who.pseudonym, publicKey: who.encPub }))
}

/** True when the pseudonym is the owner or on the access list. */
export function mayRead (sensor: Pick<SensorInfo, 'owner' | 'readers'>, pseudonym: string): boolean {
  return sensor.owner.pseudonym === pseudonym || sensor.readers.some(r => r.pseudonym === pseudonym)
}
