/**
 * Micro-benchmark "verify-micro": the CPU time of the two verification paths of issue 15, in one
 * process, with no network: a replica's `verifyEnvelope` over pushes of envelopes sealed in
 * batches of 32 ([ENV-9]) as a collector seals them, and the client library's history reader
 * (`HistoryReader`: [PER-12] page check, [ENV-10] certificate check, [ENV-7] opening) over pages
 * of 1 000 honest readings served from memory, with both crypto suites; beside each, the floor
 * of the raw crypto it cannot avoid (node:crypto / WebCrypto calls of the same sizes).
 *
 * With `--spread`, each of the sensor's readings is sealed in a batch of its own with 31 readings
 * of other sensors (as a collector batches many sensors at 1 reading/s each), so no two readings
 * of the page share a batch signature; without it, 32 consecutive readings share one.
 *
 * Run: `npx node bench/verify-micro.ts [--rounds N] [--readings N] [--only store|history|history-node|page-profile|handler-profile] [--spread]`;
 * prints one JSON line per measurement (µs of CPU per reading: user + system, and wall).
 */
import * as nodeCrypto from 'node:crypto'
import { parseArgs } from 'node:util'
import { EnvelopeOpener, EnvelopeSealer, checkpointBucket, fromBase64Url, generateIdentity, identityFromSecrets, openCheckpoint, signCheckpoint, toBase64Url, utf8, verifyEnvelope, verifyHistoryPage, webCryptoSuite } from '../src/core/index.ts'
import type { CheckpointLink, CryptoSuite, Identity, Recipient } from '../src/core/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createCertificateAuthority, issueGatewayCertificate, rawPublicKeyToPeerId } from '../src/pki/index.ts'
import { HistoryReader } from '../src/client/history.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHandler } from '../src/gateway/persistence/handlers.ts'
import { createSqliteEngine } from '../src/gateway/persistence/engine/sqlite.ts'
import type { StoreVerifier } from '../src/gateway/persistence/verify.ts'
import type { VerifiedPeer } from '../src/overlay/index.ts'
import { CollectorVerifier } from '../src/client/trust.ts'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, readings: { type: 'string', default: '1000' }, only: { type: 'string' }, spread: { type: 'boolean', default: false } } })
const ROUNDS = Number(args.rounds)
const N = Number(args.readings)
const nodeSuite = createNodeCryptoSuite()

async function timed (label: string, readings: number, run: () => Promise<void>): Promise<void> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await run()
  const wall = performance.now() - t0
  const c = process.cpuUsage(c0)
  console.log(JSON.stringify({ label, readings, cpuUsPerReading: +((c.user + c.system) / readings).toFixed(2), wallUsPerReading: +((wall * 1000) / readings).toFixed(2) }))
}

async function build (): Promise<{ envelopes: Uint8Array[], checkpoints: Uint8Array[], certificate: Uint8Array, ca: Uint8Array, reader: Identity, webReader: Identity, t0: number, peerId: string }> {
  const ca = await createCertificateAuthority({ name: 'bench CA' })
  const signer = await nodeSuite.importSigningKey(nodeSuite.randomBytes(32))
  const { der } = await issueGatewayCertificate(ca, { publicKey: signer.publicKey, peerId: rawPublicKeyToPeerId(signer.publicKey), roles: ['collector'] })
  const secrets = [nodeSuite.randomBytes(32), nodeSuite.randomBytes(32)] as const
  const reader = await identityFromSecrets(nodeSuite, ...secrets)
  const webReader = await identityFromSecrets(webCryptoSuite, ...secrets)
  const others = await Promise.all([0, 1].map(async () => await generateIdentity(nodeSuite)))
  const recipients: Recipient[] = [reader, ...others].map(i => ({ id: i.pseudonym, publicKey: i.agreementKey.publicKey }))
  const sealer = new EnvelopeSealer({ suite: nodeSuite, signer })
  const t0 = Math.ceil(Date.now() / 60_000) * 60_000
  const envelopes: Uint8Array[] = []
  const seqs: number[] = []
  for (let at = 0; at < N; at += 32) {
    const batch = []
    const ours: number[] = []
    for (let i = at; i < Math.min(N, at + 32); i++) {
      const ts = t0 + i * 1000
      seqs.push(ts * 1000)
      ours.push(batch.length)
      batch.push({ header: { sensor: 'bench-1', ts, seq: ts * 1000 }, plaintext: utf8(JSON.stringify({ t: 21.5 + i % 7, h: 40 + i % 13 })), recipients })
      if (args.spread === true) {
        for (let k = 1; k < 32; k++) batch.push({ header: { sensor: `other-${k}`, ts, seq: ts * 1000 }, plaintext: utf8('{"t":1}'), recipients })
        const sealed = await sealer.sealBatch(batch.splice(0))
        const mine = sealed[ours.splice(0)[0] as number]
        if (mine === undefined || !('envelope' in mine)) throw new Error('seal failed')
        envelopes.push(mine.envelope)
      }
    }
    for (const o of batch.length === 0 ? [] : await sealer.sealBatch(batch)) {
      if (!('envelope' in o)) throw new Error('seal failed')
      envelopes.push(o.envelope)
    }
  }
  const checkpoints: Uint8Array[] = []
  let prev: CheckpointLink | null = null
  const buckets = [...new Set(seqs.map(checkpointBucket))]
  for (const bucket of [...buckets, (buckets.at(-1) as number) + 1]) {
    const inBucket = seqs.filter(s => checkpointBucket(s) === bucket)
    const bytes = await signCheckpoint(nodeSuite, signer, { sensor: 'bench-1', gw: signer.publicKey, bucket, part: 0, prev, seqs: inBucket.length > 0 ? inBucket : [bucket * 60_000_000] })
    checkpoints.push(bytes)
    prev = { bucket, part: 0, h: (await openCheckpoint(nodeSuite, bytes)).hash }
  }
  return { envelopes, checkpoints, certificate: der, ca: ca.certificate, reader, webReader, t0, peerId: rawPublicKeyToPeerId(signer.publicKey) }
}

const fx = await build()

async function storeRound (): Promise<void> {
  // a replica verifies a push: one verifiedBatches set per request of 4 096
  for (let at = 0; at < fx.envelopes.length; at += 4096) {
    const verifiedBatches = new Set<string>()
    for (const env of fx.envelopes.slice(at, at + 4096)) await verifyEnvelope(nodeSuite, env, { verifiedBatches })
  }
}

/**
 * The replica's store handler in this process: pushes of 4 096 of the envelopes into the sqlite
 * engine (WAL, synchronous FULL) in a fresh file; the certificate and sensor checks (cached per
 * request and per sensor in a replica) stubbed, the peer the collector itself.
 */
async function handlerRound (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gm-verify-micro-'))
  const engine = createSqliteEngine({ path: join(dir, 'store.db') })
  await engine.open()
  const verifier = { checkCollector: async () => ({ notBefore: new Date(0), notAfter: new Date(8.64e15) }), checkSensor: async () => {} } as unknown as StoreVerifier
  const handle = createHandler({ suite: nodeSuite, engine, verifier, assertRoom: async () => {} })
  const peer = { peerId: fx.peerId, services: ['collector'], roles: ['collector'] } as unknown as VerifiedPeer
  let stored = 0
  try {
    for (let at = 0; at < fx.envelopes.length; at += 4096) {
      const answer = await handle({ op: 'store', certs: [fx.certificate], envs: fx.envelopes.slice(at, at + 4096), cps: [] }, peer, new AbortController().signal) as { stored: number }
      stored += answer.stored
    }
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
  if (stored !== fx.envelopes.length) throw new Error(`stored ${stored} of ${fx.envelopes.length}`)
}

function storeFloor (): void {
  // what verifyEnvelope's crypto costs: one Ed25519 verification per 32, 1 + log2(32) SHA-256 per reading
  const key = nodeCrypto.generateKeyPairSync('ed25519')
  const msg = Buffer.alloc(80)
  const sig = nodeCrypto.sign(null, msg, key.privateKey)
  for (let i = 0; i < fx.envelopes.length; i++) {
    const env = fx.envelopes[i] as Uint8Array
    nodeCrypto.hash('sha256', env, 'buffer')
    for (let j = 0; j < 5; j++) nodeCrypto.hash('sha256', msg.subarray(0, 65), 'buffer')
    if (i % 32 === 0) nodeCrypto.verify(null, msg, key.publicKey, sig)
  }
}

/** The access gateway's answer as the client gets it (JSON parsed, binaries base64url). */
const answer = { replica: 'p1', replicas: ['p1'], readings: fx.envelopes.map(toBase64Url), checkpoints: fx.checkpoints.map(toBase64Url), certificates: [toBase64Url(fx.certificate)] }

async function historyRound (suite: CryptoSuite): Promise<void> {
  // a fresh verifier and opener per round, as a fresh session would have
  const verifier = new CollectorVerifier(fx.ca)
  const me = suite === webCryptoSuite ? fx.webReader : fx.reader
  const opener = new EnvelopeOpener({ suite, reader: { pseudonym: me.pseudonym, agreementKey: me.agreementKey } })
  const reader = new HistoryReader({
    suite,
    fetchPage: async () => answer,
    verifyPage: verifyHistoryPage,
    verifyCollector: async (gw, c, ts) => await verifier.verify(gw, c, ts),
    open: async e => await opener.openVerified(e)
  }, 'bench-1', { from: fx.t0, to: fx.t0 + N * 1000, pageSize: Math.min(N, 5000) })
  let n = 0
  for await (const r of reader) if (r.value !== undefined) n++
  if (n !== N) throw new Error(`read ${n} of ${N}`)
}

/** node:crypto: one Ed25519 verification per reading (what --spread costs at least). */
function ed25519Floor (): void {
  const key = nodeCrypto.generateKeyPairSync('ed25519')
  const msg = Buffer.alloc(80)
  const sig = nodeCrypto.sign(null, msg, key.privateKey)
  for (let i = 0; i < fx.envelopes.length; i++) nodeCrypto.verify(null, msg, key.publicKey, sig)
}

/** The reader's parts, each over the page alone, in µs per reading: where its time goes. */
async function historyParts (suite: CryptoSuite): Promise<void> {
  const me = suite === webCryptoSuite ? fx.webReader : fx.reader
  const verifier = new CollectorVerifier(fx.ca)
  const opener = new EnvelopeOpener({ suite, reader: { pseudonym: me.pseudonym, agreementKey: me.agreementKey } })
  const us = (t: number): number => +((performance.now() - t) * 1000 / N).toFixed(2)
  let t = performance.now()
  const envelopes = answer.readings.map(fromBase64Url)
  const checkpoints = answer.checkpoints.map(fromBase64Url)
  const certificate = fromBase64Url(answer.certificates[0] as string)
  const base64 = us(t)
  t = performance.now()
  const verdict = await verifyHistoryPage(suite, { sensor: 'bench-1', fromSeq: fx.t0 * 1000, toSeq: (fx.t0 + N * 1000) * 1000, order: 'asc', envelopes, checkpoints })
  const page = us(t)
  t = performance.now()
  for (const e of verdict.envelopes) await verifier.verify(e.gw, certificate, e.ts)
  const certificates = us(t)
  t = performance.now()
  for (const e of verdict.envelopes) await opener.openVerified(e)
  const openSequential = us(t)
  t = performance.now()
  await Promise.all(verdict.envelopes.map(async e => await opener.openVerified(e)))
  const openAllAtOnce = us(t)
  console.log(JSON.stringify({ label: `history parts, µs per reading (${suite.name})`, base64, page, certificates, openSequential, openAllAtOnce }))
}

async function historyFloor (): Promise<void> {
  // WebCrypto: per reading AES-GCM decrypt ×2 (the data key, the reading) and one SHA-256
  const k = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['encrypt', 'decrypt'])
  const iv = new Uint8Array(12)
  const wrapped = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, new Uint8Array(32)))
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, new Uint8Array(30)))
  for (const env of fx.envelopes) {
    await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, k, wrapped)
    await crypto.subtle.decrypt({ name: 'AES-GCM', iv }, k, ct)
    await crypto.subtle.digest('SHA-256', new Uint8Array(env))
  }
}

if (args.only === 'handler-profile') {
  for (let r = 0; r < ROUNDS; r++) await timed('store: the handler into sqlite (verify + append)', N, handlerRound)
  process.exit(0)
}

if (args.only === 'page-profile') {
  const envelopes = answer.readings.map(fromBase64Url)
  const checkpoints = answer.checkpoints.map(fromBase64Url)
  for (let r = 0; r < ROUNDS; r++) await timed('page only', N, async () => { await verifyHistoryPage(nodeSuite, { sensor: 'bench-1', fromSeq: fx.t0 * 1000, toSeq: (fx.t0 + N * 1000) * 1000, order: 'asc', envelopes, checkpoints }) })
  process.exit(0)
}

for (let round = 0; round < ROUNDS; round++) {
  if (args.only !== 'history' && args.only !== 'history-node') {
    await timed('store: verifyEnvelope (node:crypto)', N, storeRound)
    await timed('store floor: raw node:crypto', N, async () => storeFloor())
    await timed('store: the handler into sqlite (verify + append)', N, handlerRound)
  }
  if (args.only !== 'store') {
    await timed('history: client reader (node:crypto suite)', N, async () => await historyRound(nodeSuite))
    if (args.only !== 'history-node') await timed('history: client reader (WebCrypto suite)', N, async () => await historyRound(webCryptoSuite))
    await historyParts(nodeSuite)
    if (args.only === 'history-node') continue
    await historyParts(webCryptoSuite)
    await timed('history floor: WebCrypto AES-GCM ×2 + SHA-256', N, historyFloor)
    await timed('floor: node:crypto Ed25519 verify per reading', N, async () => ed25519Floor())
  }
}
