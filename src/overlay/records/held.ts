/**
 * Reads the record this peer already holds for a key, straight from kad-dht's datastore layout
 * (`<prefix>/record/<base32(key)>`, a serialized libp2p record). The validators need it because
 * kad-dht's PUT handler stores whatever validates without asking the selector. [OVL-13]
 */
import { Record as Libp2pRecord } from '@libp2p/kad-dht'
import { Key } from 'interface-datastore'
import { toString as toBase32 } from 'uint8arrays/to-string'
import type { Datastore } from 'interface-datastore'

export const DHT_DATASTORE_PREFIX = '/dht'

export function recordDatastoreKey (key: Uint8Array, prefix = DHT_DATASTORE_PREFIX): Key {
  return new Key(`${prefix}/record/${toBase32(key, 'base32')}`, false)
}

export interface HeldRecords {
  /** The value held for `key`, or undefined; never throws for a missing or corrupt entry. */
  get (key: Uint8Array): Promise<Uint8Array | undefined>
}

export function createHeldRecords (datastore: Datastore, prefix = DHT_DATASTORE_PREFIX): HeldRecords {
  return {
    async get (key) {
      let raw: Uint8Array
      try {
        raw = await datastore.get(recordDatastoreKey(key, prefix))
      } catch {
        return undefined
      }
      try {
        return Libp2pRecord.deserialize(raw).value
      } catch {
        return undefined
      }
    }
  }
}
