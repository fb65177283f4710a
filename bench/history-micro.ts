/**
 * History in one process: a real access service (Fastify, signed requests) with an in-memory DHT
 * and a fake replica source answering a real page (1 000 sealed envelopes of one sensor, 1 a
 * second, with their collector's signed checkpoints), read by a real client over 127.0.0.1.
 * Splits the cost of one page: the signed HTTP round trip, the route's own work (answer built,
 * serialized), the client's parse and decode, and the client's verification and opening.
 *
 *   npx node bench/history-micro.ts [--reads 20] [--readings 1000]   (answer, answer-cbor, http, http-cbor, client)
 *   npx node bench/history-micro.ts --only client --profile /tmp/client.cpuprofile   (the measured reads only)
 */
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createClient } from '../src/client/index.ts'
import { EnvelopeSealer, checkpointBucket, openCheckpoint, readEnvelopeHeader, sensorRecipients, signCheckpoint, utf8, verifySensorRecord } from '../src/core/index.ts'
import type { CheckpointLink } from '../src/core/index.ts'
import type { HistorySource } from '../src/gateway/access/index.ts'
import { historyAnswer, historyAnswerCbor } from '../src/gateway/access/history.ts'
import { networkCa, startService, suite } from '../test/access/helpers.ts'

const { values } = parseArgs({ options: { reads: { type: 'string', default: '20' }, readings: { type: 'string', default: '1000' }, only: { type: 'string' }, batch: { type: 'string', default: '32' }, profile: { type: 'string' } } })
const reads = Number(values.reads)
const count = Number(values.readings)
const batchSize = Number(values.batch)
const SENSOR = 'history-micro'
const KDF = { kdfIterations: 1000, allowWeakKdfForTests: true }

const held: Uint8Array[] = []
const checkpoints: Uint8Array[] = []
let certificates: Uint8Array[] = []
const source: HistorySource = async (_sensor, query) => {
  const envs = query.order === 'asc' ? held.slice(0, query.limit) : held.slice(-query.limit).reverse()
  return { replica: '12D3KooWPeerMicroAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', replicas: ['12D3KooWPeerMicroAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'], envs, cps: checkpoints, certs: certificates, more: held.length > query.limit }
}

const fx = await startService(undefined, undefined, { history: source })
certificates = [fx.certificate]
const ca = (await networkCa()).certificate
const user = await createClient({ gateway: fx.url, ...KDF }).signup('micro pw')
const client = createClient({ gateway: fx.url, caCertificate: ca, suite, ...KDF }) // node:crypto's suite, as the CLI
const owner = await client.resume(user.bundle, 'micro pw')
await owner.addSensor(SENSOR)
const t0 = Math.ceil(Date.now() / 60_000) * 60_000 // inside the collector certificate's validity
const from = t0
const to = t0 + count * 1000 + 60_000
// sealed as the bench's pusher seals them (and a busy collector does): batches of 32 sharing one signature [ENV-9];
// --batch 1 seals each reading alone (a collector that had nothing else to seal)
const info = await verifySensorRecord(suite, fx.dht.values.get(`/gm-sensor/${SENSOR}`) as Uint8Array)
const sealer = new EnvelopeSealer({ suite, signer: fx.gateway })
for (let at = 0; at < count; at += batchSize) {
  const batch = Array.from({ length: Math.min(batchSize, count - at) }, (_, i) => {
    const ts = t0 + (at + i) * 1000
    return { header: { sensor: SENSOR, ts, seq: ts * 1000 }, plaintext: utf8(JSON.stringify({ t: 20 + ((at + i) % 10) / 10 })), recipients: sensorRecipients(info) }
  })
  for (const outcome of await sealer.sealBatch(batch)) {
    if (!('envelope' in outcome)) throw outcome.error as Error
    held.push(outcome.envelope)
  }
}
let prev: CheckpointLink | null = null
const seqs = held.map(env => readEnvelopeHeader(env).seq)
for (const bucket of [...new Set(seqs.map(checkpointBucket))]) {
  const bytes = await signCheckpoint(suite, fx.gateway, { sensor: SENSOR, gw: fx.gateway.publicKey, bucket, part: 0, prev, seqs: seqs.filter(s => checkpointBucket(s) === bucket) })
  checkpoints.push(bytes)
  prev = { bucket, part: 0, h: (await openCheckpoint(suite, bytes)).hash }
}

const query = { from: String(from), to: String(to), order: 'desc', limit: String(count) }
const ops: Record<string, () => Promise<void>> = {
  // the route's answer built from the page and serialized, nothing else
  answer: async () => {
    const page = await source(SENSOR, { fromSeq: from * 1000, toSeq: to * 1000, order: 'desc', limit: count })
    JSON.stringify(historyAnswer(SENSOR, { fromSeq: from * 1000, toSeq: to * 1000, order: 'desc', limit: count }, page))
  },
  // the same answer as CBOR [PER-56]
  'answer-cbor': async () => {
    const page = await source(SENSOR, { fromSeq: from * 1000, toSeq: to * 1000, order: 'desc', limit: count })
    historyAnswerCbor(SENSOR, { fromSeq: from * 1000, toSeq: to * 1000, order: 'desc', limit: count }, page)
  },
  http: async () => {
    const page = await client.transport.request('GET', `/v1/sensors/${SENSOR}/history`, { signer: owner.identity, query, maxBytes: 12 * 1024 * 1024 })
    if ((page.readings as unknown[]).length !== count) throw new Error('short page')
  },
  'http-cbor': async () => {
    const page = await client.transport.request('GET', `/v1/sensors/${SENSOR}/history`, { signer: owner.identity, query, maxBytes: 12 * 1024 * 1024, cbor: true })
    if ((page.readings as unknown[]).length !== count) throw new Error('short page')
  },
  client: async () => {
    let n = 0
    for await (const r of owner.history(SENSOR, { from, to, order: 'desc', limit: count, pageSize: count })) { if (r.value === undefined) throw new Error('a reading did not open'); n++ }
    if (n !== count) throw new Error(`${n} readings`)
  }
}
if (values.only !== undefined) for (const name of Object.keys(ops)) if (name !== values.only) Reflect.deleteProperty(ops, name)
const samples: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map(k => [k, []]))
const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map(k => [k, []]))
for (const op of Object.values(ops)) { await op(); await op() }
const inspector = values.profile === undefined ? undefined : new Session()
if (inspector !== undefined) {
  inspector.connect()
  await inspector.post('Profiler.enable')
  await inspector.post('Profiler.start')
}
for (let i = 0; i < reads; i++) {
  for (const [name, op] of Object.entries(ops)) {
    const c = process.cpuUsage()
    const t = performance.now()
    await op()
    samples[name]!.push(performance.now() - t)
    const d = process.cpuUsage(c)
    cpu[name]!.push((d.user + d.system) / 1000)
  }
}
if (inspector !== undefined) {
  const { profile } = await inspector.post('Profiler.stop')
  writeFileSync(values.profile as string, JSON.stringify(profile))
  inspector.disconnect()
}
const q = (xs: number[], p: number): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number }
console.log(`${count} readings (sealed in batches of ${batchSize}), ${reads} reads each, interleaved (wall ms p50 / p99 / min; process CPU ms p50)`)
for (const name of Object.keys(ops)) {
  console.log(`${name.padEnd(11)} wall ${q(samples[name]!, 0.5).toFixed(1)} / ${q(samples[name]!, 0.99).toFixed(1)} / ${Math.min(...samples[name]!).toFixed(1)}   cpu ${q(cpu[name]!, 0.5).toFixed(1)}`)
}
await fx.service.stop()
