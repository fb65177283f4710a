/**
 * Scenario "crypto": the core's constructions against the raw node:crypto primitives they rest
 * on. The gateway's path (node:crypto suite) is what the targets are about; the WebCrypto suite
 * is measured too, as the browser and CLI run it.
 */
import * as nodeCrypto from 'node:crypto'
import {
  createAccountBundle, DEFAULT_KDF_ITERATIONS, EnvelopeOpener, EnvelopeSealer, generateIdentity, openRecord, signRecord, utf8, webCryptoSuite,
  type CryptoSuite, type Identity
} from '../src/core/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { measure, row, writeResults, type Measurement, type Row } from './harness.ts'

const READING = utf8(JSON.stringify({ temperature: 21.5, humidity: 40.2, battery: 3.31, ts: 1764000000000 }))

/** Raw primitives of one seal: AES-256-GCM of the reading under a fresh key, one AES-256-GCM wrap per recipient, one Ed25519 signature. */
function rawSeal (recipients: number): () => void {
  const { privateKey } = nodeCrypto.generateKeyPairSync('ed25519')
  const wrapKeys = Array.from({ length: recipients }, () => nodeCrypto.createSecretKey(nodeCrypto.randomBytes(32)))
  const toSign = new Uint8Array(150 + 100 * recipients)
  return () => {
    const random = nodeCrypto.randomBytes(44)
    const dataKey = nodeCrypto.createSecretKey(random.subarray(0, 32))
    const c = nodeCrypto.createCipheriv('aes-256-gcm', dataKey, random.subarray(32, 44))
    c.update(READING); c.final(); c.getAuthTag()
    for (const key of wrapKeys) {
      const w = nodeCrypto.createCipheriv('aes-256-gcm', key, random.subarray(32, 44))
      w.update(random.subarray(0, 32)); w.final(); w.getAuthTag()
    }
    nodeCrypto.sign(null, toSign, privateKey)
  }
}

async function sealRows (suite: CryptoSuite, label: string, counts: number[], seconds: number): Promise<Row[]> {
  const gateway = await suite.importSigningKey(suite.randomBytes(32))
  const sealer = new EnvelopeSealer({ suite, signer: gateway })
  const readers = await Promise.all(Array.from({ length: Math.max(...counts) }, async () => await generateIdentity(suite)))
  const rows: Row[] = []
  for (const count of counts) {
    const recipients = readers.slice(0, count).map(r => ({ id: r.pseudonym, publicKey: r.encPub }))
    let seq = 0
    const measured = await measure(`seal ${count}`, async () => await sealer.seal({ sensor: 'bench-sensor', ts: Date.now(), seq: seq++ }, READING, recipients), { seconds })
    const baseline = await measure(`raw AES-GCM ×${count + 1} + Ed25519 sign`, rawSeal(count), { seconds })
    rows.push(row(`seal, ${count} recipient${count === 1 ? '' : 's'} (${label})`, measured, baseline, count === 3 && label === 'node:crypto' ? 'the gateway path: target ≤ 100 µs (≥ 10 000 readings/s on one core)' : undefined))
  }
  return rows
}

/** Per reading, as Measurement of one reading: an operation on `batch` readings divided by `batch`. */
function perReading (m: Measurement, batch: number): Measurement {
  return { ...m, usPerOp: m.usPerOp / batch, opsPerSec: m.opsPerSec * batch }
}

/**
 * [ENV-9] 32 readings for 3 recipients sealed and signed together, per reading, beside the raw
 * primitives of that construction (AES-256-GCM ×4 per reading, SHA-256 ×63, one Ed25519 sign).
 */
async function batchRow (suite: CryptoSuite, seconds: number): Promise<Row> {
  const BATCH = 32
  const gateway = await suite.importSigningKey(suite.randomBytes(32))
  const sealer = new EnvelopeSealer({ suite, signer: gateway })
  const readers = await Promise.all([1, 2, 3].map(async () => await generateIdentity(suite)))
  const recipients = readers.map(r => ({ id: r.pseudonym, publicKey: r.encPub }))
  let seq = 0
  const measured = await measure(`seal a batch of ${BATCH}`, async () => await sealer.sealBatch(Array.from({ length: BATCH }, () => ({ header: { sensor: 'bench-sensor', ts: Date.now(), seq: seq++ }, plaintext: READING, recipients }))), { seconds, warmup: 20 })
  const { privateKey } = nodeCrypto.generateKeyPairSync('ed25519')
  const wrapKeys = recipients.map(() => nodeCrypto.createSecretKey(nodeCrypto.randomBytes(32)))
  const body = new Uint8Array(450)
  const baseline = await measure(`raw AES-GCM ×${4 * BATCH} + SHA-256 ×${2 * BATCH - 1} + Ed25519 sign`, () => {
    for (let i = 0; i < BATCH; i++) {
      const random = nodeCrypto.randomBytes(44)
      const c = nodeCrypto.createCipheriv('aes-256-gcm', nodeCrypto.createSecretKey(random.subarray(0, 32)), random.subarray(32, 44))
      c.update(READING); c.final(); c.getAuthTag()
      for (const key of wrapKeys) {
        const w = nodeCrypto.createCipheriv('aes-256-gcm', key, random.subarray(32, 44))
        w.update(random.subarray(0, 32)); w.final(); w.getAuthTag()
      }
    }
    for (let i = 0; i < 2 * BATCH - 1; i++) nodeCrypto.createHash('sha256').update(i < BATCH ? body : body.subarray(0, 65)).digest()
    nodeCrypto.sign(null, body.subarray(0, 67), privateKey)
  }, { seconds, warmup: 20 })
  return row(`seal, 3 recipients, per reading in a batch of ${BATCH} (node:crypto)`, perReading(measured, BATCH), perReading(baseline, BATCH), 'one Ed25519 signature per batch over the Merkle tree head ([ENV-9]), as the sealing threads do')
}

async function openRow (suite: CryptoSuite, label: string, seconds: number): Promise<Row> {
  const gateway = await suite.importSigningKey(suite.randomBytes(32))
  const readers: Identity[] = await Promise.all([1, 2, 3].map(async () => await generateIdentity(suite)))
  const sealed = await new EnvelopeSealer({ suite, signer: gateway }).seal({ sensor: 'bench-sensor', ts: 1, seq: 1 }, READING, readers.map(r => ({ id: r.pseudonym, publicKey: r.encPub })))
  const opener = new EnvelopeOpener({ suite, reader: readers[2] as Identity })
  const measured = await measure('open', async () => await opener.open(sealed), { seconds })
  const pub = nodeCrypto.createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), gateway.publicKey]), format: 'der', type: 'spki' })
  const sig = new Uint8Array(64)
  const key = nodeCrypto.createSecretKey(nodeCrypto.randomBytes(32))
  const iv = nodeCrypto.randomBytes(12)
  const ct = (() => { const c = nodeCrypto.createCipheriv('aes-256-gcm', key, iv); const out = Buffer.concat([c.update(READING), c.final()]); return { out, tag: c.getAuthTag() } })()
  const baseline = await measure('raw Ed25519 verify + AES-GCM open ×2', () => {
    nodeCrypto.verify(null, sealed, pub, sig)
    for (let i = 0; i < 2; i++) { const d = nodeCrypto.createDecipheriv('aes-256-gcm', key, iv); d.setAuthTag(ct.tag); d.update(ct.out); d.final() }
  }, { seconds })
  return row(`open, reader 3 of 3 (${label})`, measured, baseline)
}

async function recordRows (suite: CryptoSuite, seconds: number): Promise<Row[]> {
  const key = await suite.importSigningKey(suite.randomBytes(32))
  const { privateKey, publicKey } = nodeCrypto.generateKeyPairSync('ed25519')
  const fields = { type: 'sensor', key: 'bench-sensor', seq: 1, body: { owner: 'x'.repeat(52), readers: ['y'.repeat(52), 'z'.repeat(52)] } }
  const encoded = await signRecord(suite, key, fields)
  const message = new Uint8Array(encoded.length)
  const signature = nodeCrypto.sign(null, message, privateKey)
  const sign = await measure('sign record', async () => await signRecord(suite, key, fields), { seconds })
  const rawSign = await measure('raw Ed25519 sign', () => nodeCrypto.sign(null, message, privateKey), { seconds })
  const verify = await measure('verify record', async () => await openRecord(suite, encoded), { seconds })
  const rawVerify = await measure('raw Ed25519 verify', () => nodeCrypto.verify(null, message, publicKey, signature), { seconds })
  return [row('sign a record (node:crypto)', sign, rawSign), row('verify a record (node:crypto)', verify, rawVerify)]
}

async function kdfRow (): Promise<Row> {
  const suite = createNodeCryptoSuite()
  const identity = await generateIdentity(suite)
  const measured = await measure(`create account bundle (${DEFAULT_KDF_ITERATIONS} iterations)`, async () => await createAccountBundle(suite, identity, 'correct horse battery staple'), { seconds: 2, warmup: 1 })
  const baseline = await measure(`raw PBKDF2-SHA256, ${DEFAULT_KDF_ITERATIONS} iterations`, () => nodeCrypto.pbkdf2Sync('correct horse battery staple', nodeCrypto.randomBytes(16), DEFAULT_KDF_ITERATIONS, 32, 'sha256'), { seconds: 2, warmup: 1 })
  return row('password derivation (account bundle, node:crypto)', measured, baseline, 'the derivation dominates; Chromium derives the same in ~0.8 s (test/browser)')
}

export async function run (options: { quick?: boolean } = {}): Promise<Row[]> {
  const seconds = options.quick === true ? 0.3 : 1.5
  const node = createNodeCryptoSuite()
  const rows = [
    ...await sealRows(node, 'node:crypto', [1, 3, 10], seconds),
    await batchRow(node, seconds),
    await openRow(node, 'node:crypto', seconds),
    ...await recordRows(node, seconds),
    ...await sealRows(webCryptoSuite, 'WebCrypto', [3], seconds),
    await openRow(webCryptoSuite, 'WebCrypto', seconds),
    await kdfRow()
  ]
  writeResults('crypto', 'Core cryptography', rows)
  return rows
}

if (import.meta.main) await run({ quick: process.argv.includes('--quick') })
