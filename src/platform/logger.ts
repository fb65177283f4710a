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

/**
 * Field names whose values are censored wherever they sit at the top level of a log object or
 * one level down (`{ user: { password } }`), and in request headers. Names of secrets gatemesh
 * handles: passwords, enrollment and other tokens, sensor credentials, private keys and seeds
 * (`seed` is how the gateway's Ed25519 seed travels), account bundles (password-sealed keys:
 * offline guessing material), decrypted readings.
 */
export const REDACTED_FIELDS = [
  'password', 'passphrase', 'token', 'secret', 'secrets', 'credential', 'authorization', 'cookie',
  'key', 'privateKey', 'secretKey', 'signingKey', 'agreementKey', 'seed', 'signingSeed', 'agreementSecret',
  'bundle', 'plaintext'
] as const

const REDACT = [
  ...REDACTED_FIELDS.flatMap(name => [name, `*.${name}`]),
  'headers.authorization', 'headers.cookie', '*.headers.authorization', '*.headers.cookie'
]

export function createLogger (name: string, init: LoggerInit = {}): Logger {
  const level = init.level ?? process.env.GATEMESH_LOG_LEVEL ?? 'info'
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } },
    pino.destination({ dest: init.destination ?? 2, sync: false }))
}
