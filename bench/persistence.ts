/**
 * Scenario "persistence" (issue 15's four figures), each beside a baseline measured in the same
 * run, on a local network of real processes (src/demo/network.ts): a CA, an access gateway `a1`
 * that holds no replica, persistence gateways `p1`..`p3` (sqlite engine), collectors `c0`, `c1`.
 *
 *   1. store: readings/s one persistence peer stores, verifying every envelope and checkpoint.
 *      `store` requests of 4 096 envelopes (2 in flight, as the collector's sink sends them) over
 *      libp2p from an in-process overlay node certified for collector, its envelopes sealed in
 *      batches of 32 with one signature each ([ENV-9]) as a collector's sealing threads make them.
 *      Baseline: raw node:sqlite INSERTs of the same rows (bench/persistence-engine.ts), before
 *      each push. Floor: the same envelopes verified in this process (verifyEnvelope), and the
 *      raw node:crypto work of it (SHA-256 of the body and proof path, 1/32 Ed25519 verify).
 *   2. whole path: MQTT QoS 1 at a fixed rate (bench/ingest.ts's load generator, a child process)
 *      into `c1`, which replicates to p1..p3 (R=3, W=2): acknowledged readings/s, PUBACK p99, the
 *      replication lag (outbox write to W-th confirmation, [PER-5]) from c1's admin status (the p99
 *      of its last 4 096 confirmations, polled each second once they are all of the phase), the
 *      outbox backlog when the load stops and how long it takes to drain. Baseline: the same
 *      collector with no persistence peer in the network (`c0`, measured before p1..p3 start):
 *      readings wait in its outbox, so it pays journal, sealing and outbox but no pushes, and no
 *      replica takes CPU from it on the shared cores.
 *   3. history: one day of a 1-reading/s sensor (86 400 readings; its envelopes and checkpoints
 *      are the ones pushed in 1, to all three replicas) read at `a1` through the client library
 *      (node:crypto suite; every page verified, every reading decrypted): the last 1 000 readings
 *      (one page, newest first) and the whole day (pages of 1 000, once, by a client process of its
 *      own, bench/history-read.ts, as the CLI reads: pages on a worker thread). Also the signed HTTP round
 *      trip alone. Baselines: the replica's `range` op alone over libp2p, a raw SQLite SELECT.
 *      The day is dated from a minute after the run starts: the client checks each reading's
 *      collector certificate at the reading's time ([ENV-10]) and the pusher's is fresh.
 *   4. catch-up: p3 is killed (SIGKILL), `--catchup-minutes` (10) of readings at
 *      `--catchup-rate` (100/s) are pushed to p1 and p2, then p3 starts again with
 *      `--repair-interval 1000`; the time from its restart to holding them all (asked with `ids`),
 *      beside the time the same readings took to push to p1 and p2 in the first place.
 * Each figure is measured `--runs` times (3; 1 with --quick). Writes bench/results/persistence.json
 * and .md.
 *
 *   node bench/persistence.ts [--quick] [--runs N] [--seconds N] [--rate N] [--catchup-rate N] [--catchup-minutes N]
 *     [--only whole-path|history] [--profile DIR]  (figure 2 or 3 alone, printed as JSON; V8 CPU profiles of every process in DIR)
 *     [--keep]  (the run's directory, every gateway's data and logs/<name>.log, is kept and named)
 */
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  EnvelopeSealer, MIN_KDF_ITERATIONS, createSensorCredential, createSensorRecord, openCheckpoint, signCheckpoint, toBase64, utf8, verifyEnvelope
} from '../src/core/index.ts'
import type { CheckpointLink, Identity, Recipient } from '../src/core/index.ts'
import { createClient } from '../src/client/index.ts'
import type { Session } from '../src/client/index.ts'
import { startNetwork } from '../src/demo/network.ts'
import type { Network, RunningGateway } from '../src/demo/network.ts'
import { createCertificateTrust, createRecordVerifier } from '../src/gateway/index.ts'
import { LAG_SAMPLES, REPAIR_BUCKET, request } from '../src/gateway/persistence/index.ts'
import type { StoreRequest } from '../src/gateway/persistence/index.ts'
import { readingTopic } from '../src/gateway/collector/index.ts'
import { NAMESPACES, createOverlayNode, recordKey } from '../src/overlay/index.ts'
import type { OverlayNode, Role } from '../src/overlay/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createWorkerPages } from '../src/platform/history-pages.ts'
import { enroll } from '../src/pki/index.ts'
import { environment, numberOption } from './harness.ts'
import { rawSqlite } from './persistence-engine.ts'
import { checkpointGroups, chunks, formatSpread, quantile, spread, type Spread } from './persistence-helpers.ts'

export interface PersistenceOptions {
  quick?: boolean
  runs?: number
  /** Measured seconds of each whole-path phase (default 20; 4 quick). */
  seconds?: number
  /** Offered MQTT rate of the whole path (default 5 000/s; 2 000 quick). */
  rate?: number
  catchupRate?: number
  catchupMinutes?: number
  /**
   * One figure alone, printed as JSON, no results files: `whole-path` (figure 2; no store, history
   * or catch-up figures) or `history` (figure 3 on the day pushed to every replica; no whole path,
   * store rate or catch-up).
   */
  only?: 'whole-path' | 'history'
  /** A directory for V8 CPU profiles of every process of the network (`--cpu-prof`), written when each stops. */
  profileDir?: string
  /** Keep the run's directory (every gateway's data and `logs/<name>.log`) instead of removing it. */
  keep?: boolean
}

const suite = createNodeCryptoSuite()
const MQTT_SENSORS = 64
const SEAL_BATCH = 32
const PUSH_ENVELOPES = 4096
const IN_FLIGHT = 2
const READING = JSON.stringify({ temperature: 21.5, humidity: 40.2, battery: 3.31 })

interface LoadResult { done: number, errors: number, seconds: number, perSecond: number, p50?: number, p99?: number, sendLateP99?: number }

/** bench/history-read.ts: a client process reading a range as the CLI does. */
async function dayReader (plan: { gateway: string, ca: string, bundle: string, password: string, sensor: string, from: number, to: number }): Promise<{ ms: number, readings: number, cpuS: number }> {
  const child = spawn(process.execPath, [new URL('./history-read.ts', import.meta.url).pathname, '--plan', JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (code !== 0) throw new Error(`history reader exited with ${code}`)
  return JSON.parse(out) as { ms: number, readings: number, cpuS: number }
}

/** bench/ingest.ts's load generator as a child process (MQTT 3.1.1 over raw sockets, open loop at `rate`). */
async function mqttLoad (port: number, sensors: Array<{ id: string, credential: string }>, rate: number, seconds: number, warmup: number): Promise<LoadResult> {
  const plan = { proto: 'mqtt', port, targets: sensors.map(s => ({ topic: readingTopic(s.id), user: s.id, password: s.credential })), connections: sensors.length, window: 64, qos: 1, seconds, warmup, rate }
  const child = spawn(process.execPath, [new URL('./ingest.ts', import.meta.url).pathname, '--load', JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  if (code !== 0) throw new Error(`load generator exited with ${code}`)
  return JSON.parse(out) as LoadResult
}

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
function cpuSeconds (pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

async function adminStatus (gw: RunningGateway): Promise<Record<string, unknown>> {
  const res = await fetch(`${gw.ready.admin}/v1/status`)
  return await res.json() as Record<string, unknown>
}

interface SinkStatus { outbox: { readings: number, items: number }, confirmed: number, lagMs: { p50: number | null, p99: number | null }, pushes?: unknown, replicas?: unknown }
async function sinkStatus (gw: RunningGateway): Promise<SinkStatus> {
  const status = await adminStatus(gw)
  const persistence = (status.serviceStatus as Record<string, { persistence?: SinkStatus } | undefined>).collector?.persistence
  if (persistence === undefined) throw new Error(`${gw.name}: no persistence sink status`)
  return persistence
}

async function until<T> (what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  while (performance.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) { last = err }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`)
}

/** Readings sealed as a collector seals them, with their checkpoint chain, cut into store requests. */
export interface SealedRun { sensor: string, count: number, requests: StoreRequest[], rows: Array<{ sensor: string, seq: number, gw: Uint8Array, envelope: Uint8Array }>, sealMs: number }

export async function sealRun (signerSeed: Uint8Array, certificate: Uint8Array, sensor: string, firstMs: number, count: number, intervalMs: number, recipients: Recipient[]): Promise<SealedRun> {
  const signer = await suite.importSigningKey(signerSeed)
  const sealer = new EnvelopeSealer({ suite, signer })
  const plaintext = utf8(READING)
  const started = performance.now()
  const envelopes: Uint8Array[] = []
  const seqs: number[] = []
  for (let at = 0; at < count; at += SEAL_BATCH) {
    const batch = Array.from({ length: Math.min(SEAL_BATCH, count - at) }, (_, i) => {
      const ts = Math.floor(firstMs + (at + i) * intervalMs)
      const seq = Math.round((firstMs + (at + i) * intervalMs) * 1000)
      seqs.push(seq)
      return { header: { sensor, ts, seq }, plaintext, recipients }
    })
    for (const outcome of await sealer.sealBatch(batch)) {
      if (!('envelope' in outcome)) throw outcome.error as Error
      envelopes.push(outcome.envelope)
    }
  }
  // [PER-11] one checkpoint per bucket, each linked to the one before
  const cps: Array<{ last: number, bytes: Uint8Array }> = []
  let prev: CheckpointLink | null = null
  for (const group of checkpointGroups(seqs)) {
    const bytes = await signCheckpoint(suite, signer, { sensor, gw: signer.publicKey, bucket: group.bucket, part: 0, prev, seqs: group.seqs })
    prev = { bucket: group.bucket, part: 0, h: (await openCheckpoint(suite, bytes)).hash }
    cps.push({ last: group.seqs[group.seqs.length - 1] as number, bytes })
  }
  const sealMs = performance.now() - started
  const rows = envelopes.map((envelope, i) => ({ sensor, seq: seqs[i] as number, gw: signer.publicKey, envelope }))
  // each checkpoint goes with the request that holds its bucket's last reading
  const requests = chunks(rows, PUSH_ENVELOPES).map(part => {
    const lo = part[0]!.seq
    const hi = part[part.length - 1]!.seq
    return { op: 'store' as const, certs: [certificate], envs: part.map(r => r.envelope), cps: cps.filter(c => c.last >= lo && c.last <= hi).map(c => c.bytes) }
  })
  return { sensor, count, requests, rows, sealMs }
}

/** Pushes the requests to one replica, IN_FLIGHT at a time; resolves with the wall time in ms. */
export async function push (node: OverlayNode, peerId: string, requests: StoreRequest[]): Promise<number> {
  const started = performance.now()
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const req = requests[next++] as StoreRequest
      // as the collector's sink does, a failed push is sent again (a replica starved of CPU on a
      // shared machine can miss its 10 s request time-out); the time counts in the rate
      let answer
      for (let attempt = 1; ; attempt++) {
        try {
          answer = await request(node, peerId, req, { timeoutMs: 60_000 })
          break
        } catch (err) {
          if (attempt >= 3) throw err
          console.error(`persistence: push to ${peerId} failed (${(err as { code?: string }).code ?? String(err)}); again`)
        }
      }
      if (answer.rejected.length > 0) throw new Error(`store refused ${answer.rejected.length} items: ${[...new Set(answer.rejected.map(r => r.code))].join(', ')}`)
      if (answer.stored + answer.duplicates !== req.envs.length) throw new Error(`store took ${answer.stored + answer.duplicates} of ${req.envs.length}`)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  return performance.now() - started
}

function rawAppendRate (dir: string, file: string, rows: SealedRun['rows']): number {
  const raw = rawSqlite(dir, file)
  const started = performance.now()
  for (const part of chunks(rows, PUSH_ENVELOPES)) raw.append(part)
  const ms = performance.now() - started
  raw.close()
  return rows.length / (ms / 1000)
}

/** µs per envelope: gatemesh's verifyEnvelope (batch signatures shared), and the raw node:crypto work of it. */
/** An in-process overlay node whose key the network's CA certified for `roles`, joined through `bootstrap`; added to `nodes` for the caller to stop. */
export async function certifiedOverlayNode (network: Network, dir: string, nodes: OverlayNode[], roles: Role[], bootstrap: string[]): Promise<{ node: OverlayNode, seed: Uint8Array, certificate: Uint8Array }> {
  const token = (await network.ca('token', '--roles', roles.join(','))).trim()
  const key = await generateKeyPair('Ed25519')
  const { certificate, caCertificate } = await enroll({ caUrl: network.caUrl, token, privateKey: key })
  const node = await createOverlayNode({ privateKey: key, trust: createCertificateTrust(caCertificate), records: createRecordVerifier() }, {
    dataDir: await mkdtemp(join(dir, 'node-')), certificate, services: roles, bootstrap, listen: ['/ip4/127.0.0.1/tcp/0'], exchangeTimeout: 3000
  })
  await node.start()
  nodes.push(node)
  return { node, seed: key.raw.subarray(0, 32), certificate }
}

/** The owner and two readers, signed up at `gateway`: every reading is sealed for the 3 of them. */
export async function benchUsers (gateway: string, label: string): Promise<{ client: ReturnType<typeof createClient>, owner: Session, ownerPassword: string, identities: Identity[], recipients: Recipient[] }> {
  // as the CLI: history pages verified and opened on a worker thread [PER-53]
  const client = createClient({ gateway, kdfIterations: MIN_KDF_ITERATIONS, suite, historyPages: createWorkerPages })
  const sessions: Session[] = []
  for (const who of ['owner', 'reader one', 'reader two']) {
    const password = `${label} ${who}`
    sessions.push(await client.resume((await client.signup(password)).bundle, password))
  }
  const identities = sessions.map(s => s.identity as Identity)
  return { client, owner: sessions[0] as Session, ownerPassword: `${label} owner`, identities, recipients: identities.map(i => ({ id: i.pseudonym, publicKey: i.encPub })) }
}

async function verifyFloor (run: SealedRun): Promise<{ verifyEnvelopeUs: number, rawCryptoUs: number }> {
  const envs = run.requests.flatMap(r => r.envs)
  let started = performance.now()
  for (const part of chunks(envs, PUSH_ENVELOPES)) {
    const verifiedBatches = new Set<string>()
    for (const env of part) await verifyEnvelope(suite, env, { verifiedBatches })
  }
  const verifyEnvelopeUs = (performance.now() - started) * 1000 / envs.length
  // raw: SHA-256 of each envelope's bytes (≈ its body) and of 5 proof nodes (65 bytes), one Ed25519 verify per 32
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(run.rows[0]!.gw)]), format: 'der', type: 'spki' })
  const message = Buffer.alloc(72, 1)
  const node = Buffer.alloc(65, 2)
  const sig = Buffer.alloc(64, 3)
  started = performance.now()
  for (let i = 0; i < envs.length; i++) {
    createHash('sha256').update(envs[i] as Uint8Array).digest()
    for (let j = 0; j < 5; j++) createHash('sha256').update(node).digest()
    if (i % SEAL_BATCH === 0) edVerify(null, message, key, sig)
  }
  const rawCryptoUs = (performance.now() - started) * 1000 / envs.length
  return { verifyEnvelopeUs, rawCryptoUs }
}

export async function run (options: PersistenceOptions = {}): Promise<Record<string, unknown>> {
  const quick = options.quick === true
  const runs = options.runs ?? (quick ? 1 : 3)
  const seconds = options.seconds ?? (quick ? 4 : 20)
  const rate = options.rate ?? (quick ? 2000 : 5000)
  const dayReadings = quick ? 8640 : 86_400
  const catchupRate = options.catchupRate ?? 100
  const catchupMinutes = options.catchupMinutes ?? (quick ? 1 : 10)
  const historyReads = quick ? 5 : 20
  const loadBefore = loadavg()
  const dir = await mkdtemp(join(tmpdir(), 'gm-bench-persistence-'))
  const nodes: OverlayNode[] = []
  let net: Network | undefined
  const log = (line: string): void => { console.error(`persistence: ${line}`) }
  try {
    net = await startNetwork({
      dir,
      gateways: [{ name: 'a1', services: ['access'] }, { name: 'c0', services: ['collector'] }],
      gatewayArgs: ['--admin-port', '0', '--exchange-timeout', '3000'],
      env: { GATEMESH_LOG_LEVEL: 'warn', ...(options.profileDir === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options.profileDir}` }) },
      readyTimeoutMs: 120_000
    })
    const network = net
    const [a1, c0] = network.gateways as [RunningGateway, RunningGateway]

    /** An in-process overlay node whose key the network's CA certified for `roles`. */
    const certifiedNode = async (roles: Role[], bootstrap = network.gateways.filter(g => g.child.exitCode === null && g.child.signalCode === null).flatMap(g => g.ready.addrs)): Promise<{ node: OverlayNode, seed: Uint8Array, certificate: Uint8Array }> => await certifiedOverlayNode(network, dir, nodes, roles, bootstrap)

    // the owner and two readers: every reading is sealed for 3 recipients (as in bench/ingest.ts)
    const { client, owner, ownerPassword, identities, recipients } = await benchUsers(a1.ready.access as string, 'bench persistence')
    /** Stores a sensor record (owner + the two readers) through a1's admin DHT put; the credential. */
    const addSensor = async (id: string): Promise<{ id: string, credential: string }> => {
      const { credential, verifier } = await createSensorCredential(suite)
      const record = await createSensorRecord(suite, owner.identity as Identity, { sensorId: id, verifier, seq: 1, readers: identities.slice(1).map(i => ({ pseudonym: i.pseudonym, sigPub: i.sigPub, encPub: i.encPub })) })
      const res = await fetch(`${a1.ready.admin}/v1/dht${recordKey(NAMESPACES.sensor, id)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(record) })
      if (!res.ok) throw new Error(`sensor ${id}: ${res.status} ${await res.text()}`)
      return { id, credential }
    }
    const mqttSensors: Array<{ id: string, credential: string }> = []
    for (const group of chunks(Array.from({ length: MQTT_SENSORS }, (_, i) => `bench-p-${i}`), 8)) mqttSensors.push(...await Promise.all(group.map(addSensor)))
    const daySensor = 'bench-day'
    const catchupSensors = Array.from({ length: runs }, (_, i) => `bench-catchup-${i + 1}`)
    for (const id of [daySensor, ...catchupSensors]) await addSensor(id)
    log('network, accounts and sensors ready')

    // ------------------------------------------------ 2a. whole path baseline: no persistence peer
    const mqttPort = (gw: RunningGateway): number => Number(new URL(gw.ready.collector?.mqtt as string).port)
    const warmup = quick ? 1 : 2
    interface PathRun { load: LoadResult, backlogReadings: number, lagP50Ms: number | null, lagP99Ms: number | null, lagP99MaxMs: number | null, lagP99Polls: number[], drainMs: number | null, cpu: Record<string, number>, pushesAtEnd?: unknown, replicasAtEnd?: unknown }
    const pathPhase = async (collector: RunningGateway, replicas: RunningGateway[], drain: boolean): Promise<PathRun> => {
      const before = await sinkStatus(collector)
      const procs = [collector, ...replicas]
      const cpu0 = procs.map(g => cpuSeconds(g.child.pid))
      const polls: number[] = []
      let polling = true
      const poller = (async () => {
        while (polling) {
          await new Promise(resolve => setTimeout(resolve, 1000))
          const s = await sinkStatus(collector).catch(() => undefined)
          // the sink's lag window is its last LAG_SAMPLES confirmations: counted once they are all this phase's
          // (before, the first poll's p99 was the warm-up's cold start: replica sets resolved, streams opened)
          if (s?.lagMs.p99 !== null && s?.lagMs.p99 !== undefined && s.confirmed - before.confirmed >= LAG_SAMPLES) polls.push(s.lagMs.p99)
        }
      })()
      const wall = performance.now()
      const load = await mqttLoad(mqttPort(collector), mqttSensors, rate, seconds, warmup)
      const wallS = (performance.now() - wall) / 1000
      const cpu = Object.fromEntries(procs.map((g, i) => [g.name, (cpuSeconds(g.child.pid) - (cpu0[i] as number)) / wallS * 100]))
      polling = false
      await poller
      const end = await sinkStatus(collector)
      let drainMs: number | null = null
      let last = end
      if (drain) {
        const t = performance.now()
        last = await until('the outbox drains', async () => { const s = await sinkStatus(collector); return s.outbox.readings === 0 ? s : undefined }, 180_000, 100)
        drainMs = performance.now() - t
      }
      return { load, backlogReadings: end.outbox.readings, lagP50Ms: last.lagMs.p50, lagP99Ms: last.lagMs.p99, lagP99MaxMs: polls.length === 0 ? null : Math.max(...polls), lagP99Polls: polls, drainMs, cpu, pushesAtEnd: end.pushes, replicasAtEnd: end.replicas }
    }
    const baselineRuns: PathRun[] = []
    for (let i = 0; i < runs && options.only !== 'history'; i++) { baselineRuns.push(await pathPhase(c0, [], false)); log(`whole path baseline ${i + 1}: ${Math.round(baselineRuns[i]!.load.perSecond)}/s`) }
    // stopped (not killed) so a profile is written
    await c0.stop()

    // ------------------------------------------------ the replicas, the replicating collector
    const replicaArgs = ['--repair-interval', '3600000']
    for (const name of ['p1', 'p2', 'p3']) await network.start({ name, services: ['persistence'], args: replicaArgs })
    const c1 = await network.start({ name: 'c1', services: ['collector'] })
    const gw = (name: string): RunningGateway => network.gateways.find(g => g.name === name) as RunningGateway
    // warm-up: replica sets resolved, streams open
    await mqttLoad(mqttPort(c1), mqttSensors, 500, 1, 0.5)
    await until('c1 replicates', async () => { const s = await sinkStatus(c1); return s.outbox.readings === 0 && s.confirmed > 0 ? s : undefined }, 60_000)
    const pathRuns: PathRun[] = []
    for (let i = 0; i < runs && options.only !== 'history'; i++) { pathRuns.push(await pathPhase(c1, [gw('p1'), gw('p2'), gw('p3')], true)); log(`whole path ${i + 1}: ${Math.round(pathRuns[i]!.load.perSecond)}/s, lag p99 ${pathRuns[i]!.lagP99MaxMs} ms`) }
    await c1.stop()
    if (options.only === 'whole-path') {
      const result = { runs, quick, seconds, rate, loadAverage: { before: loadBefore, after: loadavg() }, path: { baseline: baselineRuns, replicated: pathRuns }, pids: Object.fromEntries(network.gateways.map(g => [g.name, g.child.pid])) }
      console.log(JSON.stringify(result, null, 2))
      return result
    }

    // ------------------------------------------------ 1. one replica's store rate
    const pusher = await certifiedNode(['collector'])
    // dialled by peer id below: wait until the pusher has verified each replica (once, after the
    // whole-path phases, it held no address for p1 yet: NoValidAddressesError)
    await until('the pusher to verify p1..p3', async () => ['p1', 'p2', 'p3'].every(n => pusher.node.verifiedPeers().some(p => p.peerId === gw(n).ready.peerId)) ? true : undefined, 60_000)
    const dayStart = Math.ceil((Date.now() + 60_000) / 60_000) * 60_000
    const day = await sealRun(pusher.seed, pusher.certificate, daySensor, dayStart, dayReadings, 1000, recipients)
    log(`sealed ${dayReadings} readings in ${Math.round(day.sealMs)} ms`)
    const storeRuns: Array<{ replica: string, perSecond: number, rawPerSecond: number }> = []
    // the raw SELECT baseline of figure 3 reads raw-0.db
    if (options.only === 'history') rawAppendRate(dir, 'raw-0.db', day.rows)
    for (const [i, name] of ['p1', 'p2', 'p3'].entries()) {
      if (i >= runs || options.only === 'history') break
      const rawPerSecond = rawAppendRate(dir, `raw-${i}.db`, day.rows)
      const ms = await push(pusher.node, gw(name).ready.peerId, day.requests)
      storeRuns.push({ replica: name, perSecond: dayReadings / (ms / 1000), rawPerSecond })
      log(`store at ${name}: ${Math.round(dayReadings / (ms / 1000))}/s (raw ${Math.round(rawPerSecond)}/s)`)
    }
    // every replica holds the day for figure 3 (a quick run pushed to fewer)
    for (const name of ['p1', 'p2', 'p3'].slice(storeRuns.length)) await push(pusher.node, gw(name).ready.peerId, day.requests)
    const floors = []
    for (let i = 0; i < runs && options.only !== 'history'; i++) floors.push(await verifyFloor(day))

    // ------------------------------------------------ 3. history from a1 (no replica there)
    const reader = await certifiedNode(['access'])
    const dayEnd = dayStart + dayReadings * 1000
    const lastPage = async (): Promise<number> => {
      const t = performance.now()
      let n = 0
      for await (const r of owner.history(daySensor, { from: dayStart, to: dayEnd, order: 'desc', limit: 1000 })) { if (r.value === undefined) throw new Error('a reading did not open'); n++ }
      if (n !== 1000) throw new Error(`last page: ${n} readings`)
      return performance.now() - t
    }
    const httpOnly = async (): Promise<number> => {
      const t = performance.now()
      const page = await client.transport.request('GET', `/v1/sensors/${daySensor}/history`, { signer: owner.identity, query: { from: String(dayStart), to: String(dayEnd), order: 'desc', limit: '1000' }, maxBytes: 12 * 1024 * 1024 })
      if ((page.readings as unknown[]).length !== 1000) throw new Error('http page short')
      return performance.now() - t
    }
    const rangeOnly = async (): Promise<number> => {
      const t = performance.now()
      const page = await request(reader.node, gw('p1').ready.peerId, { op: 'range', sensor: daySensor, fromSeq: dayStart * 1000, toSeq: dayEnd * 1000, order: 'desc', limit: 1000 })
      if (page.envs.length !== 1000) throw new Error('range page short')
      return performance.now() - t
    }
    const rawDb = new DatabaseSync(join(dir, 'raw-0.db'), { readOnly: true })
    const select = rawDb.prepare('SELECT seq, gw, envelope FROM readings WHERE sensor = ? ORDER BY seq DESC LIMIT 1000')
    const rawSelect = async (): Promise<number> => {
      const t = performance.now()
      if (select.all(daySensor).length !== 1000) throw new Error('select short')
      return performance.now() - t
    }
    const samples = async (op: () => Promise<number>): Promise<{ p50: number, p99: number }> => {
      for (let i = 0; i < 3; i++) await op()
      const ms: number[] = []
      for (let i = 0; i < historyReads; i++) ms.push(await op())
      return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) }
    }
    const historyRuns: Array<Record<string, { p50: number, p99: number }>> = []
    for (let i = 0; i < runs; i++) {
      historyRuns.push({ client: await samples(lastPage), http: await samples(httpOnly), range: await samples(rangeOnly), rawSelect: await samples(rawSelect) })
      log(`last 1000: client p99 ${historyRuns[i]!.client!.p99.toFixed(1)} ms, http ${historyRuns[i]!.http!.p99.toFixed(1)}, range ${historyRuns[i]!.range!.p99.toFixed(1)}`)
    }
    rawDb.close()
    // the whole day: range pages of 1 000 from one replica (nothing verified) each run; through
    // a client process (pages of 1 000, its default) once
    const dayRuns: Array<{ ms: number | null, rangeMs: number, cpuS?: Record<string, number> }> = []
    for (let i = 0; i < runs; i++) {
      const t = performance.now()
      let after: [number, Uint8Array] | undefined
      let got = 0
      for (;;) {
        const page = await request(reader.node, gw('p1').ready.peerId, { op: 'range', sensor: daySensor, fromSeq: dayStart * 1000, toSeq: dayEnd * 1000, order: 'asc', limit: 1000, ...(after === undefined ? {} : { after }) })
        got += page.envs.length
        if (!page.more || page.envs.length === 0) break
        const last = day.rows[got - 1]!
        after = [last.seq, last.gw]
      }
      if (got !== dayReadings) throw new Error(`range pages: ${got} of ${dayReadings}`)
      const rangeMs = performance.now() - t
      let ms: number | null = null
      let cpuS: Record<string, number> | undefined
      if (i === 0) {
        // a1 asks whichever replica it finds nearest: the three are counted together
        const replicasCpu = (): number => ['p1', 'p2', 'p3'].reduce((sum, name) => sum + cpuSeconds(gw(name).child.pid), 0)
        const cpu0 = { a1: cpuSeconds(a1.child.pid), replicas: replicasCpu() }
        // read by a client process of its own, as the CLI reads (bench/history-read.ts)
        const read = await dayReader({ gateway: a1.ready.access as string, ca: toBase64(client.caCertificate as Uint8Array), bundle: toBase64(owner.bundle), password: ownerPassword, sensor: daySensor, from: dayStart, to: dayEnd })
        ms = read.ms
        // CPU seconds each process spent on the day: on 2 cores the day takes at least half their sum
        // (a1's and the replicas' over the client process's whole life, its start and log-in too)
        cpuS = { client: read.cpuS, a1: cpuSeconds(a1.child.pid) - cpu0.a1, replicas: replicasCpu() - cpu0.replicas }
        if (read.readings !== dayReadings) throw new Error(`the day: ${read.readings} of ${dayReadings} readings`)
      }
      dayRuns.push({ ms, rangeMs, ...(cpuS === undefined ? {} : { cpuS }) })
      log(`the day: client ${ms === null ? '-' : Math.round(ms)} ms, range pages ${Math.round(rangeMs)} ms${cpuS === undefined ? '' : `; CPU s ${Object.entries(cpuS).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`}`)
    }
    // one page of 5 000 (the route's largest), asked of the replica and through a1
    const probe5000: Record<string, string> = {}
    await request(reader.node, gw('p1').ready.peerId, { op: 'range', sensor: daySensor, fromSeq: dayStart * 1000, toSeq: dayEnd * 1000, order: 'asc', limit: 5000 }).then(
      p => { probe5000.range = `${p.envs.length} envelopes` }, (err: { code?: string }) => { probe5000.range = String(err.code ?? err) })
    await client.transport.request('GET', `/v1/sensors/${daySensor}/history`, { signer: owner.identity, query: { from: String(dayStart), to: String(dayEnd), limit: '5000' }, maxBytes: 12 * 1024 * 1024 }).then(
      p => { probe5000.http = `${(p.readings as unknown[]).length} readings` }, (err: { code?: string }) => { probe5000.http = String(err.code ?? err) })
    log(`a page of 5 000: ${JSON.stringify(probe5000)}`)
    if (options.only === 'history') {
      const result = { runs, quick, dayReadings, historyReads, loadAverage: { before: loadBefore, after: loadavg() }, history: { lastPage: historyRuns, day: dayRuns, probe5000 } }
      console.log(JSON.stringify(result, null, 2))
      return result
    }

    // ------------------------------------------------ 4. a restarted replica catches up
    const catchupRuns: Array<{ readings: number, pushMs: number, readyMs: number, catchUpMs: number }> = []
    for (let i = 0; i < runs; i++) {
      const count = Math.round(catchupMinutes * 60 * catchupRate)
      const missed = await sealRun(pusher.seed, pusher.certificate, catchupSensors[i] as string, Date.now() - catchupMinutes * 60_000, count, 1000 / catchupRate, recipients)
      await gw('p3').kill()
      const pushMs = Math.max(...await Promise.all(['p1', 'p2'].map(async name => await push(pusher.node, gw(name).ready.peerId, missed.requests))))
      const t = performance.now()
      const p3 = await network.start({ name: 'p3', services: ['persistence'], args: ['--repair-interval', '1000'] })
      const readyMs = performance.now() - t
      const watcher = await certifiedNode(['access'], p3.ready.addrs)
      await until(`p3 holds ${catchupSensors[i]}`, async () => {
        // [PER-2] an ids request spans one repair bucket at most: ask each bucket the readings are in
        let held = 0
        for (const bucket of new Set(missed.rows.map(r => Math.floor(r.seq / REPAIR_BUCKET)))) {
          held += (await request(watcher.node, p3.ready.peerId, { op: 'ids', sensor: missed.sensor, fromSeq: bucket * REPAIR_BUCKET, toSeq: (bucket + 1) * REPAIR_BUCKET })).ids.length
        }
        return held >= count ? held : undefined
      }, 600_000, 100)
      catchupRuns.push({ readings: count, pushMs, readyMs, catchUpMs: performance.now() - t })
      log(`catch-up ${i + 1}: ${count} readings in ${Math.round(performance.now() - t)} ms (pushed in ${Math.round(pushMs)} ms)`)
      await watcher.node.stop()
      nodes.splice(nodes.indexOf(watcher.node), 1)
    }

    const result = {
      runs, quick, seconds, rate, dayReadings, catchupRate, catchupMinutes, historyReads,
      loadAverage: { before: loadBefore, after: loadavg() },
      store: { runs: storeRuns, floors, sealMs: day.sealMs },
      path: { baseline: baselineRuns, replicated: pathRuns },
      history: { lastPage: historyRuns, day: dayRuns, probe5000 },
      catchup: catchupRuns
    }
    writeResultsFiles(result)
    return result
  } finally {
    for (const node of nodes) await node.stop().catch(() => {})
    await net?.stop().catch(() => {})
    if (options.keep === true) log(`kept ${dir} (gateway logs in ${join(dir, 'logs')})`)
    else await rm(dir, { recursive: true, force: true })
  }
}

interface Result {
  runs: number, quick: boolean, seconds: number, rate: number, dayReadings: number, catchupRate: number, catchupMinutes: number, historyReads: number
  loadAverage: { before: number[], after: number[] }
  store: { runs: Array<{ replica: string, perSecond: number, rawPerSecond: number }>, floors: Array<{ verifyEnvelopeUs: number, rawCryptoUs: number }>, sealMs: number }
  path: { baseline: Array<{ load: LoadResult, backlogReadings: number, cpu: Record<string, number> }>, replicated: Array<{ load: LoadResult, backlogReadings: number, lagP50Ms: number | null, lagP99Ms: number | null, lagP99MaxMs: number | null, drainMs: number | null, cpu: Record<string, number> }> }
  history: { lastPage: Array<Record<string, { p50: number, p99: number }>>, day: Array<{ ms: number | null, rangeMs: number, cpuS?: Record<string, number> }>, probe5000: Record<string, string> }
  catchup: Array<{ readings: number, pushMs: number, readyMs: number, catchUpMs: number }>
}

function writeResultsFiles (r: Record<string, unknown>): void {
  const result = r as unknown as Result
  const s = (values: Array<number | null | undefined>): Spread => spread(values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)))
  const f = formatSpread
  const store = s(result.store.runs.map(x => x.perSecond))
  const raw = s(result.store.runs.map(x => x.rawPerSecond))
  const ratio = s(result.store.runs.map(x => x.perSecond / x.rawPerSecond * 100))
  const verifyUs = s(result.store.floors.map(x => x.verifyEnvelopeUs))
  const rawUs = s(result.store.floors.map(x => x.rawCryptoUs))
  const base = result.path.baseline
  const repl = result.path.replicated
  const cpuOf = (list: Array<{ cpu: Record<string, number> }>, name: string): Spread => s(list.map(x => x.cpu[name]))
  const hist = (key: string, q: 'p50' | 'p99'): Spread => s(result.history.lastPage.map(x => x[key]?.[q]))
  const lines = [
    '# Persistence: store rate, whole path, history, catch-up', '',
    `Node ${process.version}, ${cpus().length} cores, shared with other engineers' test runs (load average ${result.loadAverage.before.map(x => x.toFixed(1)).join(' / ')} before, ${result.loadAverage.after.map(x => x.toFixed(1)).join(' / ')} after). ` +
      `A CA and gateways as real processes on 127.0.0.1; sqlite engine (WAL, synchronous FULL); 3 recipients per reading. Each figure measured ${result.runs} time(s): min-max (median).${result.quick ? ' Quick run.' : ''}`, '',
    '## 1. One replica stores (verifying every envelope and checkpoint)', '',
    '| figure | measured | baseline | baseline value | ratio | target |',
    '|---|---:|---|---:|---:|---|',
    `| store requests of 4 096 over libp2p, readings/s | ${f(store)} | raw node:sqlite INSERT, 4 096 a transaction | ${f(raw)} | ${f(ratio, 1)} % | ≥ 25 % of raw and ≥ 20 000/s |`,
    `| verifyEnvelope in one process, µs/reading | ${f(verifyUs, 1)} | raw node:crypto (SHA-256 ×6, Ed25519 ÷32) | ${f(rawUs, 1)} | ${f(s(result.store.floors.map(x => x.verifyEnvelopeUs / x.rawCryptoUs)), 2)} | |`,
    '',
    `## 2. Whole path: MQTT QoS 1 at ${result.rate}/s for ${result.seconds} s, one collector + 3 replicas (R=3, W=2)`, '',
    '| figure | replicated (c1 → p1..p3) | baseline: same collector, no persistence peer | target |',
    '|---|---:|---:|---|',
    `| acknowledged readings/s | ${f(s(repl.map(x => x.load.perSecond)))} | ${f(s(base.map(x => x.load.perSecond)))} | ≥ 5 000 |`,
    `| PUBACK p99 ms | ${f(s(repl.map(x => x.load.p99)), 1)} | ${f(s(base.map(x => x.load.p99)), 1)} | |`,
    `| replication lag p99 ms (largest of 1 s polls) | ${f(s(repl.map(x => x.lagP99MaxMs)))} | - | < 1 000 |`,
    `| replication lag p50 / p99 ms after the drain (last 4 096) | ${f(s(repl.map(x => x.lagP50Ms)))} / ${f(s(repl.map(x => x.lagP99Ms)))} | - | |`,
    `| outbox backlog when the load stops, readings | ${f(s(repl.map(x => x.backlogReadings)))} | ${f(s(base.map(x => x.backlogReadings)))} (nothing drains) | |`,
    `| time to drain it, ms | ${f(s(repl.map(x => x.drainMs)))} | - | |`,
    `| collector CPU % | ${f(cpuOf(repl, 'c1'))} | ${f(cpuOf(base, 'c0'))} | |`,
    `| replicas' CPU % (p1 / p2 / p3) | ${f(cpuOf(repl, 'p1'))} / ${f(cpuOf(repl, 'p2'))} / ${f(cpuOf(repl, 'p3'))} | - | |`,
    '',
    `## 3. History at an access gateway holding no replica (${result.dayReadings} readings of one sensor, 1 a second)`, '',
    `| figure | p50 ms | p99 ms | target |`,
    '|---|---:|---:|---|',
    `| last 1 000 readings, client library (verified, decrypted; node:crypto suite) | ${f(hist('client', 'p50'), 1)} | ${f(hist('client', 'p99'), 1)} | p99 < 50 |`,
    `| the same page, signed HTTP round trip alone | ${f(hist('http', 'p50'), 1)} | ${f(hist('http', 'p99'), 1)} | |`,
    `| baseline: the replica's range op alone (libp2p, 1 000) | ${f(hist('range', 'p50'), 1)} | ${f(hist('range', 'p99'), 1)} | |`,
    `| baseline: raw SQLite SELECT of 1 000 rows | ${f(hist('rawSelect', 'p50'), 2)} | ${f(hist('rawSelect', 'p99'), 2)} | |`,
    '',
    `p50/p99 over ${result.historyReads} reads per run, spread over runs.`, '',
    '| figure | ms | baseline: range pages of 1 000 from one replica, nothing verified, ms | target |',
    '|---|---:|---:|---|',
    `| the whole day streamed to a client process of its own (bench/history-read.ts, as the CLI; pages of 1 000; measured once) | ${f(s(result.history.day.map(x => x.ms)))} | ${f(s(result.history.day.map(x => x.rangeMs)))} | < 5 000 for 86 400 |`,
    '',
    ...result.history.day.flatMap(x => x.cpuS === undefined ? [] : [`CPU seconds spent on the day: the client process ${x.cpuS.client?.toFixed(2)}, a1 ${x.cpuS.a1?.toFixed(2)}, the replicas ${x.cpuS.replicas?.toFixed(2)}; on ${cpus().length} cores the day takes at least ${(Object.values(x.cpuS).reduce((a, b) => a + b, 0) / cpus().length * 1000).toFixed(0)} ms (their sum over the cores).`, '']),
    `One page of 5 000 (the route's largest): replica range op → ${result.history.probe5000.range}; through a1 → ${result.history.probe5000.http}.`,
    '',
    `## 4. A restarted replica catches up (${result.catchupMinutes} min at ${result.catchupRate}/s missed)`, '',
    '| figure | ms | baseline: the same readings pushed to p1 and p2 in the first place, ms |',
    '|---|---:|---:|',
    `| restart (SIGKILL before) to holding every missed reading, --repair-interval 1000 | ${f(s(result.catchup.map(x => x.catchUpMs)))} | ${f(s(result.catchup.map(x => x.pushMs)))} |`,
    `| of which the restart to its ready line | ${f(s(result.catchup.map(x => x.readyMs)))} | |`,
    ''
  ]
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL('persistence.json', dir), JSON.stringify({ title: 'Persistence: store rate, whole path, history, catch-up', environment: environment(), result }, null, 2) + '\n')
  writeFileSync(new URL('persistence.md', dir), lines.join('\n'))
  console.log(lines.join('\n'))
}

/** The options of this scenario on a command line (this script's, or `npm run bench`'s). */
export function options (argv: string[]): PersistenceOptions {
  const n = (name: string, integer: boolean): number | undefined => numberOption(argv, name, integer)
  return { quick: argv.includes('--quick'), runs: n('--runs', true), seconds: n('--seconds', false), rate: n('--rate', true), catchupRate: n('--catchup-rate', true), catchupMinutes: n('--catchup-minutes', false), ...(argv.includes('--only') ? { only: argv[argv.indexOf('--only') + 1] as 'whole-path' | 'history' } : {}), ...(argv.includes('--profile') ? { profileDir: argv[argv.indexOf('--profile') + 1] } : {}), ...(argv.includes('--keep') ? { keep: true } : {}) }
}

if (import.meta.main) {
  const { withGatewayV8Pool } = await import('./harness.ts')
  await withGatewayV8Pool()
  await run(options(process.argv))
}
