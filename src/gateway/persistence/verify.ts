/**
 * What a replica checks before it stores anything ([PER-2] `store`): the collecting gateway's
 * certificate (valid now, certified for collector, not revoked by the overlay's current CRL),
 * the sensor's record in the overlay, and who pushes it. The envelope's and checkpoint's own
 * signatures are checked by the store handler (verifyEnvelope, openCheckpoint).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { GatemeshError, isGatemeshError, toHex } from '../../core/index.ts'
import { gwPeerId, verifyCollectorCertificate } from '../collector-certificate.ts'
import type { CertificateTrust, VerifiedPeer, VerifiedRevocationList } from '../../overlay/index.ts'

export { gwPeerId }

/** A sensor known (or not) this long before the overlay is asked again. */
const SENSOR_KNOWN_MS = 5 * 60_000
const SENSOR_UNKNOWN_MS = 10_000
/**
 * A sensor whose look-up failed (no peer answered, [OVL-36]: just after a start, before the
 * routing table fills) is asked about again after this: not held for unknown 10 s, which held a
 * restarted replica's repair back ~10 s once.
 */
const SENSOR_LOOKUP_FAILED_MS = 1000
const SENSOR_CACHE_SIZE = 100_000

export interface StoreVerifierComponents {
  trust: CertificateTrust
  revocations: () => VerifiedRevocationList | undefined
  /** Whether the overlay holds a record for the sensor (a DHT lookup). */
  sensorExists: (sensorId: string) => Promise<boolean>
  now?: () => number
}

/** The Ed25519 key (32 bytes) a peer id names. */
export function peerKey (peerId: string): Uint8Array {
  const key = peerIdFromString(peerId).publicKey
  if (key === undefined || key.type !== 'Ed25519') throw new GatemeshError('GM_ERR_PERSISTENCE_FORBIDDEN', 'The peer has no Ed25519 key.')
  return key.raw
}

/** [PER-2] A collector pushes only its own items; a persistence peer (repair) any certified collector's. */
export function mayPush (pusher: VerifiedPeer, pusherKeyHex: string, gwHex: string): boolean {
  return pusher.services.includes('persistence') || pusherKeyHex === gwHex
}

export class StoreVerifier {
  private readonly components: StoreVerifierComponents
  private readonly now: () => number
  private readonly sensors = new Map<string, { known: boolean, until: number, pending?: Promise<boolean | 'failed'> }>()

  constructor (components: StoreVerifierComponents) {
    this.components = components
    this.now = components.now ?? Date.now
  }

  /**
   * [PER-2] The gateway `gw`'s certificate `der` is the CA's, for gw's peer id, valid now, not
   * revoked and certified for collector: resolves to its validity (kept beside it, [PER-20]).
   * Throws GM_ERR_PERSISTENCE_CERT_REJECTED otherwise.
   */
  async checkCollector (gw: Uint8Array, der: Uint8Array | undefined): Promise<{ notBefore: Date, notAfter: Date }> {
    if (der === undefined) throw new GatemeshError('GM_ERR_PERSISTENCE_CERT_REJECTED', 'No certificate of the collecting gateway was given or is held.')
    let cert
    try {
      // the check shared with the stream relay ([STR-31]); persistence reports it with its own code
      cert = await verifyCollectorCertificate(this.components.trust, der, { peerId: gwPeerId(gw), revocations: this.components.revocations(), now: new Date(this.now()) })
    } catch (err) {
      if (isGatemeshError(err, 'GM_ERR_RECORD_NOT_COLLECTOR')) throw new GatemeshError('GM_ERR_PERSISTENCE_CERT_REJECTED', 'The certificate does not grant collector.')
      throw new GatemeshError('GM_ERR_PERSISTENCE_CERT_REJECTED', isGatemeshError(err) ? `(${err.code})` : undefined, { cause: err })
    }
    return { notBefore: cert.notBefore, notAfter: cert.notAfter }
  }

  /**
   * [PER-2] The overlay holds a record for the sensor (cached: 5 min when found, 10 s when not,
   * 1 s when the look-up failed).
   * A known sensor stays known while it is looked up again, in the background (a push never waits
   * for it); an unknown or new one is looked up before the answer. Throws GM_ERR_PERSISTENCE_SENSOR_UNKNOWN.
   */
  async checkSensor (sensorId: string): Promise<void> {
    const t = this.now()
    let entry = this.sensors.get(sensorId)
    if (entry === undefined || (entry.pending === undefined && entry.until <= t)) {
      const known = entry?.known === true
      if (entry === undefined) {
        if (this.sensors.size >= SENSOR_CACHE_SIZE) this.sensors.delete(this.sensors.keys().next().value as string)
        entry = { known: false, until: 0 }
        this.sensors.set(sensorId, entry)
      }
      const held = entry
      const pending = this.components.sensorExists(sensorId).catch(() => 'failed' as const)
      held.pending = pending
      const settle = (found: boolean | 'failed'): void => {
        // a failed look-up changes nothing: a known sensor stays known, an unknown one unknown
        held.known = found === 'failed' ? known : found
        held.until = this.now() + (found === 'failed' ? SENSOR_LOOKUP_FAILED_MS : found ? SENSOR_KNOWN_MS : SENSOR_UNKNOWN_MS)
        held.pending = undefined
      }
      if (known) {
        void pending.then(settle)
        return
      }
      settle(await pending)
    } else if (entry.pending !== undefined && !entry.known) {
      await entry.pending
    }
    if (!entry.known) throw new GatemeshError('GM_ERR_PERSISTENCE_SENSOR_UNKNOWN', `(${sensorId})`)
  }
}

export function hex (bytes: Uint8Array): string {
  return toHex(bytes)
}
