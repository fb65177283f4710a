/**
 * JSON Schema pieces shared by every gatemesh HTTP service (CA, Data Access, collector): the error
 * body all of them answer with, and standard base64 strings for binary values.
 */

/** `{ code, message }`: what every refusal answers ([CA-9], docs/ERRORS.md). */
export const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: {
    code: { type: 'string', pattern: '^GM_ERR_[A-Z0-9_]+$', description: 'Stable error code (docs/ERRORS.md).' },
    message: { type: 'string', description: 'For people; may change.' }
  }
} as const

/** A standard base64 string (RFC 4648 §4, padded) of at most `maxLength` characters. */
export function base64String (description: string, maxLength: number) {
  return { type: 'string', minLength: 4, maxLength, pattern: '^[A-Za-z0-9+/]+={0,2}$', description } as const
}

/** The error schema under each of the given HTTP statuses, for a route's `response`. */
export function errorResponses<S extends number> (...statuses: S[]): Record<S, typeof errorSchema> {
  return Object.fromEntries(statuses.map(status => [status, errorSchema])) as Record<S, typeof errorSchema>
}
