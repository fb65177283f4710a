/**
 * Small byte arrays carved from a shared slab, as Node's Buffer pool does. In V8 a Uint8Array of
 * more than 64 bytes gets an ArrayBuffer of its own, which cost about 2 µs to allocate (and more
 * to collect), and sealing a reading made a dozen. Still paying on 2026-12-07 (docs/PERFORMANCE.md,
 * "The optimisations audited"): a 420-byte envelope copied 170-210 ns from the slab against
 * 1 390-3 000 ns into an array of its own, and the PUBACK tail was shorter with it.
 * The rules, held by slab.test.ts: a view is zeroed, 8-byte aligned, and no byte of the slab is
 * handed out twice, so a view never sees another's data. What the slab cannot enforce: a view
 * keeps its 16 KiB slab alive, and posting a view to a thread copies its whole ArrayBuffer
 * (copy what you post: seal-pool.ts's compact), and transferring it would detach every view.
 */

/** Arrays up to this size are carved from a shared slab. */
export const SLAB_MAX_BYTES = 1024
export const SLAB_BYTES = 16 * 1024
let slab = new ArrayBuffer(SLAB_BYTES)
let slabOffset = 0

/** A zeroed array of `length` bytes: a view of the slab up to SLAB_MAX_BYTES, else its own. */
export function allocBytes (length: number): Uint8Array {
  if (length > SLAB_MAX_BYTES) return new Uint8Array(length)
  if (slabOffset + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabOffset = 0
  }
  const out = new Uint8Array(slab, slabOffset, length)
  // 8-byte aligned, so a DataView or a wider typed array over a view stays aligned
  slabOffset += (length + 7) & ~7
  return out
}
