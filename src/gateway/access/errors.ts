/**
 * The Data Access service's error codes ([ACS-n] in docs/PROTOCOL.md). Every refusal the
 * service answers is `{ code, message }` with the code's HTTP status; the codes of src/core
 * (signed requests, records) pass through unchanged.
 */
import { defineErrors } from '../../core/error-table.ts'

export const ACCESS_ERRORS = defineErrors({
  GM_ERR_ACCESS_REQUEST_MALFORMED: { status: 400, message: 'The request is not JSON or does not match the route\'s schema.' },
  GM_ERR_ACCESS_TOO_LARGE: { status: 413, message: 'The request body is larger than the service accepts.' },
  GM_ERR_ACCESS_UNSUPPORTED_MEDIA: { status: 415, message: 'The request body is not application/json.' },
  GM_ERR_ACCESS_NOT_FOUND: { status: 404, message: 'No such route.' },
  GM_ERR_ACCESS_WEB_NOT_BUILT: { status: 404, message: 'The web application is not built on this gateway: run `npm run build:web` (npm start does it), then reload.' },
  GM_ERR_ACCESS_INTERNAL: { status: 500, message: 'The access service failed to handle the request (logged).' },
  GM_ERR_ACCESS_UNAVAILABLE: { status: 503, message: 'The overlay could not be read or written; try again shortly.' },
  GM_ERR_SIGNUP_RATE_LIMITED: { status: 429, message: 'Too many sign-ups from this address; retry after the time Retry-After gives.' },
  GM_ERR_ACCESS_INDEX_FULL: { status: 409, message: 'The access index of the owner or of a reader already lists as many sensors as an index holds.' },
  GM_ERR_ACCOUNT_EXISTS: { status: 409, message: 'An account with this pseudonym already exists.' },
  GM_ERR_ACCOUNT_NOT_FOUND: { status: 404, message: 'No account with this pseudonym exists.' },
  GM_ERR_SENSOR_NOT_FOUND: { status: 404, message: 'No sensor with this id is registered.' },
  GM_ERR_SENSOR_OWNED: { status: 409, message: 'The sensor id is registered to another owner.' },
  GM_ERR_SENSOR_ID_MISMATCH: { status: 400, message: 'The record is for another sensor id than the URL names.' },
  GM_ERR_NOT_OWNER: { status: 403, message: 'Only the sensor\'s owner may store its record.' },
  GM_ERR_FORBIDDEN: { status: 403, message: 'The caller is neither the owner nor on the sensor\'s access list.' },
  GM_ERR_NO_READING: { status: 404, message: 'The sensor has no reading yet.' },
  // history [PER-50]..[PER-52]
  GM_ERR_HISTORY_BAD_RANGE: { status: 400, message: 'The history range is not valid: from and to are ms since the epoch, from before to.' },
  GM_ERR_HISTORY_BAD_CURSOR: { status: 400, message: 'The history cursor is not one this service made, or belongs to another sensor, range or order.' },
  GM_ERR_HISTORY_UNAVAILABLE: { status: 503, message: 'This gateway cannot reach the persistence service; ask another access gateway.' },
  GM_ERR_HISTORY_NO_REPLICA: { status: 503, message: 'No replica of the sensor\'s history answered; try again shortly.' },
  GM_ERR_HISTORY_REPLICA_UNKNOWN: { status: 404, message: 'The replica asked for is not one of the sensor\'s replicas.' }
})

export type AccessErrorCode = keyof typeof ACCESS_ERRORS
