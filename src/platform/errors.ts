/** Error codes of the HTTP transport every gatemesh service shares ([HTTP-1] .. [HTTP-3]). */
import { defineErrors } from '../core/error-table.ts'

export const HTTP_ERRORS = defineErrors({
  GM_ERR_HTTP_MALFORMED: { status: 400, message: 'The HTTP request is not well formed (request line, headers, or the percent-encoding or length of a path segment).' },
  GM_ERR_HTTP_TIMEOUT: { status: 408, message: 'The request did not arrive in full within the time allowed.' },
  GM_ERR_HTTP_HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are larger than allowed.' }
})
