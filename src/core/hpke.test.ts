// HPKE (@hpke/core through hpke.ts) against RFC 9180 Appendix A.1 (DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-128-GCM, base mode), with the recipient's key held by each CryptoSuite.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fromHex, toHex } from './bytes.ts'
import { CipherSuite, DhkemX25519HkdfSha256, ExportOnly, HkdfSha256 } from '@hpke/core'
import { AES_128_GCM, AES_256_GCM, contextExport, setupBaseRecipient, setupBaseSender } from './hpke.ts'
import { SUITES } from '../../test/support/suites.ts'
import { rejectsWithCode } from '../../test/support/assert-error.ts'

const A1 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234',
  pkEm: '37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431',
  skEm: '52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736',
  ikmR: '6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037',
  pkRm: '3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d',
  skRm: '4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8',
  key: '4531685d41d65f03dc48f6b8302c05b0',
  baseNonce: '56d890e5accaaf011cff4b7d',
  exporterSecret: '45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8',
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  encryptions: [
    { seq: 0, aad: '436f756e742d30', nonce: '56d890e5accaaf011cff4b7d', ct: 'f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a' },
    { seq: 1, aad: '436f756e742d31', nonce: '56d890e5accaaf011cff4b7c', ct: 'af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84' },
    { seq: 255, aad: '436f756e742d323535', nonce: '56d890e5accaaf011cff4b82', ct: '7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a' },
    { seq: 256, aad: '436f756e742d323536', nonce: '56d890e5accaaf011cff4a7d', ct: '957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2' }
  ],
  exports: [
    { context: '', value: '3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee' },
    { context: '00', value: '2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5' },
    { context: '54657374436f6e74657874', value: 'e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931' }
  ]
}

const bytes = (buffer: ArrayBuffer): Uint8Array => new Uint8Array(buffer)
const countAad = (seq: number): Uint8Array => new TextEncoder().encode(`Count-${seq}`)

describe('HPKE RFC 9180 A.1 key derivation (@hpke/core)', () => {
  it('derives both key pairs from their input keying material', async () => {
    const kem = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new ExportOnly() }).kem
    for (const [ikm, sk, pk] of [[A1.ikmE, A1.skEm, A1.pkEm], [A1.ikmR, A1.skRm, A1.pkRm]] as const) {
      const pair = await kem.deriveKeyPair(fromHex(ikm))
      assert.equal(toHex(bytes(await kem.serializePrivateKey(pair.privateKey))), sk)
      assert.equal(toHex(bytes(await kem.serializePublicKey(pair.publicKey))), pk)
    }
  })
})

for (const suite of SUITES) {
  describe(`HPKE RFC 9180 A.1 (recipient key in ${suite.name})`, () => {
    it('sender and recipient reach the published encapsulation, ciphertexts and exports', async () => {
      const { enc, context } = await setupBaseSender(AES_128_GCM, fromHex(A1.pkRm), fromHex(A1.info), fromHex(A1.ikmE))
      assert.equal(toHex(enc), A1.pkEm)
      const recipient = await suite.importAgreementKey(fromHex(A1.skRm))
      assert.equal(toHex(recipient.publicKey), A1.pkRm)
      const opened = await setupBaseRecipient(suite, AES_128_GCM, enc, recipient, fromHex(A1.info))
      // The vectors give sequence numbers 0, 1, 255 and 256: seal and open every one in between,
      // with the vectors' associated data ("Count-<seq>"), as the contexts count them.
      const expected = new Map(A1.encryptions.map(v => [v.seq, v]))
      for (let seq = 0; seq <= 256; seq++) {
        const ct = bytes(await context.seal(fromHex(A1.pt), countAad(seq)))
        const vector = expected.get(seq)
        if (vector !== undefined) {
          assert.equal(toHex(countAad(seq)), vector.aad)
          assert.equal(toHex(ct), vector.ct, `ciphertext ${seq}`)
          // The key schedule's published key and nonce for this sequence number give that ciphertext.
          assert.equal(toHex(await suite.aeadSeal(fromHex(A1.key), fromHex(vector.nonce), fromHex(A1.pt), countAad(seq))), vector.ct)
        }
        assert.equal(toHex(bytes(await opened.open(ct, countAad(seq)))), A1.pt)
      }
      for (const v of A1.exports) {
        assert.equal(toHex(await contextExport(context, fromHex(v.context), 32)), v.value)
        assert.equal(toHex(await contextExport(opened, fromHex(v.context), 32)), v.value)
      }
    })

    it('refuses low-order and malformed keys with GM_ERR_BAD_KEY', async () => {
      const recipient = await suite.importAgreementKey(fromHex(A1.skRm))
      await rejectsWithCode(() => setupBaseRecipient(suite, AES_256_GCM, new Uint8Array(32), recipient, new Uint8Array(0)), 'GM_ERR_BAD_KEY', 'a low-order encapsulation')
      await rejectsWithCode(() => setupBaseRecipient(suite, AES_256_GCM, new Uint8Array(16), recipient, new Uint8Array(0)), 'GM_ERR_BAD_KEY', 'a short encapsulation')
      await rejectsWithCode(() => setupBaseSender(AES_256_GCM, new Uint8Array(32), new Uint8Array(0), suite.randomBytes(32)), 'GM_ERR_BAD_KEY', 'a low-order recipient key')
      await rejectsWithCode(() => setupBaseSender(AES_256_GCM, new Uint8Array(31), new Uint8Array(0), suite.randomBytes(32)), 'GM_ERR_BAD_KEY', 'a short recipient key')
    })
  })
}
