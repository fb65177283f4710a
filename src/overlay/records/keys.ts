/**
 * DHT key namespaces. [OVL-10] A gatemesh DHT key is the UTF-8 string `/<namespace>/<id>`: the
 * namespace names the validator and the selector (kad-dht picks them by the first path segment),
 * the id is 1..200 characters of [A-Za-z0-9._:=-].
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
const KNOWN = new Set<string>(Object.values(NAMESPACES))

export interface ParsedKey {
  namespace: Namespace
  id: string
}

export function parseKey (key: string | Uint8Array): ParsedKey {
  let text: string
  try {
    text = typeof key === 'string' ? key : new TextDecoder('utf-8', { fatal: true }).decode(key)
  } catch {
    throw new GatemeshError('GM_ERR_RECORD_KEY', 'The key is not UTF-8.')
  }
  const parts = text.split('/')
  if (parts.length !== 3 || parts[0] !== '') throw new GatemeshError('GM_ERR_RECORD_KEY', 'Expected /<namespace>/<id>.')
  const [, namespace = '', id = ''] = parts
  if (!KNOWN.has(namespace)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'Unknown namespace.')
  if (!ID.test(id)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'Malformed id.')
  if (namespace === NAMESPACES.crl && id !== 'ca') throw new GatemeshError('GM_ERR_RECORD_KEY', 'The CRL lives under /gm-crl/ca only.')
  return { namespace: namespace as Namespace, id }
}

export function recordKey (namespace: Namespace, id: string): string {
  const key = `/${namespace}/${id}`
  parseKey(key)
  return key
}

export function keyBytes (key: string): Uint8Array {
  return new TextEncoder().encode(key)
}
