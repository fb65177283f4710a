/**
 * The stream service's relay side as the composition root runs it ([STR-33], [STR-36]): the
 * relay (handling the relay protocol, validating) in front of the local broker, and the broker's injection offered
 * to this gateway's collector (`local.streamDeliver`). The broker itself is given: anything with
 * `deliver` and, optionally, `start`, `stop`, `status` and `endpoints` (the MQTT broker's shape).
 */
import { createStreamRelay } from './relay.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { CertificateTrust, VerifiedRevocationList } from '../../overlay/index.ts'
import type { DeliverReadings, RelayOverlay, StreamRelayStatus } from './relay.ts'

/** What the relay needs of a broker: `deliver`; the rest runs with the service when present. */
export interface RelayBroker {
  deliver: DeliverReadings
  start?: () => Promise<void>
  stop?: () => Promise<void>
  status?: () => object
  endpoints?: () => { mqtt: string, ws: string }
}

export interface StreamGatewayServiceComponents {
  overlay: RelayOverlay & { currentRevocationList: () => VerifiedRevocationList | undefined }
  suite: CryptoSuite
  trust: CertificateTrust
  /** Where this gateway's collector finds the local broker ([STR-36]). */
  local: { streamDeliver?: DeliverReadings }
  broker: RelayBroker
  logger: Logger
}

export interface StreamGatewayService {
  start: () => Promise<void>
  stop: () => Promise<void>
  status: () => { relay: StreamRelayStatus, broker: object | null }
  endpoints: () => { mqtt: string, ws: string } | undefined
}

export function createStreamGatewayService ({ overlay, suite, trust, local, broker, logger }: StreamGatewayServiceComponents): StreamGatewayService {
  const relay = createStreamRelay({
    suite,
    trust,
    revocations: () => overlay.currentRevocationList(),
    overlay,
    deliver: readings => { broker.deliver(readings) },
    logger
  })
  // [STR-36] a collector sends nothing to itself: this gateway's collector hands its batches here
  local.streamDeliver = readings => { broker.deliver(readings) }
  let relayStarted = false
  return {
    async start () {
      await broker.start?.()
      await relay.start()
      relayStarted = true
    },
    async stop () {
      if (relayStarted) await relay.stop()
      relayStarted = false
      await broker.stop?.()
    },
    status: () => ({ relay: relay.status(), broker: broker.status?.() ?? null }),
    endpoints: () => broker.endpoints?.()
  }
}
