/**
 * The built-in namespaces [OVL-10]: each prefix with its validator (validators.ts) and selector
 * (selectors.ts). They stay registered by every overlay node, whatever services it runs: any peer
 * may be among the k closest to a key, so every peer must validate every namespace of the network.
 */
import { NAMESPACES } from './keys.ts'
import { selectors } from './selectors.ts'
import type { NamespaceDefinition } from './registry.ts'
import type { Validators } from '@libp2p/kad-dht'

export function builtinNamespaces (validators: Validators): NamespaceDefinition[] {
  return Object.values(NAMESPACES).map(prefix => {
    const validate = validators[prefix]
    const select = selectors[prefix]
    if (validate === undefined || select === undefined) throw new Error(`no validator or selector for the built-in namespace ${prefix}`)
    return { prefix, validate, select }
  })
}
