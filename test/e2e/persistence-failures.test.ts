// Persistence under failures, end to end with real processes: a CA, a collector, an access
// gateway and three (then four) persistence peers from `gatemesh gateway start`, readings sent
// over HTTP to the collector, history read through the client library from the access gateway
// (every page verified [PER-12] and every reading decrypted).
//  (a) kill -9 one of three replicas while readings flow: no acknowledged reading is missing;
//      restarted, it catches up: asked by name it serves every reading, its pages verify, and it
//      holds the checkpoints signed while it was down (also those of a bucket whose readings it
//      held already: only a checkpoint-aware repair gives it those) [PER-30]..[PER-33];
//  (b) kill -9 two of three: the collector keeps acknowledging, its outbox holds the backlog
//      (admin status), and after the restarts every acknowledged reading is in history [PER-4];
//  (c) a fourth persistence peer joins: the sensors it is now among the 3 closest of are copied
//      to it, and its pages verify;
//  (d) a replica whose files were altered (one reading deleted, a byte of another flipped) is
//      caught by the client, reported, and the right readings come from another replica [PER-54].
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { after, before, describe, it } from 'node:test'
import { peerIdFromString } from '@libp2p/peer-id'
import { fromBase64Url, openCheckpoint, signRequest, webCryptoSuite, MIN_KDF_ITERATIONS } from '../../src/core/index.ts'
import { createClient } from '../../src/client/index.ts'
import { startNetwork } from '../../src/demo/network.ts'
import { NAMESPACES, recordKey } from '../../src/overlay/index.ts'
import { kadId } from '../../src/overlay/roles.ts'
import type { ReplicaMisbehaviour, Session } from '../../src/client/index.ts'
import type { GatewaySpec, Network, RunningGateway } from '../../src/demo/network.ts'
import { eventuallyValue } from '../support/eventually.ts'

const suite = webCryptoSuite
const MAIN = 'pf-main'
/** Readings sent before the first kill and none after: its checkpoint is signed while the replica is down. */
const QUIET = 'pf-quiet'
const JOINERS = ['pf-c1', 'pf-c2', 'pf-c3', 'pf-c4', 'pf-c5', 'pf-c6']
const REPAIR = ['--repair-interval', '1500']

const eventually = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => await eventuallyValue(what, check, timeoutMs, 250)

/** The 3 persistence peers nearest a sensor's record key (XOR of SHA-256 ids, [PER-3] [OVL-31]). */
async function closest (sensor: string, peerIds: string[]): Promise<string[]> {
  const target = await kadId(new TextEncoder().encode(recordKey(NAMESPACES.sensor, sensor)))
  const withIds = await Promise.all(peerIds.map(async p => ({ p, id: await kadId(peerIdFromString(p).toMultihash().bytes) })))
  const dist = (id: Uint8Array): bigint => BigInt('0x' + Buffer.from(id.map((b, i) => b ^ (target[i] as number))).toString('hex'))
  withIds.sort((x, y) => (dist(x.id) < dist(y.id) ? -1 : 1))
  return withIds.slice(0, 3).map(x => x.p)
}

interface Read { seqs: number[], values: Map<number, unknown>, reports: ReplicaMisbehaviour[], replicas: Set<string>, openEnds: number }

describe('end to end: persistence under failures', { timeout: 280_000 }, () => {
  let dir: string
  let net: Network
  const spec: Record<string, GatewaySpec> = {
    p1: { name: 'p1', services: ['persistence'], args: REPAIR },
    p2: { name: 'p2', services: ['persistence'], args: REPAIR },
    p3: { name: 'p3', services: ['persistence'], args: REPAIR },
    col: { name: 'col', services: ['collector'] },
    acc: { name: 'acc', services: ['access'] },
    p4: { name: 'p4', services: ['persistence'], args: REPAIR }
  }
  const gw = (name: string): RunningGateway => net.gateways.find(g => g.name === name) as RunningGateway
  const peerOf = (name: string): string => gw(name).ready.peerId
  /** A persistence peer started again on the address it listened on (as an operator restarts one): the others' dials find it at once. */
  const again = async (name: string, args: string[] = REPAIR): Promise<RunningGateway> => {
    const listen = (gw(name).ready.addrs.find(a => a.startsWith('/ip4/127.0.0.1/tcp/')) as string).replace(/\/p2p\/.*$/, '')
    return await net.start({ ...spec[name] as GatewaySpec, args: [...args, '--listen', listen] })
  }
  let alice: Session
  const credentials = new Map<string, string>()
  /** Acknowledged readings: sensor → seq → the n sent. */
  const acked = new Map<string, Map<number, number>>()
  let t0 = 0
  let n = 0

  /** One reading over HTTP to the collector; its seq once acknowledged (202), else undefined. */
  const send = async (sensor: string): Promise<number | undefined> => {
    const value = ++n
    try {
      const res = await fetch(`${gw('col').ready.collector?.http}/v1/sensors/${sensor}/readings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${credentials.get(sensor)}` },
        body: JSON.stringify({ n: value, sensor }),
        signal: AbortSignal.timeout(5000)
      })
      const body = await res.json() as { seq?: number }
      if (res.status !== 202 || typeof body.seq !== 'number') return undefined
      let list = acked.get(sensor)
      if (list === undefined) { list = new Map(); acked.set(sensor, list) }
      list.set(body.seq, value)
      return body.seq
    } catch {
      return undefined
    }
  }
  const ackedSeqs = (sensor: string): number[] => [...(acked.get(sensor) ?? new Map<number, number>()).keys()].sort((a, b) => a - b)

  /** A steady stream of readings of MAIN, one after the other (each waits for its acknowledgement). */
  const flows = new Set<() => Promise<void>>()
  const stream = (): { stop: () => Promise<void>, count: () => number } => {
    let on = true
    let count = 0
    const loop = (async () => {
      while (on) {
        if (await send(MAIN) !== undefined) count++
        await new Promise(resolve => setTimeout(resolve, 40))
      }
    })()
    const stop = async (): Promise<void> => { on = false; flows.delete(stop); await loop }
    flows.add(stop)
    return { stop, count: () => count }
  }
  const acks = async (s: { count: () => number }, atLeast: number, what: string): Promise<void> => {
    await eventually(what, async () => s.count() >= atLeast ? true : undefined, 60_000)
  }

  /** History of a sensor through the client from the access gateway, every page verified and every reading opened. */
  const read = async (sensor: string, options: { replica?: string, from?: number, to?: number } = {}): Promise<Read> => {
    const reports: ReplicaMisbehaviour[] = []
    const replicas = new Set<string>()
    const reader = alice.history(sensor, { from: options.from ?? t0, to: options.to ?? Date.now() + 120_000, ...(options.replica === undefined ? {} : { replica: options.replica }), pageSize: 50, onReplicaMisbehaved: r => reports.push(r), onPage: p => replicas.add(p.replica) })
    const seqs: number[] = []
    const values = new Map<number, unknown>()
    for await (const r of reader) {
      seqs.push(r.seq)
      values.set(r.seq, r.json)
    }
    return { seqs, values, reports, replicas, openEnds: reader.stats.openEnds.size }
  }
  /** Every acknowledged reading of the sensor is there, with the value sent. */
  const holdsAll = (sensor: string, got: Read): boolean => {
    const have = new Set(got.seqs)
    for (const [seq, value] of acked.get(sensor) ?? []) {
      if (!have.has(seq)) return false
      assert.deepEqual(got.values.get(seq), { n: value, sensor }, `the reading ${seq} decrypts to what was sent`)
    }
    return true
  }
  /** A replica that serves every acknowledged reading itself, its pages verified ([PER-12]). */
  const servesAll = async (sensor: string, name: string): Promise<Read | undefined> => {
    const got = await read(sensor, { replica: peerOf(name) })
    if (got.reports.length > 0 || !holdsAll(sensor, got)) return undefined
    assert.deepEqual([...got.replicas], [peerOf(name)], 'every page from the replica asked')
    return got
  }
  /** The checkpoints a replica gives with one page of the whole range, as the history route answers ([PER-52]). */
  const rawCheckpoints = async (sensor: string, name: string): Promise<string[]> => {
    const path = `/v1/sensors/${sensor}/history?from=${t0}&to=${Date.now() + 120_000}&limit=5000&replica=${peerOf(name)}`
    const headers = await signRequest(suite, { keyId: alice.pseudonym, key: alice.identity.signingKey }, { method: 'GET', url: path })
    const res = await fetch(`${gw('acc').ready.access}${path}`, { headers: { ...headers } })
    const body = await res.json() as { checkpoints?: string[], next?: string, code?: string }
    assert.equal(res.status, 200, JSON.stringify(body))
    assert.equal(body.next, undefined, 'one page holds the range')
    return [...(body.checkpoints ?? [])].sort()
  }
  const outbox = async (): Promise<{ readings: number, items: number }> => {
    const status = await (await fetch(`${gw('col').ready.admin}/v1/status`)).json() as { serviceStatus: { collector: { persistence: { outbox: { readings: number, items: number } } } } }
    return status.serviceStatus.collector.persistence.outbox
  }
  const drained = async (what: string): Promise<void> => {
    await eventually(what, async () => (await outbox()).items === 0 ? true : undefined, 60_000)
  }


  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-e2e-pf-'))
    net = await startNetwork({
      dir,
      gateways: [spec.p1, spec.p2, spec.p3, spec.col, spec.acc] as GatewaySpec[],
      gatewayArgs: ['--admin-port', '0', '--crl-interval', '2000', '--exchange-timeout', '3000']
    })
    const client = createClient({ gateway: gw('acc').ready.access as string, kdfIterations: MIN_KDF_ITERATIONS })
    const { bundle } = await client.signup('alice failures password')
    alice = await client.resume(bundle, 'alice failures password')
    for (const sensor of [MAIN, QUIET, ...JOINERS]) credentials.set(sensor, (await alice.addSensor(sensor)).credential)
    t0 = Date.now() - 1000
    // the collector knows the sensors (its directory reads the records from the DHT)
    await eventually('the collector accepting readings', async () => await send(MAIN))
  })

  after(async () => {
    // a test that failed mid-stream leaves its stream running
    for (const stop of [...flows]) await stop()
    await net?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('(a) kill -9 one of three replicas while readings flow: nothing acknowledged is lost; restarted, it catches up, checkpoints included', async () => {
    const flow = stream()
    await acks(flow, 8, 'readings acknowledged before the kill')
    // readings of QUIET, held by every replica before the kill, none after: their checkpoint is
    // signed while p3 is down, in a bucket whose readings p3 holds
    for (let i = 0; i < 3; i++) assert.notEqual(await send(QUIET), undefined)
    await eventually('p3 holding the readings of QUIET', async () => await servesAll(QUIET, 'p3'))
    const beforeKill = ackedSeqs(MAIN).length
    await gw('p3').kill()
    const atKill = flow.count()
    await acks(flow, atKill + 8, 'readings acknowledged while p3 is down')
    // the collector stops (SIGTERM signs every bucket, [PER-11]) and starts again, p3 still down
    assert.equal(await gw('col').stop(), 0)
    await net.start(spec.col as GatewaySpec)
    const afterRestart = flow.count()
    await acks(flow, afterRestart + 5, 'readings acknowledged by the restarted collector')
    await flow.stop()
    const missed = ackedSeqs(MAIN).slice(beforeKill)
    assert.ok(missed.length >= 13, `${missed.length} readings acknowledged while p3 was down`)

    // no acknowledged reading is missing, read from the replicas that stayed up
    const got = await eventually('every acknowledged reading in history', async () => { const r = await read(MAIN); return holdsAll(MAIN, r) ? r : undefined })
    assert.deepEqual(got.seqs, [...got.seqs].sort((a, b) => a - b), 'in order')
    assert.equal(got.seqs.length, ackedSeqs(MAIN).length, 'each reading once')
    // the collector lets go of what W = 2 replicas confirmed: p3 gets it only by repair
    await drained('the collector\'s outbox draining to p1 and p2')

    await again('p3')
    const caughtUp = await eventually('p3 serving every acknowledged reading, its pages verified', async () => await servesAll(MAIN, 'p3'), 60_000)
    for (const seq of missed) assert.ok(caughtUp.seqs.includes(seq), `p3 holds ${seq}, missed while it was down`)
    // its checkpoints are the others': those signed while it was down too
    const p3Checkpoints = await eventually('p3 holding the checkpoints signed while it was down', async () => {
      const [mine, theirs] = await Promise.all([rawCheckpoints(MAIN, 'p3'), rawCheckpoints(MAIN, 'p1')])
      return mine.length > 0 && JSON.stringify(mine) === JSON.stringify(theirs) ? mine : undefined
    })
    const named = new Set<number>()
    for (const cp of p3Checkpoints) for (const seq of (await openCheckpoint(suite, fromBase64Url(cp))).seqs) named.add(seq)
    assert.ok(missed.some(seq => named.has(seq)), 'a checkpoint signed while p3 was down (it names readings p3 missed)')
    // QUIET: p3 held every reading; only the checkpoint was missed
    await eventually('p3 holding the checkpoint of QUIET signed while it was down', async () => {
      const [mine, theirs] = await Promise.all([rawCheckpoints(QUIET, 'p3'), rawCheckpoints(QUIET, 'p1')])
      return theirs.length > 0 && JSON.stringify(mine) === JSON.stringify(theirs) ? true : undefined
    })
    assert.ok(await servesAll(QUIET, 'p3') !== undefined)
  })

  it('(b) kill -9 two of three: the collector keeps acknowledging, its outbox holds the backlog, and after the restarts every acknowledged reading is in history', async () => {
    const flow = stream()
    await acks(flow, 3, 'readings flowing')
    await Promise.all([gw('p2').kill(), gw('p3').kill()])
    const atKill = flow.count()
    await acks(flow, atKill + 10, 'readings acknowledged with one replica of three')
    // [PER-5] the admin status shows the backlog: W = 2 cannot be reached
    const backlog = await eventually('the outbox holding the backlog', async () => { const o = await outbox(); return o.readings >= 5 ? o : undefined })
    assert.ok(backlog.readings >= 5, JSON.stringify(backlog))
    await Promise.all([again('p2'), again('p3')])
    await acks(flow, flow.count() + 3, 'readings flowing after the restarts')
    await flow.stop()
    await drained('the outbox draining after the restarts')
    const got = await eventually('every acknowledged reading in history', async () => {
      const r = await read(MAIN)
      return r.reports.length === 0 && holdsAll(MAIN, r) ? r : undefined
    }, 60_000)
    assert.equal(got.seqs.length, ackedSeqs(MAIN).length, 'each reading once')
  })

  it('(c) a fourth persistence peer joins: the sensors it is now among the 3 closest of are copied to it, and its pages verify', async () => {
    for (const sensor of JOINERS) for (let i = 0; i < 3; i++) assert.notEqual(await send(sensor), undefined)
    await drained('the joiners\' readings confirmed by the replicas')
    const p4 = await net.start(spec.p4 as GatewaySpec)
    const peers = ['p1', 'p2', 'p3', 'p4'].map(peerOf)
    const mine: string[] = []
    for (const sensor of JOINERS) if ((await closest(sensor, peers)).includes(p4.ready.peerId)) mine.push(sensor)
    assert.ok(mine.length > 0, 'p4 is among the 3 closest of some sensor (6 sensors, 4 peers)')
    for (const sensor of mine) {
      const other = (await closest(sensor, peers)).find(p => p !== p4.ready.peerId) as string
      const otherName = ['p1', 'p2', 'p3'].find(name => peerOf(name) === other) as string
      await eventually(`p4 serving ${sensor} with the checkpoints of another replica`, async () => {
        if (await servesAll(sensor, 'p4') === undefined) return undefined
        const [its, theirs] = await Promise.all([rawCheckpoints(sensor, 'p4'), rawCheckpoints(sensor, otherName)])
        return JSON.stringify(its) === JSON.stringify(theirs) ? true : undefined
      }, 60_000)
    }
  })

  it('(d) a replica altered on disk to drop one reading and change another is caught; the right readings come from another replica', async () => {
    const peers = ['p1', 'p2', 'p3', 'p4'].map(peerOf)
    const set = await closest(MAIN, peers)
    const victim = ['p1', 'p2', 'p3', 'p4'].find(name => peerOf(name) === set[0]) as string
    await eventually(`${victim} serving every reading before it is altered`, async () => await servesAll(MAIN, victim), 60_000)
    const seqs = ackedSeqs(MAIN)
    // a reading a checkpoint names (acknowledged before the collector's restart in (a)), and a recent one
    const dropped = seqs[2] as number
    const changed = seqs[seqs.length - 2] as number
    assert.equal(await gw(victim).stop(), 0)
    const db = new DatabaseSync(join(gw(victim).dir, 'persistence.db'))
    try {
      assert.equal(Number(db.prepare('DELETE FROM readings WHERE sensor = ? AND seq = ?').run(MAIN, dropped).changes), 1)
      const row = db.prepare('SELECT envelope FROM readings WHERE sensor = ? AND seq = ?').get(MAIN, changed) as { envelope: Uint8Array }
      const envelope = Uint8Array.from(row.envelope)
      envelope[envelope.length - 70] = (envelope[envelope.length - 70] as number) ^ 1
      assert.equal(Number(db.prepare('UPDATE readings SET envelope = ? WHERE sensor = ? AND seq = ?').run(envelope, MAIN, changed).changes), 1)
      // the other replicas' repair would push the dropped reading back within seconds: the
      // altered replica is kept from storing anything by its storage limit ([PER-42]), 2 MiB of
      // padding against a 1 MiB limit, and its own rounds are an hour apart
      db.exec('CREATE TABLE padding (b BLOB); INSERT INTO padding VALUES (zeroblob(2097152))')
    } finally {
      db.close()
    }
    await again(victim, ['--repair-interval', '3600000', '--persistence-max-bytes', '1048576'])

    const whole = await eventually('the whole range read with the altered replica asked first', async () => {
      const r = await read(MAIN, { replica: peerOf(victim) })
      return r.reports.length > 0 ? r : undefined
    })
    // the first page holds the dropped reading ([PER-12] rule 4), or the changed one (rule 1)
    assert.equal(whole.reports.length, 1, JSON.stringify(whole.reports))
    assert.equal(whole.reports[0]?.replica, peerOf(victim))
    assert.ok(['GM_ERR_HISTORY_INCOMPLETE', 'GM_ERR_HISTORY_TAMPERED'].includes(whole.reports[0]?.code as string))
    assert.equal(whole.replicas.has(peerOf(victim)), false, 'no page of the altered replica was taken')
    assert.ok(holdsAll(MAIN, whole), 'every reading, with its value, from another replica')
    assert.equal(whole.seqs.length, seqs.length)

    // each alone: the dropped reading's checkpoint names it and the replica gives none (rule 4);
    // the changed one does not verify (rule 1)
    for (const [seq, code] of [[dropped, 'GM_ERR_HISTORY_INCOMPLETE'], [changed, 'GM_ERR_HISTORY_TAMPERED']] as const) {
      const from = Math.floor(seq / 1000)
      const one = await read(MAIN, { replica: peerOf(victim), from, to: from + 1 })
      assert.deepEqual(one.reports.map(r => [r.replica, r.code]), [[peerOf(victim), code]])
      assert.deepEqual(one.seqs, [seq])
      assert.deepEqual(one.values.get(seq), { n: acked.get(MAIN)?.get(seq), sensor: MAIN })
      assert.equal(one.replicas.has(peerOf(victim)), false)
    }
    // still altered: nothing healed it before the reads
    assert.ok((await rawCheckpoints(MAIN, victim)).length > 0)
  })
})
