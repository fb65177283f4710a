/**
 * JSON Schemas of the access service's routes [ACS-3] .. [ACS-10]. They validate requests, shape
 * responses and make the OpenAPI document: one source for all three. Binary values are standard
 * base64 with padding.
 */
import { base64String as base64, errorResponses, errorSchema } from '../../platform/http-schemas.ts'

const PSEUDONYM = { type: 'string', pattern: '^[a-z2-7]{52}$', description: 'A pseudonym [ID-2].' } as const
const SENSOR_ID = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,128}$', description: 'A sensor id [SEN-1].' } as const

export { errorSchema }

const errors = errorResponses(400, 401, 403, 404, 409, 413, 415, 503)

const SIGNED = 'Signed request [REQ-1]: Content-Digest, Signature-Input (keyid = the caller\'s pseudonym) and Signature headers.'
const signedHeaders = {
  type: 'object',
  properties: {
    'content-digest': { type: 'string' },
    'signature-input': { type: 'string' },
    signature: { type: 'string' }
  }
} as const

export const createAccountSchema = {
  summary: 'Store a new account bundle [ACS-3]',
  description: 'Unsigned: the bundle is self-verifying [ACC-4].',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['bundle'],
    // [ACS-22] at most 1 024 bytes once decoded (GM_ERR_TOO_LARGE); the schema stops far longer text.
    properties: { bundle: base64('The account record [ACC-1], canonical CBOR, at most 1 024 bytes [ACS-22].', 2048) }
  },
  response: { 201: { type: 'object', required: ['pseudonym'], properties: { pseudonym: PSEUDONYM } }, ...errors }
} as const

export const getAccountSchema = {
  summary: 'Fetch an account bundle by pseudonym [ACS-4]',
  description: 'Unsigned: log-in fetches the bundle before it has any key.',
  params: { type: 'object', required: ['pseudonym'], properties: { pseudonym: PSEUDONYM } },
  response: { 200: { type: 'object', required: ['bundle'], properties: { bundle: { type: 'string' } } }, ...errors }
} as const

const sensorParams = { type: 'object', required: ['id'], properties: { id: SENSOR_ID } } as const

export const putSensorSchema = {
  summary: 'Store a sensor record, signed by its owner [ACS-7]',
  description: SIGNED,
  headers: signedHeaders,
  params: sensorParams,
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['record'],
    properties: { record: base64('The sensor record [SEN-2], canonical CBOR.', 96 * 1024) }
  },
  response: {
    200: { type: 'object', required: ['id', 'seq'], properties: { id: SENSOR_ID, seq: { type: 'integer' } } },
    201: { type: 'object', required: ['id', 'seq'], properties: { id: SENSOR_ID, seq: { type: 'integer' } } },
    ...errors
  }
} as const

export const getSensorSchema = {
  summary: 'Fetch a sensor record, for its owner and readers [ACS-8]',
  description: SIGNED,
  headers: signedHeaders,
  params: sensorParams,
  response: { 200: { type: 'object', required: ['record'], properties: { record: { type: 'string' } } }, ...errors }
} as const

export const listSensorsSchema = {
  summary: 'The caller\'s sensors: owned and shared with it [ACS-10]',
  description: SIGNED,
  headers: signedHeaders,
  response: {
    200: {
      type: 'object',
      required: ['owned', 'shared'],
      properties: {
        owned: {
          type: 'array',
          items: { type: 'object', required: ['id', 'seq', 'readers'], properties: { id: SENSOR_ID, seq: { type: 'integer' }, readers: { type: 'array', items: PSEUDONYM } } }
        },
        shared: {
          type: 'array',
          items: { type: 'object', required: ['id', 'seq', 'owner'], properties: { id: SENSOR_ID, seq: { type: 'integer' }, owner: PSEUDONYM } }
        }
      }
    },
    ...errors
  }
} as const

export const latestSchema = {
  summary: 'The latest reading of a sensor, as ciphertext [ACS-9]',
  description: `${SIGNED} The envelope [ENV-1] is opened on the client.`,
  headers: signedHeaders,
  params: sensorParams,
  response: {
    200: {
      type: 'object',
      required: ['envelope', 'seq', 'ts', 'gatewayCert'],
      properties: {
        envelope: { type: 'string', description: 'The envelope [ENV-1], base64.' },
        seq: { type: 'integer', description: 'The reading\'s sequence number.' },
        ts: { type: 'integer', description: 'The reading\'s time, ms since the epoch.' },
        gatewayCert: { type: 'string', description: 'DER certificate of the collecting gateway, base64.' }
      }
    },
    ...errors
  }
} as const

export const networkSchema = {
  summary: 'The CA certificate of the network this gateway belongs to [ACS-18]',
  description: 'Unsigned. Clients pin it at sign-up and log-in and check every reading\'s collector against it [ENV-10].',
  response: {
    200: {
      type: 'object',
      required: ['caCertificate'],
      properties: {
        caCertificate: { type: 'string', description: 'The CA\'s self-signed certificate [CA-1], DER, base64.' },
        collector: {
          type: 'object',
          description: 'This gateway\'s Data Collector listeners, when it runs one: where a sensor may send its readings.',
          required: ['http', 'mqtt'],
          properties: { http: { type: 'string' }, mqtt: { type: 'string' } }
        },
        stream: {
          type: 'object',
          description: 'This gateway\'s stream broker listeners (MQTT over TCP and over WebSocket), when it runs one: where an application subscribes to live readings [STR-40].',
          required: ['mqtt', 'ws'],
          properties: { mqtt: { type: 'string' }, ws: { type: 'string' } }
        },
        streams: {
          type: 'array',
          description: 'Every stream peer of the network this gateway knows (its own first), when it knows one: where an application may subscribe [STR-49].',
          items: {
            type: 'object',
            required: ['mqtt', 'ws'],
            properties: { mqtt: { type: 'string' }, ws: { type: 'string' } }
          }
        }
      }
    },
    ...errors
  }
} as const

const DECIMAL_MS = { type: 'string', pattern: '^(0|[1-9][0-9]{0,15})$' } as const
const BASE64URL = { type: 'string', pattern: '^[A-Za-z0-9_-]*$' } as const
const PAGE_BOUND = {
  type: 'object',
  required: ['seq'],
  properties: {
    seq: { type: 'integer', description: 'A seq [PER-1].' },
    gw: { ...BASE64URL, description: 'The collector key of a reading\'s key (base64url); absent for a bound of the range.' }
  }
} as const

export const historySchema = {
  summary: 'A page of a sensor\'s history, as ciphertext, from one of its replicas [PER-50]',
  description: `${SIGNED} Readings ordered by (seq, gw) [PER-1]; the client verifies the page against the checkpoints [PER-12] and the certificates [ENV-10], then opens the envelopes. With \`Accept: application/cbor\` the same answer comes as canonical CBOR, readings, checkpoints and certificates as byte strings [PER-56].`,
  headers: signedHeaders,
  params: sensorParams,
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: {
      from: { ...DECIMAL_MS, description: 'Start of the range, ms since the epoch, inclusive (default: one hour ago).' },
      to: { ...DECIMAL_MS, description: 'End of the range, ms since the epoch, exclusive (default: one minute from now).' },
      limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$', description: 'Readings at most in this page, 1 to 5000 (default 1000).' },
      order: { type: 'string', enum: ['asc', 'desc'], description: 'Oldest first (default) or newest first.' },
      cursor: { ...BASE64URL, minLength: 1, maxLength: 512, description: 'The `next` of the previous page; it carries the range and order [PER-51].' },
      replica: { type: 'string', pattern: '^[1-9A-HJ-NP-Za-km-z]{30,128}$', description: 'Peer id of the replica to ask (one of `replicas`).' }
    }
  },
  response: {
    200: {
      type: 'object',
      required: ['sensor', 'replica', 'replicas', 'readings', 'checkpoints', 'certificates', 'lo', 'hi'],
      properties: {
        sensor: SENSOR_ID,
        replica: { type: 'string', description: 'Peer id of the replica that answered.' },
        replicas: { type: 'array', items: { type: 'string' }, description: 'Peer ids of the sensor\'s replicas, nearest first [PER-3].' },
        readings: { type: 'array', items: BASE64URL, description: 'Envelopes [ENV-1], base64url, in order.' },
        checkpoints: { type: 'array', items: BASE64URL, description: 'Signed checkpoints [PER-10], base64url.' },
        certificates: { type: 'array', items: BASE64URL, description: 'DER certificates of the collectors, base64url.' },
        lo: { ...PAGE_BOUND, description: 'Where the page starts (exclusive when it has gw) [PER-52].' },
        hi: { ...PAGE_BOUND, description: 'Where the page ends (inclusive when it has gw) [PER-52].' },
        next: { ...BASE64URL, description: 'Cursor of the next page; absent on the last.' }
      }
    },
    ...errorResponses(400, 401, 403, 404, 503)
  }
} as const
