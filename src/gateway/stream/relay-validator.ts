/**
 * What a stream peer checks of a relay message before it hands its readings to the broker
 * ([STR-31]): the message decodes ([STR-30]); its `cert` is the CA's certificate of the peer that
 * sent the message (`from`: the verified remote peer of the relay stream it came on), valid now, not revoked by the overlay's
 * current CRL, granting collector (the check persistence makes, collector-certificate.ts); every
 * envelope verifies ([ENV-6], its batch proof [ENV-9], each batch signature verified once per
 * message) and was sealed by that very collector (`gw` is its key). The stream peer reads the
 * envelope's `sensor` and nothing else of it: it opens nothing.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { GatemeshError, encodeStreamPayload, equalBytes, isGatemeshError, verifyEnvelope } from '../../core/index.ts'
import { verifyCollectorCertificate } from '../collector-certificate.ts'
import { decodeRelayMessage } from './relay-message.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { CertificateTrust, VerifiedRevocationList } from '../../overlay/index.ts'

/** A reading as the broker takes it ([STR-33]): its sensor and the STR-20 stream payload. */
export interface StreamReading {
  sensorId: string
  payload: Uint8Array
}

/** The broker's injection: `broker.deliver` (section 3 of the stream design). */
export type DeliverReadings = (readings: StreamReading[]) => void

export interface RelayValidatorComponents {
  suite: CryptoSuite
  /** The gateway's CA trust (it caches verified certificates by DER hash, peer and CRL number). */
  trust: CertificateTrust
  /** The overlay's current CRL ([OVL-21]). */
  revocations: () => VerifiedRevocationList | undefined
  now?: () => number
}

/** The Ed25519 key (32 bytes) a peer id names, or undefined. */
function keyOf (peerId: string): Uint8Array | undefined {
  try {
    const key = peerIdFromString(peerId).publicKey
    return key?.type === 'Ed25519' ? key.raw : undefined
  } catch {
    return undefined
  }
}

/**
 * [STR-31] Validates the relay message `data` sent by the peer `from`: resolves to its readings
 * as the broker takes them, in the message's order; throws a GatemeshError with one of the
 * relay's codes (relay-errors.ts) otherwise (the whole message is refused: one bad envelope taints the
 * batch its sender signed).
 */
export async function validateRelayMessage (components: RelayValidatorComponents, from: string, data: Uint8Array): Promise<StreamReading[]> {
  const message = decodeRelayMessage(data)
  const gw = keyOf(from)
  if (gw === undefined) throw new GatemeshError('GM_ERR_STREAM_RELAY_CERT_REJECTED', 'The sending peer has no Ed25519 key.')
  try {
    await verifyCollectorCertificate(components.trust, message.cert, { peerId: from, revocations: components.revocations(), now: new Date((components.now ?? Date.now)()) })
  } catch (err) {
    throw new GatemeshError('GM_ERR_STREAM_RELAY_CERT_REJECTED', isGatemeshError(err) ? `(${err.code})` : undefined, { cause: err })
  }
  // [ENV-9] one Ed25519 verification per batch signature within the message
  const verifiedBatches = new Set<string>()
  const readings: StreamReading[] = []
  for (let i = 0; i < message.envs.length; i++) {
    const env = message.envs[i] as Uint8Array
    let opened
    try {
      opened = await verifyEnvelope(components.suite, env, { verifiedBatches })
    } catch (err) {
      throw new GatemeshError('GM_ERR_STREAM_RELAY_BAD_ENVELOPE', `Envelope ${i}${isGatemeshError(err) ? ` (${err.code})` : ''}.`, { cause: err })
    }
    if (!equalBytes(opened.gw, gw)) throw new GatemeshError('GM_ERR_STREAM_RELAY_WRONG_GATEWAY', `Envelope ${i} was sealed by another gateway.`)
    readings.push({ sensorId: opened.sensor, payload: encodeStreamPayload({ env, cert: message.cert }) })
  }
  return readings
}
