/** The collector's error codes (HTTP and MQTT ingest). Documented in docs/PROTOCOL.md. */
import { defineErrors } from '../../core/error-table.ts'

export const COLLECTOR_ERRORS = defineErrors({
  GM_ERR_SENSOR_UNKNOWN: { status: 404, message: 'No sensor with this id is registered.' },
  GM_ERR_SENSOR_CREDENTIAL: { status: 401, message: 'The sensor credential is missing or wrong.' },
  GM_ERR_SENSOR_RATE_LIMITED: { status: 429, message: 'The sensor sends faster than its rate limit allows; retry later.' },
  GM_ERR_SENSOR_DIRECTORY: { status: 503, message: 'The sensor record could not be fetched from the overlay; retry later.' },
  GM_ERR_READING_MALFORMED: { status: 400, message: 'The reading is not well formed.' },
  GM_ERR_READING_TOO_LARGE: { status: 413, message: 'The reading or batch is larger than allowed.' },
  GM_ERR_READING_MEDIA_TYPE: { status: 415, message: 'Readings are sent as application/json.' },
  GM_ERR_MQTT_TOPIC: { status: 403, message: 'A sensor publishes only to its own topic, sensors/<sensorId>/readings.' },
  GM_ERR_MQTT_CLIENT_ID: { status: 409, message: 'The MQTT client id is held by another sensor\'s session.' },
  GM_ERR_MQTT_SUBSCRIBE: { status: 403, message: 'The collector accepts no subscriptions.' },
  GM_ERR_COLLECTOR_STOPPED: { status: 503, message: 'The collector is stopping or stopped.' },
  GM_ERR_COLLECTOR_NOT_FOUND: { status: 404, message: 'No such route on the collector.' },
  GM_ERR_COLLECTOR_INTERNAL: { status: 500, message: 'The collector failed unexpectedly.' },
  GM_ERR_JOURNAL: { status: 500, message: 'The reading could not be written to the gateway journal.' }
})
