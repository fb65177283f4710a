/**
 * Keeps the CRL in force current. [OVL-22] Every `interval` ms a peer fetches the CRL from the CA
 * (when it knows the CA's URL) and reads `/gm-crl/ca` from the DHT; a verified CRL with a higher
 * number replaces the one in force and, if it came from the CA, is published into the DHT. A CRL
 * also arrives in certificate-exchange hellos and DHT PUTs. With the default interval of 20 s a
 * revocation takes effect everywhere well within 60 s of its publication. [OVL-23]
 */
import { encode, rfc8949EncodeOptions } from 'cborg'
import { createLogger } from '../../platform/logger.ts'
import { CRL_KEY, decodeCrlValue, keyBytes } from '../records/index.ts'
import type { RevocationState } from './state.ts'
import type { CertificateTrust, VerifiedRevocationList } from '../types.ts'
import type { Startable } from '@libp2p/interface'

export const DEFAULT_CRL_INTERVAL = 20_000

export interface CrlSyncComponents {
  trust: CertificateTrust
  revocations: RevocationState
  fetchRevocationList?: () => Promise<Uint8Array>
  dhtGet: (key: Uint8Array) => Promise<Uint8Array | undefined>
  dhtPut: (key: Uint8Array, value: Uint8Array) => Promise<void>
  localGet: (key: Uint8Array) => Promise<Uint8Array | undefined>
  /** Re-checks connected peers against the CRL in force and the clock, after every round. [OVL-23] */
  recheck?: () => Promise<void>
}

export interface CrlSyncInit {
  interval?: number
}

export function encodeCrlValue (list: VerifiedRevocationList): Uint8Array {
  return encode({ n: list.number, der: list.der }, rfc8949EncodeOptions)
}

export class CrlSync implements Startable {
  private readonly components: CrlSyncComponents
  private readonly interval: number
  private readonly log = createLogger('gatemesh:overlay:crl')
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false

  constructor (components: CrlSyncComponents, init: CrlSyncInit = {}) {
    this.components = components
    this.interval = init.interval ?? DEFAULT_CRL_INTERVAL
  }

  isStarted (): boolean { return this.running }

  /** A restarted peer enforces the CRL it held before, before it accepts any connection. */
  async restore (): Promise<void> {
    const held = await this.components.localGet(keyBytes(CRL_KEY))
    if (held !== undefined) await this.adoptValue(held).catch(() => {})
  }

  async start (): Promise<void> {
    this.running = true
    this.schedule(0)
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
  }

  /** One round: CA first, then the DHT. Never throws. */
  async sync (): Promise<void> {
    const { fetchRevocationList } = this.components
    if (fetchRevocationList !== undefined) {
      try {
        const list = await this.components.trust.verifyRevocationList(await fetchRevocationList())
        if (this.components.revocations.offer(list)) {
          this.log.info({ number: list.number, revoked: list.serials.size }, 'new CRL from the CA')
        }
      } catch (err) {
        this.log.debug({ err }, 'CRL fetch from the CA failed')
      }
    }
    try {
      const value = await this.components.dhtGet(keyBytes(CRL_KEY))
      if (value !== undefined) await this.adoptValue(value)
    } catch (err) {
      this.log.debug({ err }, 'CRL read from the DHT failed')
    }
    await this.components.recheck?.().catch((err: unknown) => { this.log.debug({ err }, 'recheck failed') })
    const current = this.components.revocations.current()
    if (current !== undefined) {
      // publish (or refresh) the newest CRL we know; stale puts are refused by the validators
      const value = encodeCrlValue(current)
      const held = await this.components.localGet(keyBytes(CRL_KEY))
      const heldNumber = held === undefined ? -1 : safeNumber(held)
      if (heldNumber < current.number) {
        await this.components.dhtPut(keyBytes(CRL_KEY), value).catch((err: unknown) => {
          this.log.debug({ err }, 'CRL publication failed')
        })
      }
    }
  }

  private async adoptValue (value: Uint8Array): Promise<void> {
    const { der } = decodeCrlValue(value)
    const list = await this.components.trust.verifyRevocationList(der)
    if (this.components.revocations.offer(list)) this.log.info({ number: list.number }, 'new CRL from the DHT')
  }

  private schedule (delay: number): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      void this.sync().finally(() => { this.schedule(this.interval) })
    }, delay)
    this.timer.unref?.()
  }
}

function safeNumber (value: Uint8Array): number {
  try {
    return decodeCrlValue(value).n
  } catch {
    return -1
  }
}
