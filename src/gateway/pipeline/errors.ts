/** The pipeline's error codes (docs/ERRORS.md). */
import { defineErrors } from '../../core/error-table.ts'

export const PIPELINE_ERRORS = defineErrors({
  GM_ERR_SINK_TIMEOUT: { status: 503, message: 'A reading sink did not settle a batch in time; the readings stay journaled and are delivered again.' },
  GM_ERR_SINK_STOPPED: { status: 503, message: 'The reading sink is stopped; the readings stay journaled and are delivered at the next start.' }
})
