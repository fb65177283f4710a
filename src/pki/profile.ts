/**
 * The gatemesh certificate profile (docs/PROTOCOL.md): object identifiers, the roles extension
 * and the request-time extension, and the defaults a CA applies.
 */
import { x509 } from './x509.ts'
import {
  decodeGeneralizedTime, decodeUtf8StringSequence, encodeGeneralizedTime, encodeObjectIdentifier, encodeUtf8StringSequence, extensionOid
} from './der.ts'

export type Role = 'collector' | 'access' | 'persistence' | 'stream'

/** Every role, in canonical order (the order they are encoded in). */
export const ROLES: readonly Role[] = Object.freeze(['collector', 'access', 'persistence', 'stream'])

/**
 * [CA-1] The gatemesh private OID arc. It sits under 1.3.6.1.4.1.32473, the private enterprise
 * number that RFC 5612 reserves for documentation: replace it with a registered PEN before a
 * public deployment (one constant). A UUID arc (2.25.<uuid>) would need no registration, but
 * @peculiar/x509 cannot encode arcs above 2^53. Sub-arcs: .1 roles extension, .2 request time.
 */
export const GATEMESH_OID_ARC = '1.3.6.1.4.1.32473.1'
export const ROLES_EXTENSION_OID = `${GATEMESH_OID_ARC}.1`
export const REQUEST_TIME_EXTENSION_OID = `${GATEMESH_OID_ARC}.2`

/**
 * The extensions of `extensions` whose OID is `oid`, compared as DER bytes (the x509 library
 * renders arcs above 2^53, like ours, in a form of its own).
 */
export function findExtensions (extensions: readonly x509.Extension[], oid: string): x509.Extension[] {
  const wanted = encodeObjectIdentifier(oid)
  return extensions.filter(extension => {
    try {
      const found = extensionOid(new Uint8Array(extension.rawData))
      return found.length === wanted.length && found.every((byte, i) => byte === wanted[i])
    } catch {
      return false
    }
  })
}

export const OID_BASIC_CONSTRAINTS = '2.5.29.19'
export const OID_KEY_USAGE = '2.5.29.15'
export const OID_EXTENDED_KEY_USAGE = '2.5.29.37'
export const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14'
export const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35'
export const OID_CRL_NUMBER = '2.5.29.20'

/** [CA-2] Default validity of a gateway certificate. */
export const DEFAULT_CERTIFICATE_VALIDITY_MS = 30 * 24 * 60 * 60 * 1000
/** [CA-2] notBefore is backdated this much to tolerate small clock differences between peers. */
export const CLOCK_SKEW_MS = 60 * 1000
/** [CA-4] A request time must lie within this distance of the CA's clock. */
export const REQUEST_TIME_WINDOW_MS = 5 * 60 * 1000
/** Largest certificate, request or revocation list that gatemesh parses. */
export const MAX_DER_BYTES = 64 * 1024

export function isRole (value: string): value is Role {
  return (ROLES as readonly string[]).includes(value)
}

/** Sorts roles into canonical order and removes duplicates. */
export function canonicalRoles (roles: Iterable<Role>): Role[] {
  const set = new Set(roles)
  return ROLES.filter(role => set.has(role))
}

/** [CA-1] The roles extension: non-critical, value a DER SEQUENCE OF UTF8String in canonical order. */
export function createRolesExtension (roles: readonly Role[]): x509.Extension {
  const canonical = canonicalRoles(roles)
  if (canonical.length === 0) throw new Error('a certificate needs at least one role')
  return new x509.Extension(ROLES_EXTENSION_OID, false, encodeUtf8StringSequence(canonical))
}

/**
 * Reads the roles extension value. Throws a plain Error when it is not a non-empty, duplicate-free
 * sequence of known roles in canonical order.
 */
export function parseRolesExtensionValue (value: ArrayBuffer): Role[] {
  const items = decodeUtf8StringSequence(new Uint8Array(value))
  if (items.length === 0) throw new Error('empty roles')
  const roles: Role[] = []
  for (const item of items) {
    if (!isRole(item)) throw new Error('unknown role')
    roles.push(item)
  }
  const canonical = canonicalRoles(roles)
  if (canonical.length !== roles.length || canonical.some((role, i) => role !== roles[i])) throw new Error('roles not canonical')
  return roles
}

/** [CA-4] The request-time extension, carried in a certificate request's extensionRequest attribute. */
export function createRequestTimeExtension (time: Date): x509.Extension {
  return new x509.Extension(REQUEST_TIME_EXTENSION_OID, false, encodeGeneralizedTime(time))
}

export function parseRequestTimeExtensionValue (value: ArrayBuffer): Date {
  return decodeGeneralizedTime(new Uint8Array(value))
}
