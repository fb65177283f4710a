/**
 * DHT key namespaces. [OVL-10] A gatemesh DHT key is the UTF-8 string `/<namespace>/<id>`: the
 * namespace names the validator and the selector (kad-dht picks them by the first path segment),
 * the id is 1..200 characters of [A-Za-z0-9._:=-]. The built-in namespaces are below; a service
 * registers its own through the overlay ([OVL-34], registry.ts).
 */
import { GatemeshError } from '../../core/index.ts'

export const NAMESPACES = {
  account: 'gm-account',
  sensor: 'gm-sensor',
  latest: 'gm-latest',
  access: 'gm-access',
  crl: 'gm-crl'
} as const

export type Namespace = typeof NAMESPACES[keyof typeof NAMESPACES]

/** The record `type` each signed namespace requires. [OVL-11] */
export const RECORD_TYPES = {
  'gm-account': 'account',
  'gm-sensor': 'sensor',
  'gm-latest': 'latest',
  'gm-access': 'access-index'
} as const

/** The one key under which the CA's revocation list lives. [OVL-20] */
export const CRL_KEY = '/gm-crl/ca'

const ID = /^[A-Za-z0-9._:=-]{1,200}$/
/** [OVL-34] A namespace (key prefix) is 1..32 characters of [a-z0-9-], starting with a letter or digit. */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/
const KNOWN = new Set<string>(Object.values(NAMESPACES))

export interface ParsedKey {
  namespace: Namespace
  id: string
}

/** A key's namespace and id, checked for syntax only (any namespace, registered or not). */
export function splitKey (key: string | Uint8Array): { namespace: string, id: string } {
  let text: string
  try {
    text = typeof key === 'string' ? key : new TextDecoder('utf-8', { fatal: true }).decode(key)
  } catch {
    throw new GatemeshError('GM_ERR_RECORD_KEY', 'The key is not UTF-8.')
  }
  const parts = text.split('/')
  if (parts.length !== 3 || parts[0] !== '') throw new GatemeshError('GM_ERR_RECORD_KEY', 'Expected /<namespace>/<id>.')
  const [, namespace = '', id = ''] = parts
  if (!NAMESPACE_PATTERN.test(namespace)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'Malformed namespace.')
  if (!ID.test(id)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'Malformed id.')
  return { namespace, id }
}

/** A key in one of the built-in namespaces (the CRL under /gm-crl/ca only); else GM_ERR_RECORD_KEY. */
export function parseKey (key: string | Uint8Array): ParsedKey {
  const { namespace, id } = splitKey(key)
  if (!KNOWN.has(namespace)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'Unknown namespace.')
  if (namespace === NAMESPACES.crl && id !== 'ca') throw new GatemeshError('GM_ERR_RECORD_KEY', 'The CRL lives under /gm-crl/ca only.')
  return { namespace: namespace as Namespace, id }
}

/** `/<namespace>/<id>`, checked for syntax (and for the built-in namespaces, their own rules). */
export function recordKey (namespace: string, id: string): string {
  const key = `/${namespace}/${id}`
  if (KNOWN.has(namespace)) parseKey(key)
  else splitKey(key)
  return key
}

export function keyBytes (key: string): Uint8Array {
  return new TextEncoder().encode(key)
}
