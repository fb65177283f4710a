/** The gateway's own error codes (the composition root and `gatemesh gateway start`). */
import { defineErrors } from '../core/error-table.ts'

export const GATEWAY_ERRORS = defineErrors({
  GM_ERR_GATEWAY_CONFIG: { status: 400, message: 'The gateway configuration is invalid.' },
  GM_ERR_GATEWAY_TOKEN_REQUIRED: { status: 400, message: 'The gateway has no certificate yet: the first start needs --ca and --token.' },
  GM_ERR_GATEWAY_KEY: { status: 500, message: 'The gateway key file cannot be read or is not an Ed25519 libp2p key.' },
  GM_ERR_GATEWAY_KEY_PERMISSIONS: { status: 500, message: 'The gateway key file is readable by other users (it must be mode 0600).' },
  GM_ERR_GATEWAY_CERT_UNUSABLE: { status: 500, message: 'The stored certificate is unusable and could be neither renewed nor replaced.' },
  GM_ERR_GATEWAY_DATA_IN_USE: { status: 409, message: 'Another running gateway uses this data directory.' },
  GM_ERR_ADMIN_BAD_REQUEST: { status: 400, message: 'The admin request is malformed.' },
  GM_ERR_ADMIN_NOT_FOUND: { status: 404, message: 'No such route on the admin API.' },
  GM_ERR_ADMIN_INTERNAL: { status: 500, message: 'The admin request failed unexpectedly.' }
})
