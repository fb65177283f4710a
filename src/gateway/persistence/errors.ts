/** The persistence service's error codes. Documented in docs/ERRORS.md. */
import { defineErrors } from '../../core/error-table.ts'

export const PERSISTENCE_ERRORS = defineErrors({
  // engines
  GM_ERR_PERSISTENCE_ENGINE: { status: 503, message: 'The persistence storage engine failed or cannot be reached.' }
})
