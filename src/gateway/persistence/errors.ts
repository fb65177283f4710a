/** The persistence service's error codes (engines, replication, repair). Documented in docs/ERRORS.md. */
import { defineErrors } from '../../core/error-table.ts'

export const PERSISTENCE_ERRORS = defineErrors({
  // engines
  GM_ERR_PERSISTENCE_ENGINE: { status: 503, message: 'The persistence storage engine failed or cannot be reached.' },
  // replication: the wire protocol, the replica's handlers, the collector's sink and outbox
  GM_ERR_PERSISTENCE_BAD_REQUEST: { status: 400, message: 'The persistence request or response is not well formed.' },
  GM_ERR_PERSISTENCE_FORBIDDEN: { status: 403, message: 'This peer may not make this persistence request.' },
  GM_ERR_PERSISTENCE_CERT_REJECTED: { status: 403, message: 'The collecting gateway\'s certificate is missing, invalid, revoked or not certified for collector.' },
  GM_ERR_PERSISTENCE_SENSOR_UNKNOWN: { status: 404, message: 'No sensor record with this id is in the overlay.' },
  GM_ERR_PERSISTENCE_FULL: { status: 507, message: 'The persistence peer\'s storage is full.' },
  GM_ERR_PERSISTENCE_UNREACHABLE: { status: 503, message: 'The persistence peer could not be reached or closed the stream.' },
  GM_ERR_PERSISTENCE_TIMEOUT: { status: 504, message: 'The persistence peer did not answer in time.' },
  GM_ERR_PERSISTENCE_INTERNAL: { status: 500, message: 'The persistence peer failed unexpectedly.' },
  GM_ERR_PERSISTENCE_OUTBOX: { status: 500, message: 'The persistence outbox could not be written or read.' },
  GM_ERR_PERSISTENCE_OUTBOX_FULL: { status: 503, message: 'The persistence outbox is full; readings wait in the journal until replicas confirm what it holds.' }
})
