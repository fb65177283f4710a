/**
 * The client library's own error codes. A refusal from a gateway keeps the gateway's code (see
 * docs/PROTOCOL.md); these are the failures only a client can see.
 */
import { defineErrors } from '../core/error-table.ts'

export const CLIENT_ERRORS = defineErrors({
  GM_ERR_CLIENT_GATEWAY_URL: { status: 400, message: 'The gateway URL is not an http(s) URL.' },
  GM_ERR_CLIENT_UNREACHABLE: { status: 503, message: 'The gateway cannot be reached.' },
  GM_ERR_CLIENT_BAD_RESPONSE: { status: 502, message: 'The gateway answered with something unexpected or unverifiable.' },
  GM_ERR_CLIENT_SELF: { status: 400, message: 'The owner is always on a sensor\'s access list; share with someone else.' },
  GM_ERR_CLIENT_NOT_SHARED: { status: 404, message: 'The pseudonym is not on the sensor\'s access list.' },
  GM_ERR_CLIENT_SENSOR_EXISTS: { status: 409, message: 'You have already registered this sensor; sharing and revoking change who may read it.' },
  GM_ERR_CLIENT_CA_MISMATCH: { status: 502, message: 'The gateway belongs to another network: its CA certificate is not the one pinned.' },
  GM_ERR_CLIENT_READING_UNAUTHENTIC: { status: 502, message: 'The reading was not sealed by a collector that the pinned CA certified: it is refused.' },
  GM_ERR_CLIENT_STREAM_URL: { status: 400, message: 'A stream URL is not an mqtt://, mqtts://, ws:// or wss:// URL (or none was given).' },
  GM_ERR_CLIENT_STREAM_REFUSED: { status: 401, message: 'The stream peer refused the connection (its CONNACK return code says why).' },
  GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED: { status: 403, message: 'The stream peer refused a subscription: not on the sensor\'s access list, or not a topic an application may subscribe to.' },
  GM_ERR_CLIENT_STREAM_TOPIC: { status: 502, message: 'A message came on a topic that is not a subscribed sensor\'s readings: it is refused.' },
  GM_ERR_CLIENT_STREAM_FAILED: { status: 500, message: 'Handling the stream failed unexpectedly (the cause says why).' },
  GM_ERR_CLIENT_READING_MISMATCH: { status: 502, message: 'The reading is of another sensor than the one asked for (replayed or misfiled): it is refused.' },
  GM_ERR_CLIENT_WORKER_FAILED: { status: 500, message: 'The worker thread verifying and opening history pages stopped unexpectedly (the cause says why).' }
})

export type ClientErrorCode = keyof typeof CLIENT_ERRORS
