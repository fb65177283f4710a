/**
 * Error codes of the PKI: certificate and revocation-list verification, and the enrollment
 * protocol that the CA service and its clients share (a code crosses the wire as `{ code, message }`,
 * so both sides must know it). The CA's local codes live in src/ca/errors.ts.
 */
import { defineErrors } from '../core/error-table.ts'

export const PKI_ERRORS = defineErrors({
  // Gateway certificates [CA-6]
  GM_ERR_CERT_MALFORMED: { status: 400, message: 'The certificate is not a DER-encoded X.509 certificate.' },
  GM_ERR_CERT_SELF_SIGNED: { status: 401, message: 'The certificate is self-signed, not issued by the gatemesh CA.' },
  GM_ERR_CERT_UNTRUSTED: { status: 401, message: 'The certificate was not issued by this gatemesh CA.' },
  GM_ERR_CERT_EXPIRED: { status: 401, message: 'The certificate has expired.' },
  GM_ERR_CERT_NOT_YET_VALID: { status: 401, message: 'The certificate is not valid yet.' },
  GM_ERR_CERT_REVOKED: { status: 401, message: 'The certificate has been revoked.' },
  GM_ERR_CERT_KEY_MISMATCH: { status: 401, message: 'The certificate does not certify the key of this peer id.' },
  GM_ERR_CERT_SUBJECT_MISMATCH: { status: 401, message: 'The certificate subject does not name this peer id.' },
  GM_ERR_CERT_ROLES_MISSING: { status: 401, message: 'The certificate carries no gatemesh roles extension.' },
  GM_ERR_CERT_ROLES_INVALID: { status: 401, message: 'The gatemesh roles extension of the certificate is malformed.' },
  GM_ERR_CERT_PROFILE: { status: 401, message: 'The certificate does not follow the gatemesh certificate profile.' },
  GM_ERR_PKI_PEER_ID_INVALID: { status: 400, message: 'The peer id is not a libp2p Ed25519 peer id.' },
  GM_ERR_CA_CERT_INVALID: { status: 500, message: 'The CA certificate given as trust anchor is not a usable gatemesh CA certificate.' },
  GM_ERR_CA_CERT_EXPIRED: { status: 500, message: 'The CA certificate given as trust anchor is outside its validity.' },

  // Revocation lists [CA-7]
  GM_ERR_CRL_MALFORMED: { status: 400, message: 'The revocation list is not a DER-encoded X.509 CRL.' },
  GM_ERR_CRL_UNTRUSTED: { status: 401, message: 'The revocation list was not signed by this gatemesh CA.' },
  GM_ERR_CRL_PROFILE: { status: 400, message: 'The revocation list lacks a CRL number or a next update time.' },

  // Enrollment protocol [CA-3] [CA-4]
  GM_ERR_CA_REQUEST_MALFORMED: { status: 400, message: 'The request does not match the schema of this route.' },
  GM_ERR_CA_REQUEST_TOO_LARGE: { status: 413, message: 'The request body is larger than the CA accepts.' },
  GM_ERR_CA_UNSUPPORTED_MEDIA: { status: 415, message: 'The request body must be application/json.' },
  GM_ERR_CA_NOT_FOUND: { status: 404, message: 'No such route.' },
  GM_ERR_CA_INTERNAL: { status: 500, message: 'The CA failed to handle the request.' },
  GM_ERR_TOKEN_INVALID: { status: 401, message: 'The enrollment token is not known to this CA.' },
  GM_ERR_TOKEN_USED: { status: 409, message: 'The enrollment token has already been used.' },
  GM_ERR_TOKEN_EXPIRED: { status: 401, message: 'The token has expired (an enrollment token; or a stream token outside its validity window, [STR-3]).' },
  GM_ERR_CSR_MALFORMED: { status: 400, message: 'The certificate request is not a DER-encoded PKCS#10 request.' },
  GM_ERR_CSR_KEY_UNSUPPORTED: { status: 400, message: 'The certificate request key is not Ed25519.' },
  GM_ERR_CSR_SIGNATURE: { status: 400, message: 'The certificate request is not signed by the key it names (no proof of possession).' },
  GM_ERR_CSR_SUBJECT_MISMATCH: { status: 400, message: 'The certificate request subject is not the peer id of its key.' },
  GM_ERR_CSR_STALE: { status: 400, message: 'The certificate request carries no request time, or one outside the accepted window.' },
  GM_ERR_ENROLL_PEER_REVOKED: { status: 403, message: 'This peer id has been revoked by the CA: it can neither enroll nor renew.' },
  GM_ERR_RENEW_KEY_MISMATCH: { status: 400, message: 'The renewal request is not for the key of the presented certificate.' },
  GM_ERR_RENEW_REPLAYED: { status: 409, message: 'This renewal request has already been used.' },

  // Enrollment client
  GM_ERR_CA_UNREACHABLE: { status: 503, message: 'The CA service cannot be reached.' },
  GM_ERR_CA_BAD_RESPONSE: { status: 502, message: 'The CA service answered with something unexpected.' }
})

export type PkiErrorCode = keyof typeof PKI_ERRORS
