/** Assertions on gatemesh's error contract: a GatemeshError with a given code, and nothing else. */
import assert from 'node:assert/strict'
import { isGatemeshError, type ErrorCode } from '../../src/core/index.ts'

export async function rejectsWithCode (action: () => Promise<unknown>, code: ErrorCode | readonly ErrorCode[], what?: string): Promise<void> {
  const codes = typeof code === 'string' ? [code] : code
  try {
    await action()
  } catch (err) {
    assert.ok(isGatemeshError(err), `${what ?? 'action'} threw a non-gatemesh error: ${String(err)}`)
    assert.ok(codes.includes(err.code), `${what ?? 'action'} failed with ${err.code}, expected ${codes.join(' or ')}`)
    return
  }
  assert.fail(`${what ?? 'action'} succeeded; expected ${codes.join(' or ')}`)
}

/** Flips one bit at every byte position in turn; each variant must be refused with a gatemesh code. */
export async function everyByteFlipIsRefused (bytes: Uint8Array, open: (variant: Uint8Array) => Promise<unknown>): Promise<Set<string>> {
  const seen = new Set<string>()
  for (let i = 0; i < bytes.length; i++) {
    const variant = Uint8Array.from(bytes)
    variant[i] = (variant[i] as number) ^ 0x01
    try {
      await open(variant)
    } catch (err) {
      assert.ok(isGatemeshError(err), `flip at byte ${i} threw a non-gatemesh error: ${String(err)}`)
      seen.add(err.code)
      continue
    }
    assert.fail(`flip at byte ${i} of ${bytes.length} was accepted`)
  }
  return seen
}
