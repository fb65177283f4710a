/** The stream relay's error codes ([STR-30]..[STR-37]): relay messages between peers and the collector's stream sink. Documented in docs/ERRORS.md. */
import { defineErrors } from '../../core/error-table.ts'

export const STREAM_RELAY_ERRORS = defineErrors({
  // a relay message a stream peer refuses ([STR-31], [STR-32])
  GM_ERR_STREAM_RELAY_MALFORMED: { status: 400, message: 'The relay message is not a well-formed, canonical relay message of version 1.' },
  GM_ERR_STREAM_RELAY_TOO_LARGE: { status: 413, message: 'The relay message, or the frame carrying it, is larger than 1 MiB.' },
  GM_ERR_STREAM_RELAY_CERT_REJECTED: { status: 403, message: 'The relay message\'s certificate is not the CA\'s for the sending peer, is not valid now, is revoked, or does not grant collector.' },
  GM_ERR_STREAM_RELAY_WRONG_GATEWAY: { status: 403, message: 'An envelope of the relay message was sealed by another gateway than the sending collector.' },
  GM_ERR_STREAM_RELAY_BAD_ENVELOPE: { status: 400, message: 'An envelope of the relay message does not decode or its signature or batch proof does not verify.' },
  // the collector's stream sink ([STR-35]): live delivery is best effort, never held
  GM_ERR_STREAM_RELAY_NO_PEERS: { status: 503, message: 'No stream peer is known: the readings were not relayed (counted).' },
  GM_ERR_STREAM_RELAY_QUEUE_FULL: { status: 503, message: 'The stream sink\'s queue for a stream peer is full: the readings were dropped for it (counted).' },
  GM_ERR_STREAM_RELAY_PUBLISH_FAILED: { status: 503, message: 'Writing the relay message to a stream peer failed: the readings were dropped for it (counted).' }
})
