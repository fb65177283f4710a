/**
 * The overlay's error codes. Every failure of the certificate gate, the record namespaces and the
 * revocation sync has its own stable code; docs/PROTOCOL.md lists them.
 */
import { defineErrors } from '../core/error-table.ts'

export const OVERLAY_ERRORS = defineErrors({
  GM_ERR_OVERLAY_CONFIG: { status: 400, message: 'The overlay configuration is invalid.' },
  GM_ERR_OVERLAY_NOT_STARTED: { status: 503, message: 'The overlay node is not running.' },
  GM_ERR_OVERLAY_REGISTERED: { status: 409, message: 'A DHT namespace or a protocol of that name is already registered.' },

  // Certificate gate [OVL-1..OVL-8]
  GM_ERR_CERT_MISSING: { status: 401, message: 'The peer presented no certificate.' },
  GM_ERR_CERT_REJECTED: { status: 403, message: 'The peer certificate does not verify against the gatemesh CA.' },
  GM_ERR_CERT_EXCHANGE_MALFORMED: { status: 400, message: 'The certificate exchange message is malformed.' },
  GM_ERR_CERT_EXCHANGE_TIMEOUT: { status: 504, message: 'The certificate exchange did not complete in time.' },
  GM_ERR_CERT_EXCHANGE_INTERRUPTED: { status: 502, message: 'The certificate exchange was cut short: its stream or connection closed before it completed.' },
  GM_ERR_CERT_REFUSED_BY_PEER: { status: 403, message: 'The remote peer refused our certificate.' },
  GM_ERR_PEER_NOT_VERIFIED: { status: 403, message: 'The peer has not presented a verified certificate.' },
  GM_ERR_PEER_REVOKED: { status: 403, message: 'The peer certificate has been revoked.' },

  // Record namespaces [OVL-10..OVL-19]
  GM_ERR_RECORD_KEY: { status: 400, message: 'The DHT key is malformed or names an unknown namespace.' },
  GM_ERR_RECORD_KEY_MISMATCH: { status: 400, message: 'The record does not belong to the DHT key it is stored under.' },
  GM_ERR_RECORD_SIGNER: { status: 403, message: 'The record is not signed by the key its namespace requires.' },
  GM_ERR_RECORD_OWNER_CHANGED: { status: 403, message: 'The record is signed by another owner than the record already held.' },
  GM_ERR_RECORD_NOT_COLLECTOR: { status: 403, message: 'The reading is not signed by a certified gateway with the collector role.' },
  GM_ERR_RECORD_NOT_ACCESS: { status: 403, message: 'The access index is not signed by a certified gateway with the access role.' },
  GM_ERR_RECORD_NOT_FOUND: { status: 404, message: 'No record is stored under this key.' },
  GM_ERR_DHT_PUT_FAILED: { status: 502, message: 'No peer accepted the record.' },
  GM_ERR_DHT_GET_FAILED: { status: 503, message: 'No peer answered the look-up (each one asked failed or timed out): whether a record exists is not known; try again.' },

  // Revocation [OVL-20..OVL-24]
  GM_ERR_CRL_INVALID: { status: 400, message: 'The revocation list does not verify against the gatemesh CA.' },
  GM_ERR_CRL_STALE: { status: 409, message: 'A revocation list with a higher number is already held.' },

  // Roles [OVL-30]
  GM_ERR_ROLE_UNKNOWN: { status: 400, message: 'The role is not one of collector, access, persistence, stream.' }
})

export type OverlayErrorCode = keyof typeof OVERLAY_ERRORS
