import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isGatemeshError } from '../../core/index.ts'
import '../errors.ts'
import { NamespaceRegistry } from './registry.ts'

const enc = new TextEncoder()

function code (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(isGatemeshError(err), `a GatemeshError, not ${String(err)}`)
    return err.code
  }
  assert.fail('expected a failure')
}

async function codeOf (promise: Promise<unknown> | unknown): Promise<string> {
  try {
    await promise
  } catch (err) {
    assert.ok(isGatemeshError(err), `a GatemeshError, not ${String(err)}`)
    return err.code
  }
  return 'accepted'
}

describe('DHT namespace registry [OVL-34]', () => {
  const accept = (): void => {}
  const first = (): number => 0

  it('registers a namespace once: a duplicate prefix is refused', () => {
    const registry = new NamespaceRegistry()
    registry.register({ prefix: 'gm-history', validate: accept, select: first })
    assert.ok(registry.has('gm-history'))
    assert.equal(code(() => { registry.register({ prefix: 'gm-history', validate: accept, select: first }) }), 'GM_ERR_OVERLAY_REGISTERED')
  })

  it('refuses malformed prefixes, kad-dht\'s own, missing functions, and any registration once closed', () => {
    const registry = new NamespaceRegistry()
    for (const prefix of ['', 'GM', 'gm/x', '-gm', 'x'.repeat(33), 'pk', 'ipns']) {
      assert.equal(code(() => { registry.register({ prefix, validate: accept, select: first }) }), 'GM_ERR_OVERLAY_CONFIG', prefix)
    }
    assert.equal(code(() => { registry.register({ prefix: 'gm-x', validate: undefined as never, select: first }) }), 'GM_ERR_OVERLAY_CONFIG')
    registry.close()
    assert.equal(code(() => { registry.register({ prefix: 'gm-late', validate: accept, select: first }) }), 'GM_ERR_OVERLAY_CONFIG')
  })

  it('validates with the namespace\'s own validator and refuses a key under an unknown prefix', async () => {
    const registry = new NamespaceRegistry()
    const seen: string[] = []
    registry.register({ prefix: 'gm-history', validate: key => { seen.push(new TextDecoder().decode(key)) }, select: first })
    assert.equal(await codeOf(registry.validate(enc.encode('/gm-history/s1'), new Uint8Array([1]))), 'accepted')
    assert.deepEqual(seen, ['/gm-history/s1'])
    for (const key of ['/gm-nope/s1', '/pk/abc', '/ipns/abc', '/gm-history', 'gm-history/s1']) {
      assert.equal(await codeOf(registry.validate(enc.encode(key), new Uint8Array([1]))), 'GM_ERR_RECORD_KEY', key)
    }
    assert.equal(code(() => registry.parse('/gm-nope/s1')), 'GM_ERR_RECORD_KEY')
  })

  it('hands kad-dht tables of the registered prefixes, with refusals in place of kad-dht\'s defaults', async () => {
    const registry = new NamespaceRegistry()
    registry.register({ prefix: 'gm-history', validate: accept, select: () => 1 })
    const validators = registry.validators()
    const selectors = registry.selectors()
    assert.deepEqual(Object.keys(validators).sort(), ['gm-history', 'ipns', 'pk'])
    assert.equal(selectors['gm-history']?.(new Uint8Array(), []), 1)
    // kad-dht merges its own `pk` validator under ours: ours must refuse, not accept a public key record
    assert.equal(await codeOf(validators.pk?.(enc.encode('/pk/abc'), new Uint8Array([1]))), 'GM_ERR_RECORD_KEY')
    assert.equal(await codeOf(validators.ipns?.(enc.encode('/ipns/abc'), new Uint8Array([1]))), 'GM_ERR_RECORD_KEY')
    // an unregistered prefix has no entry, which kad-dht refuses ("No validator available")
    assert.equal(validators['gm-nope'], undefined)
  })
})
