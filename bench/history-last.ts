/**
 * Figure 3 of bench/persistence.ts alone (the last 1 000 readings of a sensor through the client
 * library, at an access gateway `a1` that holds no replica), with its floors in the same run.
 * Real processes as there (src/demo/network.ts): a CA, `a1` (access only), `p1`..`p3`
 * (persistence, sqlite engine); the sensor's readings sealed for 3 recipients in batches of 32 by
 * an in-process node certified for collector (as bench/persistence.ts's pusher), with their
 * checkpoint chain, pushed to the three replicas. Then, interleaved read by read:
 *
 *   client     the last 1 000 through `session.history` (one page, newest first; verified, opened)
 *   http       the signed HTTP round trip alone (the JSON answer parsed, nothing verified)
 *   http-cbor  the same, the answer asked as CBOR ([PER-56])
 *   record     `GET /v1/sensors/:id` (signed): the route's access check alone (the sensor record's DHT lookup)
 *   range      the replica's `range` op alone over libp2p from an in-process access node
 *   floor      the page's raw node:crypto work in this process: SHA-256 of every envelope and of 5
 *              proof nodes, one Ed25519 verification per batch of 32 and per checkpoint, one
 *              X25519 + HKDF per batch (the wrap key), two AES-GCM opens per reading
 *   json       JSON.parse of the page's JSON answer and base64url decoding of its envelopes
 *   cbor       decoding the same page as canonical CBOR
 *
 * Wall ms (p50 / p99 / min) of each, the CPU ms of this process and of `a1` per read (medians;
 * a1's from /proc, 10 ms ticks, so a sum over the reads divided by their number).
 *
 *   node bench/history-last.ts [--readings 8640] [--reads 20] [--ops client,http,...]
 *     [--profile DIR]   (V8 CPU profiles: a1 and the replicas via --cpu-prof, this process's reads by the inspector)
 */
import { createCipheriv, createDecipheriv, createHash, createPublicKey, createSecretKey, diffieHellman, generateKeyPairSync, hkdfSync, sign as edSign, verify as edVerify } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { Session as Inspector } from 'node:inspector/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createSensorCredential, createSensorRecord, decodeCanonical, encodeCanonical } from '../src/core/index.ts'
import type { Identity } from '../src/core/index.ts'
import { startNetwork } from '../src/demo/network.ts'
import type { Network, RunningGateway } from '../src/demo/network.ts'
import { request } from '../src/gateway/persistence/index.ts'
import { NAMESPACES, recordKey } from '../src/overlay/index.ts'
import type { OverlayNode, Role } from '../src/overlay/index.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { withGatewayV8Pool } from './harness.ts'
import { benchUsers, certifiedOverlayNode, push, sealRun } from './persistence.ts'
import { quantile } from './persistence-helpers.ts'

const { values } = parseArgs({ options: { readings: { type: 'string', default: '8640' }, reads: { type: 'string', default: '20' }, ops: { type: 'string' }, profile: { type: 'string' } } })
const READINGS = Number(values.readings)
const READS = Number(values.reads)
const PAGE = 1000
const suite = createNodeCryptoSuite()
const log = (line: string): void => { console.error(`history-last: ${line}`) }

function cpuMs (pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}

await withGatewayV8Pool()
const loadBefore = loadavg()
const dir = await mkdtemp(join(tmpdir(), 'gm-bench-history-last-'))
const nodes: OverlayNode[] = []
let net: Network | undefined
try {
  net = await startNetwork({
    dir,
    gateways: [{ name: 'a1', services: ['access'] }, ...['p1', 'p2', 'p3'].map(name => ({ name, services: ['persistence' as Role], args: ['--repair-interval', '3600000'] }))],
    gatewayArgs: ['--admin-port', '0', '--exchange-timeout', '3000'],
    env: { GATEMESH_LOG_LEVEL: 'warn', ...(values.profile === undefined ? {} : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${values.profile}` }) },
    readyTimeoutMs: 120_000
  })
  const network = net
  const gw = (name: string): RunningGateway => network.gateways.find(g => g.name === name) as RunningGateway
  const a1 = gw('a1')
  const certifiedNode = async (roles: Role[]): Promise<{ node: OverlayNode, seed: Uint8Array, certificate: Uint8Array }> => await certifiedOverlayNode(network, dir, nodes, roles, network.gateways.flatMap(g => g.ready.addrs))

  // the owner and two readers: every reading sealed for 3 recipients, as in bench/persistence.ts
  const { client, owner, identities, recipients } = await benchUsers(a1.ready.access as string, 'bench history')
  const sensor = 'bench-history-last'
  const { verifier } = await createSensorCredential(suite)
  const record = await createSensorRecord(suite, owner.identity as Identity, { sensorId: sensor, verifier, seq: 1, readers: identities.slice(1).map(i => ({ pseudonym: i.pseudonym, sigPub: i.sigPub, encPub: i.encPub })) })
  const put = await fetch(`${a1.ready.admin}/v1/dht${recordKey(NAMESPACES.sensor, sensor)}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(record) })
  if (!put.ok) throw new Error(`sensor record: ${put.status}`)

  const pusher = await certifiedNode(['collector'])
  const start = Math.ceil((Date.now() + 60_000) / 60_000) * 60_000 // the pusher's certificate is fresh: readings after it
  const run = await sealRun(pusher.seed, pusher.certificate, sensor, start, READINGS, 1000, recipients)
  for (const name of ['p1', 'p2', 'p3']) await push(pusher.node, gw(name).ready.peerId, run.requests)
  log(`${READINGS} readings sealed and pushed to p1..p3`)
  const end = start + READINGS * 1000
  const reader = await certifiedNode(['access'])
  const query = { from: String(start), to: String(end), order: 'desc', limit: String(PAGE) }

  // the page as the route answers it, for the decode floors
  const jsonPage = await client.transport.request('GET', `/v1/sensors/${sensor}/history`, { signer: owner.identity, query, maxBytes: 12 * 1024 * 1024 })
  const jsonText = JSON.stringify(jsonPage)
  const pageBytes = (jsonPage.readings as string[]).map(s => new Uint8Array(Buffer.from(s, 'base64url')))
  const cborBytes = encodeCanonical({ ...jsonPage, readings: pageBytes, checkpoints: (jsonPage.checkpoints as string[]).map(s => new Uint8Array(Buffer.from(s, 'base64url'))), certificates: (jsonPage.certificates as string[]).map(s => new Uint8Array(Buffer.from(s, 'base64url'))) })
  log(`a page: ${jsonText.length} bytes as JSON, ${cborBytes.length} as CBOR; ${(jsonPage.checkpoints as string[]).length} checkpoints`)

  // raw node:crypto stand-ins, of the page's sizes
  const ed = generateKeyPairSync('ed25519')
  const xA = generateKeyPairSync('x25519')
  const xB = generateKeyPairSync('x25519')
  const edMsg = Buffer.alloc(72, 1)
  const edSig = edSign(null, edMsg, ed.privateKey)
  const edPub = ed.publicKey
  const xAder = xA.publicKey.export({ format: 'der', type: 'spki' })
  const proofNode = Buffer.alloc(65, 2)
  const gcmKey = Buffer.alloc(32, 4)
  const seal = (key: Buffer, plaintext: Buffer, aad: Buffer): Buffer => {
    const c = createCipheriv('aes-256-gcm', key, Buffer.alloc(12), { authTagLength: 16 })
    c.setAAD(aad)
    return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
  }
  const aad = Buffer.alloc(60, 5)
  const wrapped = seal(gcmKey, gcmKey, aad)
  const ct = seal(gcmKey, Buffer.from(JSON.stringify({ temperature: 21.5, humidity: 40.2, battery: 3.31 })), aad)
  const open = (key: ReturnType<typeof createSecretKey>, sealed: Buffer): Buffer => {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.alloc(12), { authTagLength: 16 })
    d.setAAD(aad)
    d.setAuthTag(sealed.subarray(sealed.length - 16))
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()])
  }
  const wrapKeyObject = createSecretKey(gcmKey)
  const checkpoints = (jsonPage.checkpoints as string[]).length

  const ops: Record<string, () => Promise<void>> = {
    client: async () => {
      let n = 0
      for await (const r of owner.history(sensor, { from: start, to: end, order: 'desc', limit: PAGE })) { if (r.value === undefined) throw new Error('a reading did not open'); n++ }
      if (n !== PAGE) throw new Error(`${n} readings`)
    },
    http: async () => {
      const page = await client.transport.request('GET', `/v1/sensors/${sensor}/history`, { signer: owner.identity, query, maxBytes: 12 * 1024 * 1024 })
      if ((page.readings as unknown[]).length !== PAGE) throw new Error('short page')
    },
    'http-cbor': async () => {
      const page = await client.transport.request('GET', `/v1/sensors/${sensor}/history`, { signer: owner.identity, query, maxBytes: 12 * 1024 * 1024, cbor: true })
      if ((page.readings as unknown[]).length !== PAGE) throw new Error('short page')
    },
    // the route's access check alone: the signed request and the sensor record's DHT lookup ([ACS-8] does the same)
    record: async () => {
      const answer = await client.transport.request('GET', `/v1/sensors/${sensor}`, { signer: owner.identity })
      if (typeof answer.record !== 'string') throw new Error('no record')
    },
    range: async () => {
      const page = await request(reader.node, gw('p1').ready.peerId, { op: 'range', sensor, fromSeq: start * 1000, toSeq: end * 1000, order: 'desc', limit: PAGE })
      if (page.envs.length !== PAGE) throw new Error('range page short')
    },
    floor: async () => {
      for (let i = 0; i < pageBytes.length; i++) {
        createHash('sha256').update(pageBytes[i] as Uint8Array).digest()
        for (let j = 0; j < 5; j++) createHash('sha256').update(proofNode).digest()
        if (i % 32 === 0) {
          if (!edVerify(null, edMsg, edPub, edSig)) throw new Error('ed25519')
          hkdfSync('sha256', diffieHellman({ privateKey: xB.privateKey, publicKey: createPublicKey({ key: xAder, format: 'der', type: 'spki' }) }), Buffer.alloc(0), 'wrap', 32)
        }
        const dataKey = open(wrapKeyObject, wrapped)
        open(createSecretKey(dataKey), ct)
      }
      for (let i = 0; i < checkpoints; i++) edVerify(null, edMsg, edPub, edSig)
    },
    json: async () => {
      const page = JSON.parse(jsonText) as { readings: string[] }
      for (const s of page.readings) Buffer.from(s, 'base64url')
    },
    cbor: async () => {
      const page = decodeCanonical(cborBytes, { maxBytes: 16 * 1024 * 1024 }) as { readings: Uint8Array[] }
      if (page.readings.length !== PAGE) throw new Error('cbor page short')
    }
  }
  const chosen = values.ops === undefined ? Object.keys(ops) : values.ops.split(',')
  for (const name of Object.keys(ops)) if (!chosen.includes(name)) Reflect.deleteProperty(ops, name)
  // warm-up: replica sets resolved, streams open, code compiled
  for (let i = 0; i < 3; i++) for (const op of Object.values(ops)) await op()
  const wall: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map(k => [k, []]))
  const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(ops).map(k => [k, []]))
  const a1Cpu: Record<string, number> = Object.fromEntries(Object.keys(ops).map(k => [k, 0]))
  const inspector = values.profile === undefined ? undefined : new Inspector()
  if (inspector !== undefined) {
    inspector.connect()
    await inspector.post('Profiler.enable')
    await inspector.post('Profiler.start')
  }
  for (let i = 0; i < READS; i++) {
    for (const [name, op] of Object.entries(ops)) {
      const c = process.cpuUsage()
      const a = cpuMs(a1.child.pid)
      const t = performance.now()
      await op()
      wall[name]!.push(performance.now() - t)
      const d = process.cpuUsage(c)
      cpu[name]!.push((d.user + d.system) / 1000)
      a1Cpu[name]! += cpuMs(a1.child.pid) - a
    }
  }
  if (inspector !== undefined) {
    const { profile } = await inspector.post('Profiler.stop')
    writeFileSync(join(values.profile as string, 'client.cpuprofile'), JSON.stringify(profile))
    inspector.disconnect()
  }
  console.log(`last ${PAGE} of ${READINGS} readings (batches of 32, 3 recipients), ${READS} reads each, interleaved; load average before ${loadBefore.map(l => l.toFixed(2)).join(' ')}, after ${loadavg().map(l => l.toFixed(2)).join(' ')}`)
  console.log('op          wall ms p50 / p99 / min        CPU ms here p50   a1 CPU ms/read')
  for (const name of Object.keys(ops)) {
    const w = wall[name]!
    console.log(`${name.padEnd(10)}  ${quantile(w, 0.5).toFixed(1).padStart(7)} / ${quantile(w, 0.99).toFixed(1).padStart(7)} / ${Math.min(...w).toFixed(1).padStart(7)}   ${quantile(cpu[name]!, 0.5).toFixed(1).padStart(8)}   ${(a1Cpu[name]! / READS).toFixed(1).padStart(8)}`)
  }
} finally {
  for (const node of nodes) await node.stop().catch(() => {})
  // stopped (not killed), so the gateways write their profiles
  await net?.stop()
  await rm(dir, { recursive: true, force: true })
}
