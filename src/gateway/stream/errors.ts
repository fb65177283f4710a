/** The stream broker's error codes (log-in, topics, sessions, limits). Documented in docs/ERRORS.md. */
import { defineErrors } from '../../core/error-table.ts'

export const STREAM_ERRORS = defineErrors({
  // log-in ([STR-6] .. [STR-8])
  GM_ERR_STREAM_NOT_AUTHORIZED: { status: 401, message: 'The MQTT CONNECT carries no user name (pseudonym) or no password (token).' },
  GM_ERR_STREAM_UNKNOWN_USER: { status: 401, message: 'The MQTT user name is not the pseudonym of an account in the overlay.' },
  GM_ERR_STREAM_BAD_TOKEN: { status: 401, message: 'The stream token is malformed, expired, outside its window, for another subject, or its signature does not verify.' },
  GM_ERR_STREAM_DIRECTORY: { status: 503, message: 'An account or sensor record could not be fetched from the overlay; retry later.' },
  GM_ERR_STREAM_CLIENT_ID: { status: 409, message: 'The MQTT client id is too long, or held by another user\'s session.' },
  GM_ERR_STREAM_WILL_FORBIDDEN: { status: 403, message: 'A will message may only be published to the user\'s own namespace users/<pseudonym>/...' },
  GM_ERR_STREAM_PROTOCOL_VERSION: { status: 400, message: 'The stream broker speaks MQTT 3.1.1 and 3.1 only.' },
  GM_ERR_STREAM_RATE_LIMITED: { status: 429, message: 'Too many MQTT CONNECTs from this address; retry later.' },
  // topics and sessions ([STR-10] .. [STR-16])
  GM_ERR_STREAM_SUBSCRIBE_FORBIDDEN: { status: 403, message: 'The user may not subscribe to this topic filter.' },
  GM_ERR_STREAM_PUBLISH_FORBIDDEN: { status: 403, message: 'An application publishes only inside its own namespace users/<pseudonym>/...' },
  GM_ERR_STREAM_TOO_MANY_SUBSCRIPTIONS: { status: 403, message: 'A client holds at most 1 000 subscriptions.' },
  GM_ERR_STREAM_RETAINED_LIMIT: { status: 403, message: 'A user keeps at most 100 retained messages in its namespace.' },
  GM_ERR_STREAM_SESSIONS_FULL: { status: 503, message: 'The user holds as many persistent MQTT sessions as a user may, all of them connected; end one or connect with a clean session.' },
  GM_ERR_STREAM_TOO_LARGE: { status: 413, message: 'An MQTT packet is larger than the stream broker allows.' },
  GM_ERR_STREAM_INTERNAL: { status: 500, message: 'The stream broker failed unexpectedly.' },
  // where applications reach the stream peers ([STR-49])
  GM_ERR_STREAM_ENDPOINTS_MALFORMED: { status: 502, message: 'A stream peer told its listeners in a malformed answer.' },
  GM_ERR_STREAM_ENDPOINTS_UNREACHABLE: { status: 503, message: 'A stream peer could not be asked for its listeners.' }
})
