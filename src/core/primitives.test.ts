// Every suite against the primitives' published vectors (RFC 8032, RFC 7748, NIST GCM, RFC 7914).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fromHex, toHex, utf8 } from './bytes.ts'
import { SUITES } from '../../test/support/suites.ts'
import { rejectsWithCode } from '../../test/support/assert-error.ts'

for (const suite of SUITES) {
  describe(`primitives (${suite.name})`, () => {
    it('Ed25519 matches RFC 8032 §7.1 tests 1 and 2', async () => {
      const one = await suite.importSigningKey(fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'))
      assert.equal(toHex(one.publicKey), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
      const sig1 = await suite.sign(one, new Uint8Array(0))
      assert.equal(toHex(sig1), 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b')
      const two = await suite.importSigningKey(fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'))
      const sig2 = await suite.sign(two, fromHex('72'))
      assert.equal(toHex(sig2), '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00')
      assert.equal(await suite.verify(two.publicKey, fromHex('72'), sig2), true)
      assert.equal(await suite.verify(two.publicKey, fromHex('73'), sig2), false)
      assert.equal(await suite.verify(one.publicKey, fromHex('72'), sig2), false)
      assert.equal(await suite.verify(new Uint8Array(31), fromHex('72'), sig2), false, 'short key is false, not a throw')
      assert.equal(await suite.verify(two.publicKey, fromHex('72'), sig2.subarray(1)), false, 'short signature is false')
    })

    it('X25519 matches RFC 7748 §6.1', async () => {
      const alice = await suite.importAgreementKey(fromHex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
      const bob = await suite.importAgreementKey(fromHex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'))
      assert.equal(toHex(alice.publicKey), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
      assert.equal(toHex(bob.publicKey), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
      // The agreement itself runs in WebCrypto (HPKE, @hpke/core): each suite's key as a CryptoKey.
      const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
      const agree = async (mine: typeof alice, theirs: Uint8Array): Promise<string> => {
        const peer = await crypto.subtle.importKey('raw', Uint8Array.from(theirs), { name: 'X25519' }, false, [])
        return toHex(new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: peer }, await suite.agreementCryptoKey(mine), 256)))
      }
      assert.equal(await agree(alice, bob.publicKey), shared)
      assert.equal(await agree(bob, alice.publicKey), shared)
      await rejectsWithCode(() => suite.importAgreementKey(new Uint8Array(31)), 'GM_ERR_BAD_KEY')
    })

    it('AES-256-GCM matches the GCM specification test case 16', async () => {
      const key = fromHex('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308')
      const nonce = fromHex('cafebabefacedbaddecaf888')
      const aad = fromHex('feedfacedeadbeeffeedfacedeadbeefabaddad2')
      const plaintext = fromHex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39')
      const expected = '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662' + '76fc6ece0f4e1768cddf8853bb2d551b'
      assert.equal(toHex(await suite.aeadSeal(key, nonce, plaintext, aad)), expected)
      const prepared = await suite.importAeadKey(key)
      assert.equal(toHex(await suite.aeadSeal(prepared, nonce, plaintext, aad)), expected)
      if (suite.aeadSealSync !== undefined) {
        assert.equal(toHex(suite.aeadSealSync(key, nonce, plaintext, aad)), expected)
        assert.equal(toHex(suite.aeadSealSync(prepared, nonce, plaintext, aad)), expected)
      }
      assert.equal(toHex(await suite.aeadOpen(prepared, nonce, fromHex(expected), aad)), toHex(plaintext))
      const tampered = fromHex(expected)
      tampered[3] = (tampered[3] as number) ^ 1
      await rejectsWithCode(() => suite.aeadOpen(key, nonce, tampered, aad), 'GM_ERR_DECRYPT_FAILED')
      await rejectsWithCode(() => suite.aeadOpen(key, nonce, fromHex(expected), new Uint8Array(0)), 'GM_ERR_DECRYPT_FAILED')
      await rejectsWithCode(() => suite.aeadOpen(key, nonce, new Uint8Array(5), aad), 'GM_ERR_DECRYPT_FAILED')
      await rejectsWithCode(() => suite.aeadSeal(new Uint8Array(31), nonce, plaintext, aad), 'GM_ERR_BAD_KEY')
    })

    it('SHA-256 and PBKDF2-SHA256 match RFC 7914 §11', async () => {
      assert.equal(toHex(await suite.sha256(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
      if (suite.sha256Sync !== undefined) assert.equal(toHex(suite.sha256Sync(utf8('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
      assert.equal(toHex(await suite.pbkdf2Sha256(utf8('passwd'), utf8('salt'), 1, 64)), '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783')
    })

    it('randomBytes gives fresh bytes every call', () => {
      const seen = new Set<string>()
      for (let i = 0; i < 2000; i++) seen.add(toHex(suite.randomBytes(44)))
      assert.equal(seen.size, 2000)
      assert.equal(suite.randomBytes(100_000).length, 100_000)
    })
  })
}
