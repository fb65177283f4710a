import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { leafHash, rootFromInclusionProof, treeWithProofs } from './merkle.ts'
import { fromHex, toHex, utf8 } from './bytes.ts'
import { SUITES } from '../../test/support/suites.ts'

// The Certificate Transparency test data (RFC 6962 §2.1, as in the reference implementations):
// eight entries, the tree heads of their prefixes, and two published inclusion proofs.
const ENTRIES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex)
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'
]
const PROOFS: Array<{ index: number, size: number, path: string[] }> = [
  { index: 0, size: 8, path: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { index: 5, size: 8, path: ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] }
]

for (const suite of SUITES) {
  describe(`Merkle tree, RFC 9162 §2.1 (${suite.name})`, () => {
    it('reproduces the published tree heads and inclusion proofs', async () => {
      const leaves = await Promise.all(ENTRIES.map(async e => await leafHash(suite, e)))
      for (let n = 1; n <= 8; n++) assert.equal(toHex((await treeWithProofs(suite, leaves.slice(0, n))).root), ROOTS[n - 1], `tree size ${n}`)
      const { proofs } = await treeWithProofs(suite, leaves)
      for (const vector of PROOFS) {
        assert.deepEqual(proofs[vector.index]?.map(toHex), vector.path, `PATH(${vector.index}, D[8])`)
        const root = await rootFromInclusionProof(suite, vector.index, vector.size, leaves[vector.index] as Uint8Array, vector.path.map(fromHex))
        assert.equal(root === undefined ? undefined : toHex(root), ROOTS[7])
      }
    })

    it('every proof of every tree up to 33 leaves leads to its root; a wrong index, leaf or path does not (the root alone does not fix the size: [ENV-9] signs both)', async () => {
      const all = await Promise.all(Array.from({ length: 33 }, async (_, i) => await leafHash(suite, utf8(`leaf ${i}`))))
      const other = await leafHash(suite, utf8('another leaf'))
      for (let n = 1; n <= all.length; n++) {
        const leaves = all.slice(0, n)
        const { root, proofs } = await treeWithProofs(suite, leaves)
        const reaches = async (index: number, size: number, leaf: Uint8Array, path: Uint8Array[]): Promise<boolean> => {
          const r = await rootFromInclusionProof(suite, index, size, leaf, path)
          return r !== undefined && toHex(r) === toHex(root)
        }
        for (let m = 0; m < n; m++) {
          const path = proofs[m] as Uint8Array[]
          const leaf = leaves[m] as Uint8Array
          assert.ok(await reaches(m, n, leaf, path), `n=${n} m=${m}`)
          assert.ok(!await reaches(m, n, other, path), `n=${n} m=${m}: another leaf`)
          if (n > 1) {
            assert.ok(!await reaches((m + 1) % n, n, leaf, path), `n=${n} m=${m}: another index`)
            assert.ok(!await reaches(m, n, leaf, path.slice(1)), `n=${n} m=${m}: a shorter path`)
            assert.equal(await rootFromInclusionProof(suite, m, n, leaf, path.slice(0, -1)), undefined, `n=${n} m=${m}: a path that stops below the root leads nowhere`)
            assert.ok(!await reaches(m, n, leaf, [...path, other]), `n=${n} m=${m}: a longer path`)
            const bent = path.map((h, i) => i === 0 ? other : h)
            assert.ok(!await reaches(m, n, leaf, bent), `n=${n} m=${m}: a changed path`)
          }
        }
        assert.equal(await rootFromInclusionProof(suite, n, n, leaves[0] as Uint8Array, []), undefined, 'index out of range')
        assert.equal(await rootFromInclusionProof(suite, -1, n, leaves[0] as Uint8Array, []), undefined, 'negative index')
      }
    })
  })
}
