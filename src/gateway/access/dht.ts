/**
 * The narrow view of the overlay the access service needs, and the DHT keys it reads and writes.
 * The composition root backs `AccessDht` with the overlay, which validates every record it puts.
 */
import { GatemeshError, isGatemeshError } from '../../core/errors.ts'

export interface AccessDht {
  /** The value held under `key`, or undefined when the overlay has none. */
  get (key: string): Promise<Uint8Array | undefined>
  /** Stores a value; the overlay validates it and may refuse it with a GatemeshError. */
  put (key: string, value: Uint8Array): Promise<void>
}

/** [ACS-2] The DHT keys of the namespaces the access service uses. */
export const keys = {
  account: (pseudonym: string): string => `/gm-account/${pseudonym}`,
  sensor: (sensorId: string): string => `/gm-sensor/${sensorId}`,
  latest: (sensorId: string): string => `/gm-latest/${sensorId}`,
  accessIndex: (pseudonym: string): string => `/gm-access/${pseudonym}`
}

/**
 * A get that turns an overlay failure into GM_ERR_ACCESS_UNAVAILABLE (GatemeshErrors pass). The
 * overlay's "no record" error counts as no value, so the overlay's own get can back `AccessDht`.
 */
export async function dhtGet (dht: AccessDht, key: string): Promise<Uint8Array | undefined> {
  try {
    return await dht.get(key)
  } catch (err) {
    if (isGatemeshError(err, 'GM_ERR_RECORD_NOT_FOUND')) return undefined
    if (isGatemeshError(err)) throw err
    throw new GatemeshError('GM_ERR_ACCESS_UNAVAILABLE', 'The overlay did not answer.', { cause: err })
  }
}

/**
 * A put that turns an overlay failure into GM_ERR_ACCESS_UNAVAILABLE (GatemeshErrors pass, such as
 * the overlay's validation refusals). [ACS-2] When no peer accepted the record the overlay keeps
 * it locally and republishes it, so that counts as stored.
 */
export async function dhtPut (dht: AccessDht, key: string, value: Uint8Array): Promise<void> {
  try {
    await dht.put(key, value)
  } catch (err) {
    if (isGatemeshError(err, 'GM_ERR_DHT_PUT_FAILED')) return
    if (isGatemeshError(err)) throw err
    throw new GatemeshError('GM_ERR_ACCESS_UNAVAILABLE', 'The overlay refused or lost the write.', { cause: err })
  }
}
