/**
 * Republishing. [OVL-26] kad-dht stores records but never republishes them, and forgets a record
 * 48 h after it arrived. Every `interval` ms a peer re-puts each record it holds (still valid) to
 * the peers now closest to its key, so records outlive churn: when peers leave, the new closest
 * peers receive copies. A record that no longer validates (expired, revoked signer) is dropped.
 */
import { createLogger } from '../platform/logger.ts'
import type { HeldRecordStore } from './records/index.ts'
import type { Startable } from '@libp2p/interface'

export const DEFAULT_REPUBLISH_INTERVAL = 60 * 60 * 1000

export interface RepublisherComponents {
  /** The records this peer holds (the overlay's own copy, records/held.ts). */
  held: HeldRecordStore
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
    const held: Array<{ key: Uint8Array, value: Uint8Array }> = []
    for await (const record of this.components.held.all()) held.push(record)
    let count = 0
    for (const { key, value } of held) {
      if (!this.running) break
      try {
        await this.components.validate(key, value)
      } catch (err) {
        this.log.debug({ err }, 'dropping a held record that no longer validates')
        await this.components.held.delete(key)
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
