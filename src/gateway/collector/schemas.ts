/** JSON Schemas of the collector's HTTP routes: validation, serialisation and /openapi.json. */

import { errorSchema } from '../../platform/http-schemas.ts'

export { errorSchema }

export function readingsSchema (maxBatch: number, error: typeof errorSchema): Record<string, unknown> {
  return {
    summary: 'Send one reading, or a batch of readings, of a sensor',
    description: 'The body is one reading (any JSON value), or a batch: an object whose only member is `readings`, ' +
      `an array of 1 to ${maxBatch} readings. Answered with 202 once every reading is committed to the gateway's ` +
      'journal, encrypted at rest; sealing for the sensor\'s access list and signing follow, off the answer\'s path ([COL-7]).',
    security: [{ sensorCredential: [] }],
    params: {
      type: 'object',
      required: ['sensorId'],
      properties: { sensorId: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$' } }
    },
    body: {
      description: `One reading (any JSON value of at most 65 536 bytes, nested at most 64 deep, sealed as sent) or { "readings": [ ... ] } with at most ${maxBatch} readings, each sealed as its element's bytes.`
    },
    response: {
      202: {
        description: 'Accepted: the readings are journaled; the gateway seals, signs and publishes them next ([COL-7]).',
        type: 'object',
        required: ['accepted', 'seq', 'ts'],
        additionalProperties: false,
        properties: {
          accepted: { type: 'integer', description: 'Readings accepted.' },
          seq: { type: 'integer', description: 'seq of the last reading; a batch has the consecutive numbers seq - accepted + 1 .. seq.' },
          ts: { type: 'integer', description: 'Time the gateway assigned, ms since the epoch.' }
        }
      },
      400: error,
      401: error,
      404: error,
      413: error,
      415: error,
      429: error,
      500: error,
      503: error
    }
  }
}
