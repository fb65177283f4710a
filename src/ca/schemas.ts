/**
 * JSON Schemas of the enrollment service [CA-3]..[CA-8]. They validate requests, shape responses
 * and make the OpenAPI document (/openapi.json): one source for all three.
 */
import { base64String as base64Der, errorResponses, errorSchema } from '../platform/http-schemas.ts'

export { errorSchema }

const errors = errorResponses(400, 401, 403, 409, 413, 415)

const issuedSchema = {
  type: 'object',
  required: ['certificate', 'caCertificate', 'peerId', 'roles', 'serial', 'notAfter'],
  properties: {
    certificate: { type: 'string', description: 'The gateway certificate, DER, base64.' },
    caCertificate: { type: 'string', description: 'The CA certificate, DER, base64.' },
    peerId: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    serial: { type: 'string', description: 'Lowercase hex.' },
    notAfter: { type: 'string', format: 'date-time' }
  }
} as const

export const caSchema = {
  summary: 'The CA certificate [CA-8]',
  response: {
    200: {
      type: 'object',
      required: ['certificate', 'pem'],
      properties: {
        certificate: { type: 'string', description: 'DER, base64.' },
        pem: { type: 'string' }
      }
    }
  }
} as const

export const enrollSchema = {
  summary: 'Enroll a gateway with a one-time token [CA-3]',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['token', 'csr'],
    properties: {
      token: { type: 'string', minLength: 1, maxLength: 128, description: 'One-time enrollment token from `gatemesh ca token`.' },
      csr: base64Der('PKCS#10 request signed with the gateway\'s libp2p Ed25519 key, DER, base64 [CA-4].', 4096)
    }
  },
  response: { 201: issuedSchema, ...errors }
} as const

export const renewSchema = {
  summary: 'Renew a current certificate [CA-5]',
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['certificate', 'csr'],
    properties: {
      certificate: base64Der('The current gateway certificate, DER, base64.', 8192),
      csr: base64Der('A fresh PKCS#10 request by the same key, DER, base64 [CA-4].', 4096)
    }
  },
  response: { 200: issuedSchema, ...errors }
} as const

export const crlSchema = {
  summary: 'The current revocation list [CA-7] [CA-8]',
  description: 'JSON by default; the raw DER with `Accept: application/pkix-crl`.',
  response: {
    200: {
      type: 'object',
      required: ['crl', 'number', 'thisUpdate', 'nextUpdate'],
      properties: {
        crl: { type: 'string', description: 'The CRL, DER, base64.' },
        number: { type: 'integer' },
        thisUpdate: { type: 'string', format: 'date-time' },
        nextUpdate: { type: 'string', format: 'date-time' }
      }
    }
  }
} as const
