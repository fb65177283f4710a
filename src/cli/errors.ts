/** Error codes of the command line itself (each command group declares its own in its part). */
import { defineErrors } from '../core/error-table.ts'

export const CLI_ERRORS = defineErrors({
  GM_ERR_CLI_USAGE: { status: 400, message: 'The command line is not valid; see --help.' },
  GM_ERR_CLI_NOT_LOGGED_IN: { status: 401, message: 'Not logged in.' }
})
