/**
 * Enrollment client [CA-3] [CA-5] [CA-8]: what `gatemesh gateway start` uses to obtain and renew its
 * certificate and to fetch the CRL. Errors that the CA answers with keep their code.
 */
import type { PrivateKey } from '@libp2p/interface'
import { GatemeshError, registeredErrors } from '../core/errors.ts'
import type { ErrorCode } from '../core/errors.ts'
import { createCertificateRequest } from './request.ts'
import { rawPublicKeyToPeerId } from './keys.ts'
import { verifyGatewayCertificate } from './verify.ts'

const TIMEOUT_MS = 15_000
const MAX_RESPONSE_BYTES = 1024 * 1024

export interface EnrollInit {
  caUrl: string
  token: string
  privateKey: PrivateKey
}

export interface RenewInit {
  caUrl: string
  certificate: Uint8Array
  privateKey: PrivateKey
}

function endpoint (caUrl: string, path: string): URL {
  try {
    return new URL(path, caUrl.endsWith('/') ? caUrl : `${caUrl}/`)
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_UNREACHABLE', 'The CA URL is not a URL.', { cause: err })
  }
}

async function request (url: URL, init: RequestInit): Promise<Response> {
  let response: Response
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: 'error' })
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_UNREACHABLE', undefined, { cause: err })
  }
  const length = Number(response.headers.get('content-length') ?? '0')
  if (length > MAX_RESPONSE_BYTES) throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', 'The response is too large.')
  if (response.status >= 400) {
    let body: unknown
    try { body = await response.json() } catch { body = undefined }
    const code = (body as { code?: unknown } | undefined)?.code
    if (typeof code === 'string' && registeredErrors().has(code)) {
      throw new GatemeshError(code as ErrorCode, undefined, { status: response.status })
    }
    throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', `HTTP status ${response.status}.`)
  }
  return response
}

async function postJson (url: URL, body: unknown): Promise<Record<string, unknown>> {
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(body)
  })
  try {
    const parsed: unknown = await response.json()
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not an object')
    return parsed as Record<string, unknown>
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', 'The response is not JSON.', { cause: err })
  }
}

function base64Field (body: Record<string, unknown>, name: string): Uint8Array {
  const value = body[name]
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', `The response has no ${name}.`)
  }
  return new Uint8Array(Buffer.from(value, 'base64'))
}

export function toBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64')
}

async function checkIssued (certificate: Uint8Array, caCertificate: Uint8Array, peerId: string): Promise<void> {
  try {
    await verifyGatewayCertificate(certificate, { caCertificate, peerId })
  } catch (err) {
    throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', 'The issued certificate does not verify.', { cause: err })
  }
}

/** [CA-3] Enrolls with a one-time token; returns the certificate and the CA certificate it chains to. */
export async function enroll (init: EnrollInit): Promise<{ certificate: Uint8Array, caCertificate: Uint8Array }> {
  const csr = await createCertificateRequest(init.privateKey)
  const body = await postJson(endpoint(init.caUrl, 'v1/enroll'), { token: init.token, csr: toBase64(csr) })
  const certificate = base64Field(body, 'certificate')
  const caCertificate = base64Field(body, 'caCertificate')
  await checkIssued(certificate, caCertificate, rawPublicKeyToPeerId(init.privateKey.publicKey.raw))
  return { certificate, caCertificate }
}

/** [CA-5] Renews a current, unrevoked certificate for the same key. */
export async function renew (init: RenewInit): Promise<{ certificate: Uint8Array }> {
  const csr = await createCertificateRequest(init.privateKey)
  const body = await postJson(endpoint(init.caUrl, 'v1/renew'), { certificate: toBase64(init.certificate), csr: toBase64(csr) })
  const certificate = base64Field(body, 'certificate')
  const caCertificate = base64Field(body, 'caCertificate')
  await checkIssued(certificate, caCertificate, rawPublicKeyToPeerId(init.privateKey.publicKey.raw))
  return { certificate }
}

/** [CA-8] Fetches the current CRL (DER). It is not verified here: use verifyRevocationList. */
export async function fetchRevocationList (caUrl: string): Promise<Uint8Array> {
  const response = await request(endpoint(caUrl, 'v1/crl'), { headers: { accept: 'application/pkix-crl' } })
  if (response.headers.get('content-type')?.startsWith('application/pkix-crl') !== true) {
    throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', 'The CRL is not application/pkix-crl.')
  }
  const bytes = new Uint8Array(await response.arrayBuffer())
  if (bytes.length === 0 || bytes.length > MAX_RESPONSE_BYTES) throw new GatemeshError('GM_ERR_CA_BAD_RESPONSE', 'The CRL is empty or too large.')
  return bytes
}
