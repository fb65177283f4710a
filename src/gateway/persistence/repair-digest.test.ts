/**
 * [PER-2] A repair bucket's hash: the same bytes as the clause defines them, and for a bucket of
 * any size (one of 60 000 readings overflowed the stack when its ids were spread as arguments).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { bucketHash } from './repair-digest.ts'

const suite = createNodeCryptoSuite()
const be64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b }

describe('bucketHash [PER-2]', () => {
  it('is SHA-256 over 0x00 || uint64be(seq) || gw per reading, then 0x01 || uint64be(bucket) || uint64be(part) || gw per checkpoint', async () => {
    const gwA = new Uint8Array(32).fill(0xa1)
    const gwB = new Uint8Array(32).fill(0xb2)
    const keys = [{ seq: 1_764_000_000_000_123, gw: gwA }, { seq: 2 ** 53 - 1, gw: gwB }]
    const cps = [{ bucket: 29_400_000, part: 0, gw: gwA }, { bucket: 29_400_001, part: 3, gw: gwB }]
    const expected = createHash('sha256')
    for (const k of keys) expected.update(Buffer.concat([Buffer.of(0), be64(k.seq), k.gw]))
    for (const c of cps) expected.update(Buffer.concat([Buffer.of(1), be64(c.bucket), be64(c.part), c.gw]))
    assert.deepEqual(Buffer.from(await bucketHash(suite, keys, cps)), expected.digest())
    assert.deepEqual(Buffer.from(await bucketHash(suite, [])), createHash('sha256').digest(), 'an empty bucket')
  })

  it('hashes a bucket of 200 000 readings', async () => {
    const gw = new Uint8Array(32).fill(7)
    const keys = Array.from({ length: 200_000 }, (_, i) => ({ seq: 1_764_000_000_000_000 + i * 1000, gw }))
    const expected = createHash('sha256')
    for (const k of keys) expected.update(Buffer.concat([Buffer.of(0), be64(k.seq), k.gw]))
    assert.deepEqual(Buffer.from(await bucketHash(suite, keys)), expected.digest())
  })
})
