/**
 * Known-answer vectors for the core's constructions: fixed keys and fixed "randomness" give fixed
 * bytes. The same function runs in Node (against every suite) and in Chromium, and all must give
 * test/vectors/core-kat.json byte for byte. The randomness here is a fixed stream for vectors
 * only; never a source of keys.
 */
import {
  createAccountBundle, EnvelopeOpener, EnvelopeSealer, fromHex, fromUtf8, identityFromSecrets, openAccountBundle,
  openCheckpoint, openRecord, signCheckpoint, signRecord, signRequest, toHex, utf8, type CryptoSuite
} from '../../src/core/index.ts'

/** A suite whose randomBytes is a fixed, reproducible stream (xorshift32); everything else is the suite's. */
export function withFixedRandomness (suite: CryptoSuite, seed: number): CryptoSuite {
  let state = seed >>> 0 || 1
  return {
    ...suite,
    name: `${suite.name}+fixed-randomness`,
    randomBytes (length: number): Uint8Array {
      const out = new Uint8Array(length)
      for (let i = 0; i < length; i++) {
        state ^= state << 13; state >>>= 0
        state ^= state >>> 17
        state ^= state << 5; state >>>= 0
        out[i] = state & 255
      }
      return out
    }
  }
}

export const KAT_INPUTS = {
  alice: { signingSeed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', agreementSecret: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a' },
  bob: { signingSeed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', agreementSecret: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb' },
  gatewaySeed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
  password: 'correct horse battery staple',
  iterations: 1000,
  reading: { sensor: 'greenhouse-7', ts: 1764000000000, seq: 42, plaintext: '{"temperature":21.5,"humidity":40}' },
  // [PER-10] a late part (part 1) of the bucket of 2025-11-24T16:00:00Z, linked to a previous checkpoint
  checkpoint: { bucket: 29_400_000, seqs: [1_764_000_000_000_000, 1_764_000_000_500_001, 1_764_000_059_999_999], prevHash: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff' },
  request: { method: 'POST', url: '/v1/sensors/greenhouse-7/access?notify=1', body: '{"grant":"bob"}', created: 1764000000, nonce: 'bm9uY2Utbm9uY2Utbm9uY2U' }
} as const

export type KnownAnswers = Record<string, string>

export async function computeKnownAnswers (baseSuite: CryptoSuite): Promise<KnownAnswers> {
  const suite = withFixedRandomness(baseSuite, 0x5eed)
  const alice = await identityFromSecrets(suite, fromHex(KAT_INPUTS.alice.signingSeed), fromHex(KAT_INPUTS.alice.agreementSecret))
  const bob = await identityFromSecrets(suite, fromHex(KAT_INPUTS.bob.signingSeed), fromHex(KAT_INPUTS.bob.agreementSecret))
  const gateway = await suite.importSigningKey(fromHex(KAT_INPUTS.gatewaySeed))
  const bundle = await createAccountBundle(suite, alice, KAT_INPUTS.password, { iterations: KAT_INPUTS.iterations, allowWeakKdf: true })
  const record = await signRecord(suite, alice.signingKey, { type: 'sensor', key: KAT_INPUTS.reading.sensor, seq: 7, exp: 1900000000000, body: { owner: alice.pseudonym, readers: [bob.pseudonym] } })
  const sealer = new EnvelopeSealer({ suite, signer: gateway }, { now: () => 0 })
  const { sensor, ts, seq, plaintext } = KAT_INPUTS.reading
  const recipients = [alice, bob].map(who => ({ id: who.pseudonym, publicKey: who.encPub }))
  const envelope1 = await sealer.seal({ sensor, ts, seq }, utf8(plaintext), recipients)
  const envelope2 = await sealer.seal({ sensor, ts: ts + 1000, seq: seq + 1 }, utf8(plaintext), recipients)
  // [ENV-9] three readings signed together; the vector is the middle one (a path of two hashes)
  const batch = await sealer.sealBatch([2, 3, 4].map(k => ({ header: { sensor, ts: ts + k * 1000, seq: seq + k }, plaintext: utf8(plaintext), recipients })))
  const batched = batch[1]
  if (batched === undefined || !('envelope' in batched)) throw new Error('the batch vector was not sealed')
  const { bucket, seqs, prevHash } = KAT_INPUTS.checkpoint
  const checkpoint = await signCheckpoint(suite, gateway, { sensor, gw: gateway.publicKey, bucket, part: 1, prev: { bucket, part: 0, h: fromHex(prevHash) }, seqs: [...seqs] })
  const { method, url, body, created, nonce } = KAT_INPUTS.request
  const headers = await signRequest(suite, { keyId: alice.pseudonym, key: alice.signingKey }, { method, url, body: utf8(body) }, { created, nonce })
  return {
    alicePseudonym: alice.pseudonym,
    aliceSigPub: toHex(alice.sigPub),
    aliceEncPub: toHex(alice.encPub),
    bobPseudonym: bob.pseudonym,
    gatewayPub: toHex(gateway.publicKey),
    accountBundle: toHex(bundle),
    sensorRecord: toHex(record),
    envelope1: toHex(envelope1),
    envelope2: toHex(envelope2),
    envelopeBatch1Of3: toHex(batched.envelope),
    checkpoint: toHex(checkpoint),
    checkpointHash: toHex((await openCheckpoint(suite, checkpoint)).hash),
    requestContentDigest: headers['content-digest'],
    requestSignatureInput: headers['signature-input'],
    requestSignature: headers.signature
  }
}

/** Opens the vectors' sealed objects with the suite: what a reader does with bytes from elsewhere. */
export async function openKnownAnswers (suite: CryptoSuite, answers: KnownAnswers): Promise<Record<string, string>> {
  const alice = await openAccountBundle(suite, fromHex(answers.accountBundle as string), KAT_INPUTS.password, { allowWeakKdf: true })
  const bob = await identityFromSecrets(suite, fromHex(KAT_INPUTS.bob.signingSeed), fromHex(KAT_INPUTS.bob.agreementSecret))
  const record = await openRecord(suite, fromHex(answers.sensorRecord as string), { type: 'sensor', now: 1800000000000 })
  const byAlice = await new EnvelopeOpener({ suite, reader: alice }).open(fromHex(answers.envelope1 as string))
  const byBob = await new EnvelopeOpener({ suite, reader: bob }).open(fromHex(answers.envelope2 as string))
  const batchByBob = await new EnvelopeOpener({ suite, reader: bob }).open(fromHex(answers.envelopeBatch1Of3 as string))
  const checkpoint = await openCheckpoint(suite, fromHex(answers.checkpoint as string))
  return {
    alicePseudonym: alice.pseudonym,
    recordKey: record.key,
    envelope1ByAlice: fromUtf8(byAlice.plaintext),
    envelope2ByBob: `${byBob.header.seq}:${fromUtf8(byBob.plaintext)}`,
    envelopeBatch1Of3ByBob: `${batchByBob.header.seq}:${fromUtf8(batchByBob.plaintext)}`,
    checkpointSeqs: `${checkpoint.bucket}.${checkpoint.part}:${checkpoint.seqs.join(',')}`
  }
}
