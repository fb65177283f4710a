// End to end, with real processes: history ([PER-50]..[PER-55]) over a CA, two small collector +
// access gateways, one access-only gateway that holds no replica, and three persistence peers (two
// on SQLite, one on a real influxd). Readings go in with stock curl and mosquitto_pub, come back as
// verified, decrypted history through the client library and `gatemesh read history`, page by
// page, from every replica; access rules hold (403; readings sealed while a reader was off the
// list stay closed to them); and no reading's plaintext marker is in any file: SQLite databases
// and their WAL, the outbox, journals, logs, InfluxDB's data, wal and meta directories.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  EnvelopeSealer, MIN_KDF_ITERATIONS, checkpointBucket, compareHistoryKeys, fromBase64Url, isGatemeshError, openCheckpoint, readEnvelopeHeader,
  sensorRecipients, signCheckpoint, signRequest, toHex, utf8, verifyHistoryPage, verifySensorRecord, webCryptoSuite
} from '../../src/core/index.ts'
import type { CheckpointLink, HistoryKey, Identity } from '../../src/core/index.ts'
import { createClient } from '../../src/client/index.ts'
import type { HistoryOptions, HistoryReading, ReplicaMisbehaviour, Session } from '../../src/client/index.ts'
import { enroll } from '../../src/pki/index.ts'
import { createOverlayNode } from '../../src/overlay/index.ts'
import type { OverlayNode } from '../../src/overlay/index.ts'
import { createCertificateTrust, createRecordVerifier } from '../../src/gateway/index.ts'
import { request } from '../../src/gateway/persistence/index.ts'
import { ROOT, startNetwork } from '../../src/demo/network.ts'
import type { Network, RunningGateway } from '../../src/demo/network.ts'
import { startInfluxd } from '../support/influxd.ts'
import type { Influxd } from '../support/influxd.ts'
import { eventuallyValue } from '../support/eventually.ts'

const suite = webCryptoSuite
const SENSOR = 'e2e-history'
const MARKERS: string[] = []
const marker = (): string => { const m = `mk${randomBytes(12).toString('hex')}`; MARKERS.push(m); return m }

interface Proc { code: number | null, stdout: string, stderr: string }
async function exec (file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Proc> {
  return await new Promise(resolve => {
    execFile(file, args, { timeout: 30_000, cwd: ROOT, ...(env === undefined ? {} : { env: { ...process.env, ...env } }) }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

const eventually = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> => await eventuallyValue(what, check, timeoutMs, 200)

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

/** What a test sent: its marker, and its seq when the collector said it (HTTP). */
interface Sent { marker: string, via: string, seq?: number }

describe('end to end: history from three persistence peers, one on InfluxDB [PER-50] [PER-53] [PER-55]', { timeout: 240_000 }, () => {
  let dir: string
  let influx: Influxd
  let net: Network
  let small1: RunningGateway, small2: RunningGateway, reader: RunningGateway
  let replicas: RunningGateway[]
  let onInflux: RunningGateway
  const password = { alice: 'alice history password', bob: 'bob history password', carol: 'carol history password' }
  const ids: Record<'alice' | 'bob' | 'carol', { identity: Identity, pseudonym: string, bundle: Uint8Array }> = {} as never
  const at: Partial<Record<'alice' | 'bob' | 'carol', Session>> = {}
  let owner: Session
  let credential: string
  const sent: Sent[] = []
  /** Bob's view: which readings (by index in `sent`) he may open. */
  const bobMayOpen: boolean[] = []
  let started = 0
  const nodes: OverlayNode[] = []
  const client = (gw: RunningGateway) => createClient({ gateway: gw.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS })

  async function curl (gw: RunningGateway, body: unknown): Promise<number> {
    const out = await exec('curl', ['-sS', '-w', '\n%{http_code}', '-H', 'Content-Type: application/json', '-H', `Authorization: Bearer ${credential}`,
      '-d', JSON.stringify(body), `${gw.ready.collector?.http}/v1/sensors/${SENSOR}/readings`])
    assert.equal(out.code, 0, out.stderr)
    const lines = out.stdout.trimEnd().split('\n')
    assert.equal(lines.pop(), '202', lines.join('\n'))
    return (JSON.parse(lines.join('\n')) as { seq: number }).seq
  }

  async function mqtt (gw: RunningGateway, body: unknown): Promise<void> {
    const { hostname, port } = new URL(gw.ready.collector?.mqtt as string)
    const out = await exec('mosquitto_pub', ['-h', hostname, '-p', port, '-i', `e2e-${randomBytes(4).toString('hex')}`, '-u', SENSOR, '-P', credential,
      '-t', `sensors/${SENSOR}/readings`, '-q', '1', '-m', JSON.stringify(body)])
    assert.equal(out.code, 0, out.stderr)
  }

  /** One reading with a fresh marker, with curl (HTTP) or mosquitto_pub (MQTT QoS 1), acknowledged. */
  async function send (gw: RunningGateway, how: 'curl' | 'mqtt', bobMay: boolean): Promise<void> {
    const m = marker()
    const body = { temperature: 20 + sent.length / 10, marker: m }
    const seq = how === 'curl' ? await curl(gw, body) : (await mqtt(gw, body), undefined)
    sent.push({ marker: m, via: `${how} to ${gw.name}`, ...(seq === undefined ? {} : { seq }) })
    bobMayOpen.push(bobMay)
  }

  /** Every reading of a range through the client, with the replicas it reported. */
  async function history (session: Session, options: HistoryOptions): Promise<{ readings: HistoryReading[], misbehaved: ReplicaMisbehaviour[], pages: number }> {
    const misbehaved: ReplicaMisbehaviour[] = []
    const reader = session.history(SENSOR, { ...options, onReplicaMisbehaved: r => { misbehaved.push(r) } })
    const readings: HistoryReading[] = []
    for await (const r of reader) readings.push(r)
    return { readings, misbehaved, pages: reader.stats.pages }
  }

  const markerOf = (r: HistoryReading): string | undefined => (r.json as { marker?: string } | undefined)?.marker

  /** A signed GET of the history route at the access-only gateway, as the client sends it. */
  async function route (who: 'alice' | 'bob' | 'carol', query: Record<string, string>): Promise<{ status: number, body: Record<string, unknown> }> {
    const path = `/v1/sensors/${SENSOR}/history?${new URLSearchParams(query).toString()}`
    const headers = await signRequest(suite, { keyId: ids[who].pseudonym, key: ids[who].identity.signingKey }, { method: 'GET', url: path })
    const res = await fetch(`${reader.ready.access}${path}`, { headers: { ...headers } })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  }

  /**
   * A range read page by page from one named replica (`replica=`), each page verified as the
   * client does ([PER-12] with its own bounds): the keys, in the order served.
   */
  async function fromReplica (replica: RunningGateway, from: number, to: number, order: 'asc' | 'desc', limit: number): Promise<{ keys: HistoryKey[], pages: number, checkpoints: number }> {
    const keys: HistoryKey[] = []
    let cursor: string | undefined
    let lo: HistoryKey | undefined
    let pages = 0
    let checkpoints = 0
    for (;;) {
      const query: Record<string, string> = cursor === undefined
        ? { from: String(from), to: String(to), order, limit: String(limit), replica: replica.ready.peerId }
        : { cursor, limit: String(limit), replica: replica.ready.peerId }
      const { status, body } = await route('alice', query)
      assert.equal(status, 200, JSON.stringify(body))
      assert.equal(body.replica, replica.ready.peerId)
      pages++
      const envelopes = (body.readings as string[]).map(fromBase64Url)
      const cps = (body.checkpoints as string[]).map(fromBase64Url)
      checkpoints += cps.length
      const next = body.next as string | undefined
      const last = envelopes.at(-1)
      const hi = next === undefined || last === undefined ? undefined : (({ seq, gw }) => ({ seq, gw }))(readEnvelopeHeader(last))
      const verdict = await verifyHistoryPage(suite, {
        sensor: SENSOR, fromSeq: from * 1000, toSeq: to * 1000, order, ...(lo === undefined ? {} : { lo }), ...(hi === undefined ? {} : { hi }), envelopes, checkpoints: cps
      })
      keys.push(...verdict.envelopes.map(e => ({ seq: e.seq, gw: e.gw })))
      if (next === undefined) return { keys, pages, checkpoints }
      cursor = next
      lo = hi
    }
  }

  const keyText = (k: HistoryKey): string => `${k.seq}:${toHex(k.gw)}`

  before(async () => {
    started = Date.now()
    dir = await mkdtemp(join(tmpdir(), 'gm-e2e-history-'))
    influx = await startInfluxd()
    net = await startNetwork({
      dir,
      gateways: [
        { name: 'small-1', services: ['collector', 'access'] },
        { name: 'small-2', services: ['collector', 'access'] },
        { name: 'reader', services: ['access'] },
        { name: 'p1', services: ['persistence'] },
        { name: 'p2', services: ['persistence'] },
        { name: 'p3-influx', services: ['persistence'], args: ['--persistence-engine', 'influxdb', '--influx-url', influx.url] }
      ],
      gatewayArgs: ['--admin-port', '0', '--crl-interval', '2000', '--exchange-timeout', '3000'],
      env: { GATEMESH_LOG_LEVEL: 'debug' },
      readyTimeoutMs: 60_000
    })
    ;[small1, small2, reader, ...replicas] = net.gateways as [RunningGateway, RunningGateway, RunningGateway, ...RunningGateway[]]
    onInflux = replicas[2] as RunningGateway
    const [a, b, c] = await Promise.all([client(small1).signup(password.alice), client(small2).signup(password.bob), client(small1).signup(password.carol)])
    Object.assign(ids, { alice: a, bob: b, carol: c })
    owner = await client(small1).resume(a.bundle, password.alice)
    credential = (await owner.addSensor(SENSOR)).credential
    // [PER-3] both collectors find the sensor's three replicas before a reading flows
    for (const gw of [small1, small2]) {
      await eventually(`${gw.name} finds the three persistence peers`, async () => {
        const res = await fetch(`${gw.ready.admin}/v1/peers?role=persistence&key=${encodeURIComponent(`/gm-sensor/${SENSOR}`)}&count=3`)
        const { peers } = await res.json() as { peers: Array<{ peerId: string }> }
        return peers.length === 3 ? peers : undefined
      }, 30_000)
    }
  })

  after(async () => {
    for (const node of nodes) await node.stop().catch(() => {})
    await net?.stop().catch(() => {})
    await influx?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('readings sent with curl and mosquitto_pub come back from the access-only gateway, decrypted, in order, across pages; a reader sees only what was sealed for them', async () => {
    // sealed before Bob is a reader
    await send(small1, 'curl', false)
    await owner.share(SENSOR, ids.bob.pseudonym)
    for (let i = 0; i < 8; i++) await send(i % 2 === 0 ? small1 : small2, i % 4 < 2 ? 'curl' : 'mqtt', true)
    // taken off the list: what is sealed now is not his; the route refuses him meanwhile
    await owner.revoke(SENSOR, ids.bob.pseudonym)
    await send(small1, 'curl', false)
    await send(small1, 'mqtt', false)
    at.bob = await client(reader).login(ids.bob.pseudonym, password.bob)
    await eventually('the route refuses the removed reader', async () => {
      try {
        await history(at.bob as Session, { from: started })
        return undefined
      } catch (err) {
        return isGatemeshError(err, 'GM_ERR_FORBIDDEN') && err.status === 403 ? true : undefined
      }
    })
    // on the list again: what is sealed now opens for him
    await owner.share(SENSOR, ids.bob.pseudonym)
    await send(small1, 'curl', true)

    at.alice = await client(reader).login(ids.alice.pseudonym, password.alice)
    const all = await eventually('every reading is in history', async () => {
      const h = await history(at.alice as Session, { from: started, pageSize: 3 })
      return h.readings.length >= sent.length ? h : undefined
    }, 30_000)
    assert.deepEqual(all.misbehaved, [], 'every page a replica served verified')
    assert.deepEqual(all.readings.map(markerOf), sent.map(s => s.marker), 'every reading once, decrypted, in the order sent')
    assert.ok(all.pages >= Math.ceil(sent.length / 3), `read in ${all.pages} pages of 3`)
    const keys = all.readings.map(r => ({ seq: r.seq, gw: Buffer.from(r.gateway, 'hex') }))
    for (let i = 1; i < keys.length; i++) assert.ok(compareHistoryKeys(keys[i - 1] as HistoryKey, keys[i] as HistoryKey) < 0, 'in (seq, gw) order [PER-1]')
    for (const [i, s] of sent.entries()) if (s.seq !== undefined) assert.equal(all.readings[i]?.seq, s.seq, `${s.via}: the seq it was acknowledged with`)
    assert.deepEqual(new Set(all.readings.map(r => r.gateway)).size, 2, 'readings of both collectors')

    // descending: the same readings, newest first
    const desc = await history(at.alice as Session, { from: started, pageSize: 4, order: 'desc' })
    assert.deepEqual(desc.readings.map(markerOf), sent.map(s => s.marker).reverse())

    // Bob: readings sealed while he was not on the list come without a value, the others open
    const bob = await eventually('Bob reads history again', async () => await history(at.bob as Session, { from: started, pageSize: 5 }))
    assert.deepEqual(bob.misbehaved, [])
    assert.equal(bob.readings.length, sent.length)
    for (const [i, r] of bob.readings.entries()) {
      if (bobMayOpen[i] === true) assert.equal(markerOf(r), sent[i]?.marker, `reading ${i} (${sent[i]?.via}) opens for Bob`)
      else {
        assert.equal(r.value, undefined, `reading ${i} (${sent[i]?.via}) was not sealed for Bob`)
        assert.equal(r.notReadable, 'GM_ERR_NOT_A_RECIPIENT')
      }
    }
    assert.deepEqual(bobMayOpen.filter(x => !x).length, 3)

    // Carol was never on the list: 403 from the route and from the client
    at.carol = await client(reader).login(ids.carol.pseudonym, password.carol)
    await assert.rejects(history(at.carol as Session, { from: started }), err => isGatemeshError(err, 'GM_ERR_FORBIDDEN') && err.status === 403)
    const raw = await route('carol', { from: String(started), to: String(Date.now() + 60_000) })
    assert.equal(raw.status, 403)
    assert.equal(raw.body.code, 'GM_ERR_FORBIDDEN')
  })

  it('`gatemesh read history --format json` prints every reading, in order', async () => {
    const env = { GATEMESH_HOME: join(dir, 'cli'), GATEMESH_PASSWORD: password.alice }
    const main = join(ROOT, 'src/cli/main.ts')
    const login = await exec(process.execPath, [main, 'login', '--gateway', reader.ready.access as string, '--pseudonym', ids.alice.pseudonym, '--ca-cert', join(net.caDir, 'ca.crt')], env)
    assert.equal(login.code, 0, login.stderr)
    const read = await exec(process.execPath, [main, 'read', 'history', SENSOR, '--from', new Date(started).toISOString(), '--format', 'json'], env)
    assert.equal(read.code, 0, read.stderr)
    const lines = read.stdout.trim().split('\n').map(l => JSON.parse(l) as { sensor: string, seq: number, text?: string })
    assert.deepEqual(lines.map(l => (JSON.parse(l.text as string) as { marker: string }).marker), sent.map(s => s.marker))
    assert.ok(lines.every(l => l.sensor === SENSOR))
    assert.match(read.stderr, new RegExp(`${sent.length} reading\\(s\\)`))
    assert.doesNotMatch(read.stderr, /warning/)
  })

  it('every replica, the InfluxDB one included, holds every reading and serves pages that verify', async () => {
    const to = Date.now() + 60_000
    const expected = (await history(at.alice as Session, { from: started, to })).readings.map(r => `${r.seq}:${r.gateway}`)
    assert.equal(expected.length, sent.length)
    for (const replica of replicas) {
      const served = await eventually(`${replica.name} holds every reading`, async () => {
        const r = await fromReplica(replica, started, to, 'asc', 4)
        return r.keys.length === expected.length ? r : undefined
      })
      assert.deepEqual(served.keys.map(keyText), expected, `${replica.name}: every reading, in order`)
      assert.ok(served.pages >= 3)
    }
    // the InfluxDB replica answered with its own page (the route names the replica that served it)
    const desc = await fromReplica(onInflux, started, to, 'desc', 5)
    assert.deepEqual(desc.keys.map(keyText), [...expected].reverse())
  })

  it('a range that starts and ends strictly inside the readings verifies in both orders, from every replica', async () => {
    const asc = (await history(at.alice as Session, { from: started })).readings
    const from = (asc[2] as HistoryReading).ts
    const to = (asc[asc.length - 3] as HistoryReading).ts
    const inside = asc.filter(r => r.ts >= from && r.ts < to).map(markerOf)
    assert.ok(inside.length >= 4 && inside.length < asc.length - 3)
    for (const order of ['asc', 'desc'] as const) {
      const got = await history(at.alice as Session, { from, to, order, pageSize: 2 })
      assert.deepEqual(got.misbehaved, [])
      assert.deepEqual(got.readings.map(markerOf), order === 'asc' ? inside : [...inside].reverse())
      for (const replica of replicas) {
        const served = await fromReplica(replica, from, to, order, 3)
        assert.equal(served.keys.length, inside.length, `${replica.name} ${order}`)
      }
    }
  })

  it('a collector\'s chain across buckets, with late parts, read from the middle of the chain to before its head, verifies in both orders from every replica [PER-12]', async () => {
    // a certified collector (an overlay node in this process) pushes a chain no real collector
    // would have signed yet: five minutes ahead, each minute its own bucket ([PER-10])
    const token = (await net.ca('token', '--roles', 'collector')).trim()
    const key = await generateKeyPair('Ed25519')
    const { certificate, caCertificate } = await enroll({ caUrl: net.caUrl, token, privateKey: key })
    const node = await createOverlayNode({ privateKey: key, trust: createCertificateTrust(caCertificate), records: createRecordVerifier() }, {
      dataDir: await mkdtemp(join(dir, 'node-')), certificate, services: ['collector'], bootstrap: net.gateways.flatMap(g => g.ready.addrs), listen: ['/ip4/127.0.0.1/tcp/0'], exchangeTimeout: 3000
    })
    await node.start()
    nodes.push(node)
    const signer = await suite.importSigningKey(key.raw.subarray(0, 32))
    const gw = key.publicKey.raw
    const record = await verifySensorRecord(suite, new Uint8Array(await (await fetch(`${small1.ready.admin}/v1/dht/gm-sensor/${SENSOR}`)).arrayBuffer()))
    const t0 = (Math.floor(Date.now() / 60_000) + 5) * 60_000
    // bucket i holds readings at 10 s, 20 s, 30 s (and 40 s in bucket 2)
    const readings: Array<{ ts: number, seq: number, env: Uint8Array, marker: string }> = []
    for (let b = 0; b < 5; b++) {
      for (let k = 1; k <= (b === 2 ? 4 : 3); k++) {
        const ts = t0 + b * 60_000 + k * 10_000
        const m = marker()
        const env = await new EnvelopeSealer({ suite, signer }).seal({ sensor: SENSOR, ts, seq: ts * 1000 }, utf8(JSON.stringify({ n: readings.length, marker: m })), sensorRecipients(record))
        readings.push({ ts, seq: ts * 1000, env, marker: m })
      }
    }
    const inBucket = (b: number): number[] => readings.filter(r => checkpointBucket(r.seq) === checkpointBucket(t0 * 1000) + b).map(r => r.seq)
    const b0 = checkpointBucket(t0 * 1000)
    // the chain: p0(b0) → p0(b1) {2 seqs} → p1(b1) {1, late} → p0(b2) {3} → p0(b3) → p1(b2) {1, late} → p0(b4)
    const plan: Array<{ bucket: number, part: number, seqs: number[] }> = [
      { bucket: b0, part: 0, seqs: inBucket(0) },
      { bucket: b0 + 1, part: 0, seqs: inBucket(1).slice(0, 2) },
      { bucket: b0 + 1, part: 1, seqs: inBucket(1).slice(2) },
      { bucket: b0 + 2, part: 0, seqs: inBucket(2).slice(0, 3) },
      { bucket: b0 + 3, part: 0, seqs: inBucket(3) },
      { bucket: b0 + 2, part: 1, seqs: inBucket(2).slice(3) },
      { bucket: b0 + 4, part: 0, seqs: inBucket(4) }
    ]
    const cps: Uint8Array[] = []
    let prev: CheckpointLink | null = null
    for (const step of plan) {
      const bytes = await signCheckpoint(suite, signer, { sensor: SENSOR, gw, ...step, prev })
      cps.push(bytes)
      prev = { bucket: step.bucket, part: step.part, h: (await openCheckpoint(suite, bytes)).hash }
    }
    for (const replica of replicas) {
      const answer = await request(node, replica.ready.peerId, { op: 'store', certs: [certificate], envs: readings.map(r => r.env), cps })
      assert.deepEqual(answer.rejected, [], replica.name)
      assert.equal(answer.stored, readings.length, replica.name)
    }

    // ranges strictly inside (readings 0-2 are bucket 0, 3-5 bucket 1, 6-9 bucket 2, 10-12 bucket 3,
    // 13-15 bucket 4), in pages of 3: from the middle of bucket 1 to that of bucket 3 (the second
    // page starts in bucket 2, after bucket 1's late part), and from bucket 2's late reading
    // (after part 0 of bucket 3 in the chain) into bucket 4
    for (const [first, last] of [[4, 11], [9, 14]] as const) {
      const from = (readings[first] as { ts: number }).ts
      const to = (readings[last] as { ts: number }).ts
      const expected = readings.filter(r => r.ts >= from && r.ts < to)
      for (const order of ['asc', 'desc'] as const) {
        const inOrder = order === 'asc' ? expected : [...expected].reverse()
        // the client (the gateway picks the replica) and each replica by name, at once
        const [got, ...served] = await Promise.all([
          history(at.alice as Session, { from, to, order, pageSize: 3 }),
          ...replicas.map(async replica => await fromReplica(replica, from, to, order, 3))
        ])
        assert.deepEqual(got.misbehaved, [], `${from}..${to} ${order}: ${JSON.stringify(got.misbehaved)}`)
        assert.deepEqual(got.readings.map(markerOf), inOrder.map(r => r.marker))
        for (const [i, replica] of replicas.entries()) {
          assert.deepEqual(served[i]?.keys.map(k => k.seq), inOrder.map(r => r.seq), `${replica.name} ${order} [${first}, ${last})`)
          assert.ok((served[i]?.checkpoints ?? 0) > 0, 'the pages carry the chain')
        }
      }
    }
  })

  it('no plaintext marker is in any file: engines, outbox, journals, logs, InfluxDB', async () => {
    assert.equal(MARKERS.length, sent.length + 16)
    const scan = async (label: string): Promise<string[]> => {
      const files = [...await filesUnder(dir), ...await filesUnder(influx.dataDir)]
      for (const file of files) {
        const bytes = await readFile(file)
        for (const m of MARKERS) {
          assert.equal(bytes.includes(m), false, `${label}: ${m} found in ${file}`)
          assert.equal(bytes.includes(Buffer.from(m).toString('base64').slice(0, 16)), false, `${label}: ${m} (base64) found in ${file}`)
        }
        for (const secret of [credential, ...Object.values(password)]) assert.equal(bytes.includes(secret), false, `${label}: a credential or password in ${file}`)
      }
      return files
    }
    // while running (SQLite WAL files in place), then once everything stopped
    const running = await scan('running')
    const named = (pattern: RegExp): string[] => running.filter(f => pattern.test(f))
    assert.equal(named(/persistence\.db$/).length, 2, 'the SQLite replicas\' databases were scanned')
    assert.ok(named(/persistence-outbox\.db/).length >= 2, 'the collectors\' outboxes were scanned')
    assert.ok(named(new RegExp(`^${influx.dataDir}/(data|wal|meta)/`)).length >= 3, 'InfluxDB\'s data, wal and meta files were scanned')
    // a positive control: the scan reads what the engines wrote (the sensor id is public)
    let seen = 0
    for (const file of named(/persistence\.db(-wal)?$/)) if ((await readFile(file)).includes(SENSOR)) seen++
    assert.ok(seen >= 2, `the sensor id is in ${seen} SQLite engine files`)
    const codes = await net.stop()
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 0, 0], 'every gateway and the CA stop cleanly')
    await scan('stopped')
    assert.equal((await filesUnder(join(dir, 'logs'))).length, 7)
  })
})
