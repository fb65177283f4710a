/**
 * Republishing. [OVL-26] kad-dht stores records but never republishes them, and forgets a record
 * 48 h after it arrived. Every `interval` ms a peer re-puts each record it holds (still valid) to
 * the peers now closest to its key, so records outlive churn: when peers leave, the new closest
 * peers receive copies. A record that no longer validates (expired, revoked signer) is dropped.
 */
import { Record as Libp2pRecord } from '@libp2p/kad-dht'
import { createLogger } from '../platform/logger.ts'
import { DHT_DATASTORE_PREFIX } from './records/index.ts'
import type { Startable } from '@libp2p/interface'
import type { Datastore, Key } from 'interface-datastore'

export const DEFAULT_REPUBLISH_INTERVAL = 60 * 60 * 1000

export interface RepublisherComponents {
  datastore: Datastore
  validate: (key: Uint8Array, value: Uint8Array) => Promise<void>
  publish: (key: Uint8Array, value: Uint8Array) => Promise<void>
}

export interface RepublisherInit {
  interval?: number
}

export class Republisher implements Startable {
  private readonly components: RepublisherComponents
  private readonly interval: number
  private readonly log = createLogger('gatemesh:overlay:republish')
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false

  constructor (components: RepublisherComponents, init: RepublisherInit = {}) {
    this.components = components
    this.interval = init.interval ?? DEFAULT_REPUBLISH_INTERVAL
  }

  isStarted (): boolean { return this.running }

  async start (): Promise<void> {
    this.running = true
    this.schedule()
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
  }

  /** Republishes every held record once; returns how many were republished. */
  async republishAll (): Promise<number> {
    const held: Array<{ dsKey: Key, key: Uint8Array, value: Uint8Array }> = []
    for await (const { key: dsKey, value } of this.components.datastore.query({ prefix: `${DHT_DATASTORE_PREFIX}/record` })) {
      try {
        const record = Libp2pRecord.deserialize(value)
        held.push({ dsKey, key: record.key, value: record.value })
      } catch {
        await quietly(async () => { await this.components.datastore.delete(dsKey) })
      }
    }
    let count = 0
    for (const { dsKey, key, value } of held) {
      if (!this.running) break
      try {
        await this.components.validate(key, value)
      } catch (err) {
        this.log.debug({ err }, 'dropping a held record that no longer validates')
        await quietly(async () => { await this.components.datastore.delete(dsKey) })
        continue
      }
      try {
        await this.components.publish(key, value)
        count++
      } catch (err) {
        this.log.debug({ err }, 'republish failed')
      }
    }
    return count
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      void this.republishAll()
        .then(count => { this.log.debug({ count }, 'republished') })
        .finally(() => { this.schedule() })
    }, this.interval)
    this.timer.unref?.()
  }
}

async function quietly (fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch {
    // best effort
  }
}
