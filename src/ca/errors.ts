/**
 * The CA's local error codes: its directory and its state. Usage errors of `gatemesh ca` are
 * GM_ERR_CLI_USAGE (src/cli/errors.ts). The codes that cross
 * the enrollment wire (tokens, requests, certificates) are part of the protocol and live in
 * src/pki/errors.ts.
 */
import { defineErrors } from '../core/error-table.ts'

export const CA_ERRORS = defineErrors({
  GM_ERR_CA_NO_ROLES: { status: 400, message: 'An enrollment token must grant at least one known role.' },
  GM_ERR_CA_NOT_INITIALIZED: { status: 500, message: 'The CA directory holds no CA: run `gatemesh ca init` first.' },
  GM_ERR_CA_ALREADY_INITIALIZED: { status: 409, message: 'The CA directory already holds a CA; it is never overwritten.' },
  GM_ERR_CA_KEY_PERMISSIONS: { status: 500, message: 'The CA key file is readable by other users; it must be mode 0600.' },
  GM_ERR_CA_STATE_CORRUPT: { status: 500, message: 'The CA key, certificate or database is damaged or does not belong together.' },
  GM_ERR_CA_PEER_UNKNOWN: { status: 404, message: 'The CA has never issued a certificate to this peer id.' }
})

export type CaErrorCode = keyof typeof CA_ERRORS
