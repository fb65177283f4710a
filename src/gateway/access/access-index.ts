/**
 * The access index: per user, the ids of the sensors the user owns or may read, so that a user
 * can list them. A record `/gm-access/<pseudonym>` of type `access-index`, signed by the access
 * gateway that last changed it. It is advisory: whoever lists re-checks every id against the
 * sensor record itself. [ACS-11] .. [ACS-13]
 */
import type { CryptoSuite, SigningKey } from '../../core/index.ts'
import { GatemeshError, isGatemeshError, isSensorId, openRecord, signRecord } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import { dhtGet, dhtPut, keys, type AccessDht } from './dht.ts'

export const ACCESS_INDEX_TYPE = 'access-index'
/** Keeps an index record below the overlay's 256 KiB record limit (ids are at most 128 characters). */
export const MAX_INDEX_SENSORS = 1000
const MAX_INDEX_BYTES = 256 * 1024
/** Indexes read at once by checkRoom. */
const READ_CONCURRENCY = 8

function indexFull (pseudonym: string): GatemeshError {
  return new GatemeshError('GM_ERR_ACCESS_INDEX_FULL', `The index of ${pseudonym} lists ${MAX_INDEX_SENSORS} sensors.`)
}

export interface AccessIndex {
  pseudonym: string
  sensors: string[]
  seq: number
}

/** [ACS-11] Opens and checks an index record: signature, type, key, body shape. */
export async function openAccessIndex (suite: CryptoSuite, encoded: Uint8Array, pseudonym: string): Promise<AccessIndex> {
  const record = await openRecord(suite, encoded, { type: ACCESS_INDEX_TYPE, maxBytes: MAX_INDEX_BYTES })
  if (record.key !== pseudonym) throw new GatemeshError('GM_ERR_MALFORMED', 'The index is for another pseudonym.')
  const { sensors, gatewayCert } = record.body
  const extra = Object.keys(record.body).filter(name => name !== 'sensors' && name !== 'gatewayCert')
  if (extra.length > 0 || !(gatewayCert instanceof Uint8Array)) throw new GatemeshError('GM_ERR_MALFORMED', 'An index body is { sensors, gatewayCert }.')
  if (!Array.isArray(sensors) || sensors.length > MAX_INDEX_SENSORS) throw new GatemeshError('GM_ERR_MALFORMED', 'Field \'sensors\' must be a list.')
  for (let i = 0; i < sensors.length; i++) {
    if (!isSensorId(sensors[i]) || (i > 0 && (sensors[i - 1] as string) >= (sensors[i] as string))) {
      throw new GatemeshError('GM_ERR_MALFORMED', 'Field \'sensors\' lists sensor ids, sorted and unique.')
    }
  }
  return { pseudonym, sensors: sensors as string[], seq: record.seq }
}

/** [ACS-11] Signs an index record with the gateway's key. */
export async function createAccessIndex (suite: CryptoSuite, signer: SigningKey, init: { pseudonym: string, sensors: readonly string[], seq: number, gatewayCert: Uint8Array }): Promise<Uint8Array> {
  const sensors = [...new Set(init.sensors)].sort()
  if (sensors.length > MAX_INDEX_SENSORS) throw new GatemeshError('GM_ERR_TOO_LARGE', `An index lists at most ${MAX_INDEX_SENSORS} sensors.`)
  return await signRecord(suite, signer, {
    type: ACCESS_INDEX_TYPE,
    key: init.pseudonym,
    seq: init.seq,
    body: { sensors, gatewayCert: init.gatewayCert }
  })
}

export interface AccessIndexerComponents {
  suite: CryptoSuite
  dht: AccessDht
  logger: Logger
  signer: SigningKey
  /** The gateway's DER certificate, or a function giving the current one (it changes on renewal). */
  certificate: Uint8Array | (() => Uint8Array)
}

export interface IndexChange {
  add?: readonly string[]
  remove?: readonly string[]
}

/**
 * Reads, changes and writes index records. Changes to one pseudonym's index are serialized in
 * this process; two gateways changing one index at once may lose an update (the index is
 * advisory; the next change of that sensor repairs it). [ACS-12]
 */
export class AccessIndexer {
  private readonly components: AccessIndexerComponents
  private readonly queues = new Map<string, Promise<void>>()

  constructor (components: AccessIndexerComponents) {
    this.components = components
  }

  /** The index of a pseudonym; undefined when missing or unreadable (GM_ERR_ACCESS_UNAVAILABLE when the overlay does not answer). */
  async read (pseudonym: string): Promise<AccessIndex | undefined> {
    try {
      const encoded = await dhtGet(this.components.dht, keys.accessIndex(pseudonym))
      if (encoded === undefined) return undefined
      return await openAccessIndex(this.components.suite, encoded, pseudonym)
    } catch (err) {
      // An overlay that does not answer is reported; one that refuses the namespace is not fatal.
      if (isGatemeshError(err, 'GM_ERR_ACCESS_UNAVAILABLE') || !isGatemeshError(err)) throw err
      this.components.logger.warn({ code: (err as GatemeshError).code }, 'unreadable access index ignored')
      return undefined
    }
  }

  /**
   * [ACS-12] Refuses (GM_ERR_ACCESS_INDEX_FULL) when the index of any of `pseudonyms` is full
   * and does not list `sensorId` yet: checked before a sensor record is stored, so that no
   * sensor is stored that an index would silently leave out.
   */
  async checkRoom (pseudonyms: readonly string[], sensorId: string): Promise<void> {
    for (let i = 0; i < pseudonyms.length; i += READ_CONCURRENCY) {
      const batch = pseudonyms.slice(i, i + READ_CONCURRENCY)
      const held = await Promise.all(batch.map(async p => await this.read(p)))
      held.forEach((index, j) => {
        if (index !== undefined && index.sensors.length >= MAX_INDEX_SENSORS && !index.sensors.includes(sensorId)) {
          throw indexFull(batch[j] as string)
        }
      })
    }
  }

  /** Applies a change to one pseudonym's index; resolves once it is written (or needed no write). */
  async update (pseudonym: string, change: IndexChange): Promise<void> {
    const previous = this.queues.get(pseudonym) ?? Promise.resolve()
    const next = previous.then(async () => { await this.apply(pseudonym, change) })
    const settled = next.catch(() => {})
    this.queues.set(pseudonym, settled)
    void settled.then(() => { if (this.queues.get(pseudonym) === settled) this.queues.delete(pseudonym) })
    await next
  }

  private async apply (pseudonym: string, change: IndexChange): Promise<void> {
    const held = await this.read(pseudonym)
    const sensors = new Set(held?.sensors ?? [])
    let changed = false
    for (const id of change.remove ?? []) changed = sensors.delete(id) || changed
    for (const id of change.add ?? []) {
      if (sensors.has(id)) continue
      // A full index refuses; it never drops the entry in silence. [ACS-12]
      if (sensors.size >= MAX_INDEX_SENSORS) throw indexFull(pseudonym)
      sensors.add(id)
      changed = true
    }
    if (!changed) return
    // [ACS-12] seq: above the held one, and a clock value so that a gateway that could not read
    // the held index still writes one that wins.
    const seq = Math.max((held?.seq ?? 0) + 1, Date.now())
    const certificate = this.components.certificate
    const record = await createAccessIndex(this.components.suite, this.components.signer, {
      pseudonym, sensors: [...sensors], seq, gatewayCert: typeof certificate === 'function' ? certificate() : certificate
    })
    await dhtPut(this.components.dht, keys.accessIndex(pseudonym), record)
  }
}
