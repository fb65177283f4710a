/**
 * Structured logs (pino), one child logger per component. Values go in fields, never in the
 * message string, and never a key, token, password or plaintext reading: `redact` is a last line
 * of defence for the field names most likely to carry one, not a licence to log secrets.
 */
import { pino, type Logger } from 'pino'

export type { Logger }

export interface LoggerInit {
  level?: string
  /** Where lines go; defaults to standard error so that standard output stays for results. */
  destination?: number | string
}

const REDACT = [
  'password', '*.password', 'token', '*.token', 'secret', '*.secret', 'privateKey', '*.privateKey',
  'credential', '*.credential', 'headers.authorization', '*.headers.authorization', 'plaintext', '*.plaintext'
]

export function createLogger (name: string, init: LoggerInit = {}): Logger {
  const level = init.level ?? process.env.GATEMESH_LOG_LEVEL ?? 'info'
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } },
    pino.destination({ dest: init.destination ?? 2, sync: false }))
}
