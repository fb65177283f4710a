/**
 * Micro-benchmark "store-micro": a replica's `store` path ([PER-2]) in one process, no network,
 * beside its raw floor measured in the same run. What a persistence peer does with the frames a
 * collector pushes, minus libp2p (Noise, yamux, the length-prefixed framing):
 *
 *   store   `decodeRequest` of each frame (cborg, as `serve` does) and the service's handler as
 *           the service composes it: the real `StoreVerifier` (the collector's certificate checked
 *           against a real CA, [PER-2]; the sensor lookup answered "known" at once, where a replica
 *           asks the DHT once per sensor and 5 minutes), `verifyEnvelope` of every envelope
 *           ([ENV-6], [ENV-9]: batch signatures shared within a request), `openCheckpoint` of every
 *           checkpoint, the digest cache's write wrapper ([PER-31]) and the sqlite engine
 *           (WAL, synchronous FULL, [PER-21]) in a fresh file per round;
 *   floor   the raw work that path cannot avoid, on the same rows: node:crypto's SHA-256 of each
 *           leaf (0x00 || body) and of the batch tree's interior nodes (31 per batch of 32), one
 *           Ed25519 verification per batch signature and per checkpoint, plus raw node:sqlite
 *           INSERTs of the same (sensor, seq, gw, envelope) rows, 4 096 a transaction, with the
 *           engine's schema and pragmas (bench/persistence-engine.ts's `rawSqlite`).
 *
 * Envelopes are sealed as a collector seals them (bench/persistence.ts, figure 1): 3 recipients,
 * batches of 32 under one signature ([ENV-9]), one checkpoint per sensor and minute bucket
 * ([PER-10]) sent with the request that holds the bucket's last reading; requests of 4 096
 * envelopes. `--sensors N` spreads readings over N sensors (default 64, as the whole path's MQTT
 * load; each seal batch then holds readings of many sensors); `--sensors 1` is figure 1's day
 * sensor (1 reading/s).
 *
 * Run: `npx node bench/store-micro.ts [--rounds N] [--readings N] [--sensors N] [--only store]`;
 * one JSON line per measurement: µs per reading of wall time and of process CPU (user + system,
 * every thread), then the medians. `--only store` (for `--cpu-prof`) runs the store path alone.
 */
import * as nodeCrypto from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { EnvelopeSealer, generateIdentity, openCheckpoint, signCheckpoint, utf8 } from '../src/core/index.ts'
import type { CheckpointLink, Recipient } from '../src/core/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createCertificateAuthority, issueGatewayCertificate, rawPublicKeyToPeerId } from '../src/pki/index.ts'
import { createCertificateTrust } from '../src/gateway/trust.ts'
import { createHandler } from '../src/gateway/persistence/handlers.ts'
import { createDigestCache } from '../src/gateway/persistence/digest-cache.ts'
import { createSqliteEngine } from '../src/gateway/persistence/engine/sqlite.ts'
import { decodeRequest, encodeRequest } from '../src/gateway/persistence/protocol.ts'
import type { StoreRequest, StoreResponse } from '../src/gateway/persistence/protocol.ts'
import { StoreVerifier } from '../src/gateway/persistence/verify.ts'
import type { VerifiedPeer } from '../src/overlay/index.ts'
import { rawSqlite } from './persistence-engine.ts'
import { checkpointGroups, chunks } from './persistence-helpers.ts'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, readings: { type: 'string', default: '16384' }, sensors: { type: 'string', default: '64' }, only: { type: 'string' } } })
const ROUNDS = Number(args.rounds)
const N = Number(args.readings)
const SENSORS = Number(args.sensors)
const SEAL_BATCH = 32
const PUSH_ENVELOPES = 4096
const READING = JSON.stringify({ temperature: 21.5, humidity: 40.2, battery: 3.31 })
const suite = createNodeCryptoSuite()

interface Row { sensor: string, seq: number, gw: Uint8Array, envelope: Uint8Array }

/** The fixture: frames of store requests, their rows, and what the floor hashes and verifies. */
async function build (): Promise<{ frames: Uint8Array[], rows: Row[], cps: Uint8Array[], caCertificate: Uint8Array, peerId: string }> {
  const ca = await createCertificateAuthority({ name: 'bench CA' })
  const signer = await suite.importSigningKey(suite.randomBytes(32))
  const peerId = rawPublicKeyToPeerId(signer.publicKey)
  const { der } = await issueGatewayCertificate(ca, { publicKey: signer.publicKey, peerId, roles: ['collector'] })
  const identities = await Promise.all([0, 1, 2].map(async () => await generateIdentity(suite)))
  const recipients: Recipient[] = identities.map(i => ({ id: i.pseudonym, publicKey: i.agreementKey.publicKey }))
  const sealer = new EnvelopeSealer({ suite, signer })
  const plaintext = utf8(READING)
  const t0 = Math.ceil(Date.now() / 60_000) * 60_000
  // reading i: sensor i % SENSORS, its (i / SENSORS)-th reading, 1 s apart per sensor
  const headers = Array.from({ length: N }, (_, i) => {
    const ts = t0 + Math.floor(i / SENSORS) * 1000
    return { sensor: `bench-s-${i % SENSORS}`, ts, seq: ts * 1000 + (i % SENSORS) }
  })
  const rows: Row[] = []
  for (const batch of chunks(headers, SEAL_BATCH)) {
    const sealed = await sealer.sealBatch(batch.map(header => ({ header, plaintext, recipients })))
    for (const [k, o] of sealed.entries()) {
      if (!('envelope' in o)) throw new Error('seal failed')
      const h = batch[k] as typeof headers[number]
      rows.push({ sensor: h.sensor, seq: h.seq, gw: signer.publicKey, envelope: o.envelope })
    }
  }
  // [PER-11] per sensor one checkpoint per bucket, linked; it goes with the request holding the bucket's last reading
  const cpAt = new Map<number, Uint8Array[]>()
  const cps: Uint8Array[] = []
  for (let s = 0; s < SENSORS; s++) {
    const mine = rows.map((r, i) => ({ r, i })).filter(x => x.r.sensor === `bench-s-${s}`)
    let prev: CheckpointLink | null = null
    let k = 0
    for (const group of checkpointGroups(mine.map(x => x.r.seq))) {
      const bytes = await signCheckpoint(suite, signer, { sensor: `bench-s-${s}`, gw: signer.publicKey, bucket: group.bucket, part: 0, prev, seqs: group.seqs })
      prev = { bucket: group.bucket, part: 0, h: (await openCheckpoint(suite, bytes)).hash }
      k += group.seqs.length
      const request = Math.floor((mine[k - 1] as { i: number }).i / PUSH_ENVELOPES)
      cpAt.set(request, [...(cpAt.get(request) ?? []), bytes])
      cps.push(bytes)
    }
  }
  const frames = chunks(rows, PUSH_ENVELOPES).map((part, n): Uint8Array => encodeRequest({ op: 'store', certs: [der], envs: part.map(r => r.envelope), cps: cpAt.get(n) ?? [] }))
  return { frames, rows, cps, caCertificate: ca.certificate, peerId }
}

const fx = await build()
const peer = { peerId: fx.peerId, services: ['collector'], roles: ['collector'] } as unknown as VerifiedPeer

interface Measured { label: string, usWall: number, usCpu: number }
async function timed (label: string, run: () => Promise<void> | void): Promise<Measured> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await run()
  const wall = performance.now() - t0
  const c = process.cpuUsage(c0)
  const m = { label, usWall: +((wall * 1000) / N).toFixed(2), usCpu: +((c.user + c.system) / N).toFixed(2) }
  console.log(JSON.stringify(m))
  return m
}

/** One replica, fresh: a new sqlite file behind the digest cache, a new verifier (its certificate cache cold, as after a restart). */
async function storeRound (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gm-store-micro-'))
  const { engine, digests } = createDigestCache({ engine: createSqliteEngine({ path: join(dir, 'persistence.db') }), suite })
  await engine.open()
  const verifier = new StoreVerifier({ trust: createCertificateTrust(fx.caCertificate), revocations: () => undefined, sensorExists: async () => true })
  const handle = createHandler({ suite, engine, digests, verifier, assertRoom: async () => {} })
  let stored = 0
  try {
    for (const frame of fx.frames) {
      const answer = await handle(decodeRequest(frame) as StoreRequest, peer, new AbortController().signal) as StoreResponse
      if (answer.rejected.length > 0) throw new Error(`rejected: ${JSON.stringify(answer.rejected.slice(0, 3))}`)
      stored += answer.stored
    }
  } finally {
    await engine.close()
    rmSync(dir, { recursive: true, force: true })
  }
  if (stored !== N) throw new Error(`stored ${stored} of ${N}`)
}

// a real batch signature and message: verifying it costs what a replica's verification costs
const signed = await (async () => {
  const key = nodeCrypto.generateKeyPairSync('ed25519')
  const msg = Buffer.alloc(27 + 8 + 32, 7)
  return { key: key.publicKey, msg, sig: nodeCrypto.sign(null, msg, key.privateKey) }
})()

/** node:crypto alone: a leaf hash per envelope (of the whole envelope: a little more than its body), 31 interior nodes and one Ed25519 verification per batch of 32, a hash and a verification per checkpoint. */
function cryptoFloor (): void {
  const leaf = Buffer.alloc(1 + 4096)
  const node = Buffer.alloc(65, 1)
  for (let i = 0; i < fx.rows.length; i++) {
    const env = (fx.rows[i] as Row).envelope
    leaf.set(env, 1)
    nodeCrypto.hash('sha256', leaf.subarray(0, 1 + env.length), 'buffer')
    if (i % SEAL_BATCH !== SEAL_BATCH - 1) nodeCrypto.hash('sha256', node, 'buffer')
    if (i % SEAL_BATCH === 0 && !nodeCrypto.verify(null, signed.msg, signed.key, signed.sig)) throw new Error('verify')
  }
  for (let i = 0; i < fx.cps.length; i++) {
    nodeCrypto.hash('sha256', fx.cps[i] as Uint8Array, 'buffer')
    nodeCrypto.verify(null, signed.msg, signed.key, signed.sig)
  }
}

function sqliteFloor (): void {
  const dir = mkdtempSync(join(tmpdir(), 'gm-store-micro-raw-'))
  try {
    const raw = rawSqlite(dir)
    for (const part of chunks(fx.rows, PUSH_ENVELOPES)) raw.append(part)
    raw.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] as number
const results = new Map<string, Measured[]>()
const keep = (m: Measured): void => { results.set(m.label, [...(results.get(m.label) ?? []), m]) }
console.log(JSON.stringify({ readings: N, sensors: SENSORS, requests: fx.frames.length, checkpoints: fx.cps.length, envelopeBytes: fx.rows[0]!.envelope.length, loadavg: loadavg() }))
await storeRound() // warm-up
for (let r = 0; r < ROUNDS; r++) {
  keep(await timed('store: decodeRequest + handler into sqlite', storeRound))
  if (args.only === 'store') continue
  keep(await timed('floor: node:crypto', cryptoFloor))
  keep(await timed('floor: raw sqlite INSERT', sqliteFloor))
}
const summary: Record<string, unknown> = { loadavg: loadavg() }
for (const [label, ms] of results) summary[label] = { usWall: median(ms.map(m => m.usWall)), usCpu: median(ms.map(m => m.usCpu)) }
if (args.only !== 'store') {
  const wall = (l: string): number => median((results.get(l) ?? []).map(m => m.usWall))
  const floor = wall('floor: node:crypto') + wall('floor: raw sqlite INSERT')
  const store = wall('store: decodeRequest + handler into sqlite')
  summary.floorUsWall = +floor.toFixed(2)
  summary.storePerSecond = Math.round(1e6 / store)
  summary.floorPerSecond = Math.round(1e6 / floor)
  summary.aboveFloorUs = +(store - floor).toFixed(2)
}
console.log(JSON.stringify({ medians: summary }))
