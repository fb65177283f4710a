/**
 * The overlay's durable datastore: LevelDB under `<dataDir>/datastore`, holding the DHT records
 * this peer stores (kad-dht's copy and the overlay's own, records/held.ts), so they survive a
 * restart. libp2p's peer store stays in memory. [OVL-25]
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { LevelDatastore } from 'datastore-level'

export async function openDatastore (dataDir: string): Promise<LevelDatastore> {
  const dir = join(dataDir, 'datastore')
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const datastore = new LevelDatastore(dir)
  await datastore.open()
  return datastore
}
