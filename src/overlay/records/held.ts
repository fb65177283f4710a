/**
 * The records this peer holds, in the overlay's own part of the datastore
 * (`/gatemesh/held/<base32(key)>` → the record's value). [OVL-25] The validators need the held
 * record because kad-dht's PUT handler stores whatever validates without asking the selector
 * [OVL-13]; republishing [OVL-26] walks them.
 *
 * The overlay does not read kad-dht's datastore layout. kad-dht is given a datastore that passes
 * every call through and, when kad-dht stores a value that is a DHT record (the libp2p `Record`,
 * the DHT's wire format) whose key is under a registered namespace, keeps a copy here.
 */
import { Record as Libp2pRecord } from '@libp2p/kad-dht'
import { equalBytes } from '../../core/index.ts'
import { Key } from 'interface-datastore'
import { fromString as fromBase32 } from 'uint8arrays/from-string'
import { toString as toBase32 } from 'uint8arrays/to-string'
import type { Datastore } from 'interface-datastore'

const PREFIX = '/gatemesh/held'

export interface HeldRecords {
  /** The value held for `key`, or undefined; never throws for a missing or corrupt entry. */
  get (key: Uint8Array): Promise<Uint8Array | undefined>
}

export interface HeldRecordStore extends HeldRecords {
  put (key: Uint8Array, value: Uint8Array): Promise<void>
  delete (key: Uint8Array): Promise<void>
  /** Every held record. */
  all (): AsyncIterable<{ key: Uint8Array, value: Uint8Array }>
}

function heldKey (key: Uint8Array): Key {
  return new Key(`${PREFIX}/${toBase32(key, 'base32')}`, false)
}

export function createHeldRecords (datastore: Datastore): HeldRecordStore {
  return {
    async get (key) {
      try {
        return await datastore.get(heldKey(key))
      } catch {
        return undefined
      }
    },
    async put (key, value) {
      await datastore.put(heldKey(key), value)
    },
    async delete (key) {
      try {
        await datastore.delete(heldKey(key))
      } catch {
        // already gone
      }
    },
    async * all () {
      for await (const { key, value } of datastore.query({ prefix: PREFIX })) {
        let bytes: Uint8Array
        try {
          bytes = fromBase32(key.toString().slice(PREFIX.length + 1), 'base32')
        } catch {
          continue
        }
        yield { key: bytes, value }
      }
    }
  }
}

/**
 * The datastore kad-dht is given: `datastore` itself, except that a DHT record kad-dht writes
 * whose key `keep` accepts is also written to `held`, and, when its value changed, told to
 * `onHeld` ([OVL-37]).
 */
export function recordingDatastore (datastore: Datastore, held: HeldRecordStore, keep: (key: Uint8Array) => boolean, onHeld?: (key: Uint8Array) => void): Datastore {
  const put: Datastore['put'] = async (key, value, options) => {
    const written = await datastore.put(key, value, options)
    let record: Libp2pRecord | undefined
    try {
      record = Libp2pRecord.deserialize(value)
    } catch {
      record = undefined
    }
    if (record !== undefined && keep(record.key)) {
      // told only when the value changed: a peer re-putting the record held (a republish, or a
      // rogue peer replaying it) is not news ([OVL-37])
      const before = onHeld === undefined ? undefined : await held.get(record.key)
      await held.put(record.key, record.value)
      if (before === undefined || !equalBytes(before, record.value)) onHeld?.(record.key)
    }
    return written
  }
  return new Proxy(datastore, {
    get (target, property, receiver) {
      if (property === 'put') return put
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}
