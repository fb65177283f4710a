// The client's history reader [PER-53]..[PER-55] against a real access service over HTTP, whose
// replicas are fakes serving honest pages (real envelopes, real signed checkpoints) or tampered
// ones: order across pages, readings sealed before access, misbehaving replicas reported and
// bypassed, and the code thrown when no replica is honest.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createClient } from '../../src/client/index.ts'
import type { HistoryReader, HistoryReading, ReplicaMisbehaviour, Session } from '../../src/client/index.ts'
import { EnvelopeSealer, GatemeshError, checkpointBucket, fromUtf8, openCheckpoint, readEnvelopeHeader, sensorRecipients, signCheckpoint, utf8, verifySensorRecord } from '../../src/core/index.ts'
import type { CheckpointLink } from '../../src/core/index.ts'
import type { HistorySource } from '../../src/gateway/access/index.ts'
import { certifiedKey, networkCa, sealFor, startService, suite } from '../access/helpers.ts'
import { issueGatewayCertificate } from '../../src/pki/index.ts'
import type { Fixture } from '../access/helpers.ts'

const TEST_KDF = { kdfIterations: 1000, allowWeakKdfForTests: true }
const SENSOR = 'orchard-1'
const HONEST = '12D3KooWPeerHonestAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const CROOK = '12D3KooWPeerCrookBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'
const SPARE = '12D3KooWPeerSpareCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC'

interface Held { seq: number, gw: Uint8Array, env: Uint8Array }
type Tamper = (envs: Uint8Array[]) => Uint8Array[]

function compareKeys (a: Held, b: { seq: number, gw: Uint8Array }): number {
  if (a.seq !== b.seq) return a.seq - b.seq
  for (let i = 0; i < 32; i++) if (a.gw[i] !== b.gw[i]) return (a.gw[i] as number) - (b.gw[i] as number)
  return 0
}

async function collect (reader: HistoryReader): Promise<HistoryReading[]> {
  const out: HistoryReading[] = []
  for await (const reading of reader) out.push(reading)
  return out
}

describe('client history reader', () => {
  let fx: Fixture
  let alice: Session
  let bob: Session
  let carol: Session
  const held: Held[] = []
  const checkpoints: Uint8Array[] = []
  let certificates: Uint8Array[] = []
  let from = 0
  let to = 0
  /** Replicas nearest first, and what each does to the honest page. */
  let replicas: Array<[string, Tamper | undefined]> = [[HONEST, undefined]]
  const asked: Array<string | undefined> = []

  const source: HistorySource = async (_sensorId, query, replica) => {
    asked.push(replica)
    const [name, tamper] = replica === undefined ? replicas[0] as [string, Tamper | undefined] : replicas.find(r => r[0] === replica) ?? [replica, undefined]
    const asc = query.order === 'asc'
    const inRange = held.filter(h => h.seq >= query.fromSeq && h.seq < query.toSeq)
    const ordered = asc ? inRange : [...inRange].reverse()
    const after = query.after
    const rest = after === undefined ? ordered : ordered.filter(h => asc ? compareKeys(h, after) > 0 : compareKeys(h, after) < 0)
    const page = rest.slice(0, query.limit)
    const envs = page.map(h => h.env)
    return { replica: name, replicas: replicas.map(r => r[0]), envs: tamper === undefined ? envs : tamper(envs), cps: checkpoints, certs: certificates, more: rest.length > page.length }
  }

  before(async () => {
    fx = await startService(undefined, undefined, { history: source })
    certificates = [fx.certificate]
    const ca = (await networkCa()).certificate
    const users = await Promise.all(['alice pw', 'bob pw', 'carol pw'].map(async pw => await createClient({ gateway: fx.url, ...TEST_KDF }).signup(pw)))
    const open = async (i: number, pw: string): Promise<Session> => await createClient({ gateway: fx.url, caCertificate: ca, ...TEST_KDF }).resume((users[i] as { bundle: Uint8Array }).bundle, pw)
    ;[alice, bob, carol] = await Promise.all([open(0, 'alice pw'), open(1, 'bob pw'), open(2, 'carol pw')])
    await alice.addSensor(SENSOR)
    // ten readings 20 s apart from the next whole minute: four before bob may read, six after
    const t0 = Math.ceil(Date.now() / 60_000) * 60_000
    from = t0
    to = t0 + 600_000
    for (let i = 0; i < 10; i++) {
      if (i === 4) await alice.share(SENSOR, bob.pseudonym)
      const ts = t0 + i * 20_000
      const env = await sealFor(fx.dht, fx.gateway, { sensor: SENSOR, seq: ts * 1000, ts }, `reading ${i}`)
      held.push({ seq: ts * 1000, gw: readEnvelopeHeader(env).gw, env })
    }
    // [PER-10] the collector's chain: part 0 of each minute, linked
    let prev: CheckpointLink | null = null
    const buckets = [...new Set(held.map(h => checkpointBucket(h.seq)))]
    for (const bucket of buckets) {
      const bytes = await signCheckpoint(suite, fx.gateway, { sensor: SENSOR, gw: fx.gateway.publicKey, bucket, part: 0, prev, seqs: held.filter(h => checkpointBucket(h.seq) === bucket).map(h => h.seq) })
      checkpoints.push(bytes)
      prev = { bucket, part: 0, h: (await openCheckpoint(suite, bytes)).hash }
    }
  })
  after(async () => { await fx.service.stop() })

  it('yields every reading in order across pages; those sealed before access come without a value', async () => {
    replicas = [[HONEST, undefined]]
    const pages: number[] = []
    const reader = bob.history(SENSOR, { from, to, pageSize: 3, onPage: p => pages.push(p.readings) })
    const readings = await collect(reader)
    assert.deepEqual(readings.map(r => r.seq), held.map(h => h.seq))
    assert.deepEqual(readings.slice(0, 4).map(r => [r.value, r.notReadable]), Array(4).fill([undefined, 'GM_ERR_NOT_A_RECIPIENT']))
    assert.deepEqual(readings.slice(4).map(r => r.text), [4, 5, 6, 7, 8, 9].map(i => `reading ${i}`))
    assert.deepEqual(pages, [3, 6, 9, 10])
    assert.deepEqual([reader.stats.pages, reader.stats.readings, reader.stats.notReadable, reader.stats.misbehaved], [4, 10, 4, 0])
    assert.ok(readings.every(r => r.gatewayPeerId.startsWith('12D3KooW') && r.sensor === SENSOR))

    const newest = await collect(alice.history(SENSOR, { from, to, order: 'desc', limit: 5, pageSize: 2 }))
    assert.deepEqual(newest.map(r => r.value === undefined ? undefined : fromUtf8(r.value)), [9, 8, 7, 6, 5].map(i => `reading ${i}`))
  })

  it('reports a replica that altered a reading and reads the page from another [PER-54]', async () => {
    const altered: Tamper = envs => envs.map((env, i) => {
      if (i !== 1) return env
      const copy = Uint8Array.from(env)
      copy[copy.length - 70] = (copy[copy.length - 70] as number) ^ 1
      return copy
    })
    replicas = [[CROOK, altered], [HONEST, undefined]]
    asked.length = 0
    const reports: ReplicaMisbehaviour[] = []
    const reader = alice.history(SENSOR, { from, to, pageSize: 4, onReplicaMisbehaved: r => reports.push(r) })
    const readings = await collect(reader)
    assert.deepEqual(readings.map(r => r.text), held.map((_, i) => `reading ${i}`))
    assert.deepEqual(reports.map(r => [r.replica, r.code]), [[CROOK, 'GM_ERR_HISTORY_TAMPERED']])
    assert.deepEqual([reader.stats.misbehaved, reader.stats.retries, reader.stats.pages], [1, 1, 3])
    // the first page from the nearest, and the second read ahead from it ([PER-53]; dropped unread
    // once the first failed; the third too when the second answered before the first failed
    // verification), the first again from the honest one, then the honest one by name
    const unnamed = asked.filter(peer => peer === undefined).length
    assert.ok(unnamed === 2 || unnamed === 3, `asked without a name ${unnamed} times`)
    assert.deepEqual(asked, [...Array.from({ length: unnamed }, () => undefined), HONEST, HONEST, HONEST])
  })

  it('reports a replica that injected a reading no certified collector sealed [ENV-10]', async () => {
    const rogue = await suite.importSigningKey(suite.randomBytes(32))
    const info = await verifySensorRecord(suite, fx.dht.values.get(`/gm-sensor/${SENSOR}`) as Uint8Array)
    const ts = from + 30_000
    const forged = await new EnvelopeSealer({ suite, signer: rogue }).seal({ sensor: SENSOR, ts, seq: ts * 1000 }, utf8('forged'), sensorRecipients(info))
    const inject: Tamper = envs => {
      const at = envs.findIndex(env => readEnvelopeHeader(env).seq > ts * 1000)
      return at < 0 ? envs : [...envs.slice(0, at), forged, ...envs.slice(at)]
    }
    replicas = [[CROOK, inject], [HONEST, undefined]]
    const reports: ReplicaMisbehaviour[] = []
    const readings = await collect(alice.history(SENSOR, { from, to, onReplicaMisbehaved: r => reports.push(r) }))
    assert.deepEqual(readings.map(r => r.text), held.map((_, i) => `reading ${i}`))
    assert.deepEqual(reports.map(r => [r.replica, r.code]), [[CROOK, 'GM_ERR_CLIENT_READING_UNAUTHENTIC']])
  })

  it('reports a replica that dropped a reading (the checkpoint names it) [PER-12]', async () => {
    replicas = [[CROOK, envs => envs.filter((_, i) => i !== 2)], [HONEST, undefined]]
    const reports: ReplicaMisbehaviour[] = []
    const readings = await collect(alice.history(SENSOR, { from, to, onReplicaMisbehaved: r => reports.push(r) }))
    assert.equal(readings.length, 10)
    assert.deepEqual(reports.map(r => [r.replica, r.code]), [[CROOK, 'GM_ERR_HISTORY_INCOMPLETE']])
  })

  it('asks the replica named by `replica` first, for every page; a misbehaving one is left for another [PER-53] [PER-54]', async () => {
    replicas = [[HONEST, undefined], [SPARE, undefined]]
    asked.length = 0
    const pages: string[] = []
    const readings = await collect(alice.history(SENSOR, { from, to, pageSize: 4, replica: SPARE, onPage: p => pages.push(p.replica) }))
    assert.equal(readings.length, 10)
    assert.deepEqual(asked, [SPARE, SPARE, SPARE])
    assert.deepEqual(pages, [SPARE, SPARE, SPARE])
    // the one named drops a reading: reported, the page read from another, which the next pages keep to
    replicas = [[HONEST, undefined], [CROOK, envs => envs.filter((_, i) => i !== 1)]]
    asked.length = 0
    const reports: ReplicaMisbehaviour[] = []
    const again = await collect(alice.history(SENSOR, { from, to, pageSize: 4, replica: CROOK, onReplicaMisbehaved: r => reports.push(r) }))
    assert.deepEqual(again.map(r => r.text), held.map((_, i) => `reading ${i}`))
    assert.deepEqual(reports.map(r => [r.replica, r.code]), [[CROOK, 'GM_ERR_HISTORY_INCOMPLETE']])
    // the pages read ahead from the one named are dropped unread once its first failed: the
    // second, and the third when the second answered before the first failed verification
    // (READ_AHEAD_PAGES 2); every page is then read from the honest one, once
    const fromCrook = asked.filter(peer => peer === CROOK).length
    assert.ok(fromCrook === 2 || fromCrook === 3, `asked of the crook ${fromCrook} times`)
    assert.deepEqual(asked, [...Array.from({ length: fromCrook }, () => CROOK), HONEST, HONEST, HONEST])
    assert.throws(() => alice.history(SENSOR, { replica: '../x' }), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_HISTORY_BAD_RANGE')
  })

  it('throws the code once every replica failed, having reported each', async () => {
    const reorder: Tamper = envs => envs.length < 2 ? envs : [envs[1] as Uint8Array, envs[0] as Uint8Array, ...envs.slice(2)]
    replicas = [[CROOK, reorder], [SPARE, reorder]]
    const reports: ReplicaMisbehaviour[] = []
    await assert.rejects(collect(alice.history(SENSOR, { from, to, onReplicaMisbehaved: r => reports.push(r) })), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_HISTORY_TAMPERED')
    assert.deepEqual(reports.map(r => r.replica), [CROOK, SPARE])
  })

  it('refuses a user not on the list, and bad ranges before asking', async () => {
    replicas = [[HONEST, undefined]]
    await assert.rejects(collect(carol.history(SENSOR, { from, to })), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_FORBIDDEN' && err.status === 403)
    assert.throws(() => alice.history(SENSOR, { from: to, to: from }), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_HISTORY_BAD_RANGE')
    assert.throws(() => alice.history(SENSOR, { pageSize: 5001 }), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_HISTORY_BAD_RANGE')
    assert.throws(() => alice.history('../x'), (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_MALFORMED')
  })
})

describe('client history reader: a renewed collector ([ENV-10], [PER-20])', () => {
  it('a page carrying both certificates of a collector verifies readings of both periods; with only the newest it does not', async () => {
    let certs: Uint8Array[] = []
    const held: Held[] = []
    const source: HistorySource = async (_sensorId, query) => {
      const envs = held.filter(h => h.seq >= query.fromSeq && h.seq < query.toSeq).map(h => h.env)
      return { replica: HONEST, replicas: [HONEST], envs, cps: [], certs, more: false }
    }
    const fx = await startService(undefined, undefined, { history: source })
    try {
      const ca = await networkCa()
      const client = createClient({ gateway: fx.url, caCertificate: ca.certificate, ...TEST_KDF })
      const alice = await client.resume((await client.signup('alice pw')).bundle, 'alice pw')
      await alice.addSensor(SENSOR)
      // one collector key, certified for an hour, then again (renewed) an hour after that expired
      const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 600_000
      const collector = await certifiedKey(ca, ['collector'], { now: new Date(t0), validityMs: 3_600_000 })
      const renewed = await issueGatewayCertificate(ca, { publicKey: collector.signer.publicKey, peerId: collector.peerId, roles: ['collector'], now: new Date(t0 + 7_200_000), validityMs: 3_600_000 })
      const times = [t0 + 60_000, t0 + 120_000, t0 + 7_260_000, t0 + 7_320_000]
      for (const [i, ts] of times.entries()) {
        const env = await sealFor(fx.dht, collector.signer, { sensor: SENSOR, seq: ts * 1000, ts }, `period ${i < 2 ? 1 : 2} reading ${i}`)
        held.push({ seq: ts * 1000, gw: collector.signer.publicKey, env })
      }
      const range = { from: t0, to: t0 + 3 * 3_600_000 }
      certs = [renewed.der, collector.certificate]
      const readings = await collect(alice.history(SENSOR, range))
      assert.deepEqual(readings.map(r => r.text), ['period 1 reading 0', 'period 1 reading 1', 'period 2 reading 2', 'period 2 reading 3'])
      assert.ok(readings.every(r => r.gatewayPeerId === collector.peerId))
      // what a replica keeping only the newest certificate gave: the first period's readings fail [ENV-10]
      certs = [renewed.der]
      const reports: ReplicaMisbehaviour[] = []
      await assert.rejects(collect(alice.history(SENSOR, { ...range, onReplicaMisbehaved: r => reports.push(r) })),
        (err: unknown) => err instanceof GatemeshError && err.code === 'GM_ERR_CLIENT_READING_UNAUTHENTIC')
      assert.deepEqual(reports.map(r => r.code), ['GM_ERR_CLIENT_READING_UNAUTHENTIC'])
    } finally {
      await fx.service.stop()
    }
  })
})
