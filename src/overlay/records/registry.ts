/**
 * The DHT's namespaces. [OVL-34] Every key prefix the overlay stores records under is registered
 * here with its validator and selector, before the node starts: the built-in ones (accounts,
 * sensors, latest readings, access indexes, the CRL) and any a service adds through
 * `OverlayNode.registerNamespace`. A key under any other prefix is refused (GM_ERR_RECORD_KEY),
 * by this peer's own checks and by the validator table kad-dht is given, where kad-dht's own
 * defaults (`/pk/`, `/ipns/`) are replaced by refusals.
 */
import { GatemeshError } from '../../core/index.ts'
import { NAMESPACE_PATTERN, splitKey } from './keys.ts'
import type { SelectFn, Selectors, ValidateFn, Validators } from '@libp2p/kad-dht'

export interface NamespaceDefinition {
  /** The key prefix: records live under `/<prefix>/<id>`. 1..32 characters of [a-z0-9-]. */
  prefix: string
  /** Throws (a GatemeshError) unless `value` may be stored under `key`; see [OVL-11]..[OVL-13]. */
  validate: ValidateFn
  /** The index of the record that wins among several valid ones for one key. [OVL-14] */
  select: SelectFn
}

/** kad-dht's built-in namespaces, which gatemesh never stores. */
const KAD_DEFAULTS = ['pk', 'ipns']

const refuse: ValidateFn = async () => { throw new GatemeshError('GM_ERR_RECORD_KEY', 'Unknown namespace.') }

export class NamespaceRegistry {
  private readonly definitions = new Map<string, NamespaceDefinition>()
  private closed = false

  /** Adds a namespace. GM_ERR_OVERLAY_REGISTERED when the prefix is taken; GM_ERR_OVERLAY_CONFIG when malformed or too late. */
  register (definition: NamespaceDefinition): void {
    const { prefix, validate, select } = definition
    if (this.closed) throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', 'Namespaces are registered before the overlay starts.')
    if (typeof prefix !== 'string' || !NAMESPACE_PATTERN.test(prefix) || KAD_DEFAULTS.includes(prefix)) {
      throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `Not a namespace prefix: ${String(prefix)}`)
    }
    if (typeof validate !== 'function' || typeof select !== 'function') throw new GatemeshError('GM_ERR_OVERLAY_CONFIG', `The namespace ${prefix} needs a validator and a selector.`)
    if (this.definitions.has(prefix)) throw new GatemeshError('GM_ERR_OVERLAY_REGISTERED', `The namespace ${prefix} is already registered.`)
    this.definitions.set(prefix, { prefix, validate, select })
  }

  /** No registration after this (the node has handed the tables to kad-dht). */
  close (): void { this.closed = true }

  has (prefix: string): boolean { return this.definitions.has(prefix) }

  prefixes (): string[] { return [...this.definitions.keys()] }

  /** The namespace and id of a key under a registered prefix; else GM_ERR_RECORD_KEY. */
  parse (key: string | Uint8Array): { namespace: string, id: string } {
    const parsed = splitKey(key)
    if (!this.definitions.has(parsed.namespace)) throw new GatemeshError('GM_ERR_RECORD_KEY', 'Unknown namespace.')
    return parsed
  }

  /** Validates a record as kad-dht would on this peer (the namespace's validator), refusing unknown prefixes. */
  async validate (key: Uint8Array, value: Uint8Array): Promise<void> {
    const definition = this.definitions.get(this.parse(key).namespace)
    if (definition === undefined) throw new GatemeshError('GM_ERR_RECORD_KEY')
    await definition.validate(key, value)
  }

  /** The validator table for kad-dht: every registered prefix, and refusals for kad-dht's own. */
  validators (): Validators {
    const table: Validators = Object.fromEntries(KAD_DEFAULTS.map(prefix => [prefix, refuse]))
    for (const [prefix, definition] of this.definitions) table[prefix] = definition.validate
    return table
  }

  /** The selector table for kad-dht. */
  selectors (): Selectors {
    const table: Selectors = Object.fromEntries(KAD_DEFAULTS.map(prefix => [prefix, () => 0]))
    for (const [prefix, definition] of this.definitions) table[prefix] = definition.select
    return table
  }
}
