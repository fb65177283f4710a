/**
 * The paper's prototype as processes on 127.0.0.1: a CA and 7 gateways (4 "Raspberry Pi"
 * gateways with the collector and access roles, 3 "virtual machines" certified for every role).
 * Every gateway runs the services of this build (collector and access), but g6 the collector only.
 * The CA here is the in-test CA of helpers.ts serving its CRL over HTTP the way `ca serve` does;
 * enrollment through the real CA is covered by enrollment.test.ts.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createAccountBundle, equalBytes } from '../../src/core/index.ts'
import { accountRecord, corrupt, latestRecord, newIdentity, sensorRecord, suite } from './records.ts'
import {
  createTestCa, dialable, eventually, getRecord, nextCrl, putRecord, removeAll, seedGateway, startGateway, startRogue,
  status, tempDir
} from './helpers.ts'
import type { Proc, SeededIdentity, TestCa } from './helpers.ts'
import type { AddressInfo } from 'node:net'
import type { Identity } from '../../src/core/index.ts'

const PI_ROLES = ['collector', 'access'] as const

describe('the certified overlay: a CA and 7 gateways', { timeout: 240_000 }, () => {
  let ca: TestCa
  let crl: Uint8Array
  let caUrl: string
  let closeCa: () => void
  const dirs: string[] = []
  const ids: SeededIdentity[] = []
  const gws: Proc[] = []
  const admin = (i: number): string => gws[i]?.ready.admin as string
  let alive: number[] = [0, 1, 2, 3, 4, 5, 6]
  const stored: Array<{ key: string, value: Uint8Array }> = []
  let alice: Identity

  before(async () => {
    ca = await createTestCa()
    crl = await nextCrl(ca)
    const server = createServer((req, res) => {
      if (req.url === '/v1/crl') {
        res.writeHead(200, { 'content-type': 'application/pkix-crl' })
        res.end(Buffer.from(crl))
      } else {
        res.writeHead(404).end()
      }
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    caUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    closeCa = () => { server.close() }
    for (let i = 0; i < 7; i++) {
      const dir = await tempDir()
      dirs.push(dir)
      ids.push(await seedGateway(dir, ca, { roles: i < 4 ? [...PI_ROLES] : undefined }))
    }
    // only g0 talks to the CA: everyone else learns the CRL through the overlay
    gws.push(await startGateway({ data: dirs[0] as string, ca: caUrl }))
    const boot = dialable(gws[0]!.ready)
    gws.push(...await Promise.all([1, 2, 3, 4, 5, 6].map(async i => await startGateway({ data: dirs[i] as string, bootstrap: [boot], extra: i === 6 ? ['--services', 'collector'] : [] }))))
    await eventually(async () => {
      const tables = await Promise.all(gws.map(async (_, i) => (await status(admin(i))).routingTable.length))
      return tables.every(n => n === 6)
    }, 30_000, 'every routing table to hold the 6 other gateways')
    alice = await newIdentity()
  })

  after(async () => {
    await Promise.all(gws.map(async g => await g.stop()))
    closeCa?.()
    await removeAll(dirs)
  })

  it('a record put at one peer is read at every other', async () => {
    const account = await accountRecord(alice, 1)
    const sensor = await sensorRecord(alice, 'sensor-1', 1)
    const latest = await latestRecord(ids[1]!.privateKey, ids[1]!.certificate, 'sensor-1', 1)
    const puts = [
      { at: 0, key: `/gm-account/${alice.pseudonym}`, value: account },
      { at: 3, key: '/gm-sensor/sensor-1', value: sensor },
      { at: 1, key: '/gm-latest/sensor-1', value: latest }
    ]
    for (const { at, key, value } of puts) {
      const res = await putRecord(admin(at), key, value)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.ok((res.body.accepted as number) >= 1)
      stored.push({ key, value })
      for (let i = 0; i < 7; i++) {
        if (i === at) continue
        const got = await getRecord(admin(i), key)
        assert.equal(got.status, 200, `${key} at g${i}: ${got.code}`)
        assert.ok(equalBytes(got.value as Uint8Array, value), `${key} at g${i} is the record put`)
      }
    }
  })

  it('a burst of 96 puts at once from one gateway all land [OVL-9]', async () => {
    // each put is a FIND_NODE round and a PUT_VALUE to every near peer, a libp2p stream each: 96
    // at once are more DHT streams on a connection than kad-dht takes by default (32 inbound)
    const records = await Promise.all(Array.from({ length: 96 }, async (_, i) => ({ key: `/gm-sensor/burst-${i}`, value: await sensorRecord(alice, `burst-${i}`, 1) })))
    const results = await Promise.all(records.map(async ({ key, value }) => await putRecord(admin(5), key, value)))
    const failed = results.map((r, i) => ({ i, ...r })).filter(r => r.status !== 200)
    assert.deepEqual(failed.map(r => `burst-${r.i}: ${r.status} ${String(r.body.code)}`), [])
    for (const { key, value } of records.slice(0, 8)) {
      const got = await getRecord(admin(2), key)
      assert.equal(got.status, 200, `${key}: ${got.code}`)
      assert.ok(equalBytes(got.value as Uint8Array, value))
    }
  })

  it('finds the peers running a service nearest a key, never one whose service does not run [OVL-31]', async () => {
    const peers = async (role: string): Promise<string[]> => {
      const res = await fetch(new URL(`/v1/peers?role=${role}&key=/gm-sensor/sensor-1&count=10`, admin(0)))
      assert.equal(res.status, 200)
      return ((await res.json()) as { peers: Array<{ peerId: string }> }).peers.map(p => p.peerId)
    }
    // every certificate grants access; g6 does not run it
    assert.deepEqual(new Set(await peers('access')), new Set([0, 1, 2, 3, 4, 5].map(i => ids[i]!.peerId)))
    assert.deepEqual(new Set(await peers('collector')), new Set([0, 1, 2, 3, 4, 5, 6].map(i => ids[i]!.peerId)))
    // g4..g6 are certified for persistence, which no service of this build implements
    assert.deepEqual(await peers('persistence'), [])
    const bad = await fetch(new URL('/v1/peers?role=miner&key=/gm-sensor/x', admin(0)))
    assert.equal(bad.status, 400)
    assert.equal(((await bad.json()) as { code: string }).code, 'GM_ERR_ROLE_UNKNOWN')
  })

  it('refuses forged, stale and wrongly signed records at the peer they are put at', async () => {
    const mallory = await newIdentity()
    const bob = await newIdentity()
    const cases: Array<[string, Uint8Array, string]> = [
      [`/gm-account/${bob.pseudonym}`, await accountRecord(bob, 1, { signer: mallory }), 'GM_ERR_RECORD_SIGNER'],
      [`/gm-account/${bob.pseudonym}`, corrupt(await accountRecord(bob, 1)), 'GM_ERR_BAD_SIGNATURE'],
      [`/gm-account/${mallory.pseudonym}`, await accountRecord(bob, 1, { key: mallory.pseudonym }), 'GM_ERR_PSEUDONYM_MISMATCH'],
      [`/gm-account/${bob.pseudonym}`, await accountRecord(bob, 1, { exp: Date.now() - 1000 }), 'GM_ERR_EXPIRED'],
      ['/gm-sensor/sensor-1', await sensorRecord(mallory, 'sensor-1', 9), 'GM_ERR_RECORD_OWNER_CHANGED'],
      ['/gm-sensor/sensor-2', await sensorRecord(bob, 'sensor-1', 1), 'GM_ERR_RECORD_KEY_MISMATCH'],
      ['/gm-latest/sensor-1', await latestRecord(ids[1]!.privateKey, ids[2]!.certificate, 'sensor-1', 5), 'GM_ERR_RECORD_NOT_COLLECTOR'],
      ['/gm-nope/x', await accountRecord(bob, 1), 'GM_ERR_RECORD_KEY'],
      [`/gm-account/${bob.pseudonym}`, new Uint8Array([0xff, 0x00]), 'GM_ERR_MALFORMED'],
      // Signed by its own key, but below the KDF floor of [ACC-4]: the content rules apply in the DHT too.
      [`/gm-account/${bob.pseudonym}`, await createAccountBundle(suite, bob, 'pw', { iterations: 1000, allowWeakKdf: true }), 'GM_ERR_WEAK_KDF']
    ]
    for (const [key, value, code] of cases) {
      const res = await putRecord(admin(2), key, value)
      assert.equal(res.body.code, code, `${key}: ${JSON.stringify(res.body)}`)
    }
    // stale: a validly signed older record never replaces a newer one
    const v2 = await accountRecord(alice, 2)
    assert.equal((await putRecord(admin(5), `/gm-account/${alice.pseudonym}`, v2)).status, 200)
    stored[0] = { key: `/gm-account/${alice.pseudonym}`, value: v2 }
    const stale = await putRecord(admin(2), `/gm-account/${alice.pseudonym}`, await accountRecord(alice, 1))
    assert.equal(stale.body.code, 'GM_ERR_STALE_RECORD')
    for (let i = 0; i < 7; i++) assert.equal((await getRecord(admin(i), `/gm-account/${bob.pseudonym}`, true)).status, 404)
  })

  it('a certified peer that skips validation cannot plant forged, stale or wrongly signed records on any peer', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    const liarId = await seedGateway(dir, ca)
    const liar = await startRogue({ mode: 'liar', data: dir, cert: join(dir, 'certificate.der'), bootstrap: gws.map(g => dialable(g.ready)) })
    try {
      await eventually(async () => (await status(admin(0))).verifiedPeers.some(p => p.peerId === liarId.peerId), 15_000, 'the liar (validly certified) to be admitted')
      const bob = await newIdentity()
      const mallory = await newIdentity()
      const attacks: Array<[string, Uint8Array]> = [
        [`/gm-account/${alice.pseudonym}`, await accountRecord(alice, 1)], // stale (held: seq 2)
        [`/gm-account/${bob.pseudonym}`, await accountRecord(bob, 1, { signer: mallory })], // forged
        [`/gm-account/${bob.pseudonym}-x`, corrupt(await accountRecord(bob, 1))], // wrongly signed
        ['/gm-sensor/sensor-1', await sensorRecord(mallory, 'sensor-1', 7)] // hijack
      ]
      for (const [key, value] of attacks) {
        const res = await liar.command({ op: 'put', key, value: Buffer.from(value).toString('base64') })
        assert.equal(res.stored, 0, `no peer accepted ${key}: ${JSON.stringify(res)}`)
      }
      for (let i = 0; i < 7; i++) {
        const held = await getRecord(admin(i), `/gm-account/${alice.pseudonym}`, true)
        assert.ok(equalBytes(held.value as Uint8Array, stored[0]!.value), `g${i} still holds seq 2`)
        assert.equal((await getRecord(admin(i), `/gm-account/${bob.pseudonym}`, true)).status, 404)
        const sensor = await getRecord(admin(i), '/gm-sensor/sensor-1', true)
        assert.ok(equalBytes(sensor.value as Uint8Array, stored[1]!.value), `g${i} keeps the owner's sensor`)
      }
    } finally {
      await liar.stop()
    }
  })

  it('a peer with no certificate, a self-signed one, one from another CA, one for another key or an expired one cannot join, store or read', async () => {
    const otherCa = await createTestCa('another CA')
    const variants: Array<{ name: string, mode: 'liar' | 'uncertified', make: (dir: string) => Promise<SeededIdentity> }> = [
      { name: 'no certificate', mode: 'uncertified', make: async d => await seedGateway(d, ca) },
      { name: 'other CA', mode: 'liar', make: async d => await seedGateway(d, otherCa) },
      { name: 'self-signed', mode: 'liar', make: async d => await seedGateway(d, await createTestCa('self')) },
      { name: 'expired', mode: 'liar', make: async d => await seedGateway(d, ca, { now: new Date(Date.now() - 3 * 86400_000), validityMs: 86400_000 }) },
      {
        name: 'another key',
        mode: 'liar',
        make: async d => {
          const seeded = await seedGateway(d, ca)
          const { writeFile } = await import('node:fs/promises')
          await writeFile(join(d, 'certificate.der'), ids[4]!.certificate) // g4's certificate, our key
          return seeded
        }
      }
    ]
    const target = stored[1]!
    const rogues = await Promise.all(variants.map(async v => {
      const dir = await tempDir()
      dirs.push(dir)
      const id = await v.make(dir)
      const proc = await startRogue({ mode: v.mode, data: dir, cert: join(dir, 'certificate.der'), bootstrap: alive.map(i => dialable(gws[i]!.ready)) })
      return { ...v, id, proc }
    }))
    try {
      await Promise.all(rogues.map(async r => {
        const bob = await newIdentity()
        const key = `/gm-account/${bob.pseudonym}`
        const put = await r.proc.command({ op: 'put', key, value: Buffer.from(await accountRecord(bob, 1)).toString('base64') })
        assert.equal(put.stored ?? 0, 0, `${r.name}: no peer stored its record`)
        const got = await r.proc.command({ op: 'get', key: target.key })
        assert.equal(got.ok, false, `${r.name}: cannot read`)
        for (let i = 0; i < 7; i++) assert.equal((await getRecord(admin(i), key, true)).status, 404, `${r.name}: g${i} holds nothing`)
        await eventually(async () => ((await r.proc.command({ op: 'connections' })).peers as string[]).length === 0, 15_000, `${r.name} to be disconnected`)
      }))
      for (let i = 0; i < 7; i++) {
        const s = await status(admin(i))
        for (const r of rogues) {
          assert.ok(!s.routingTable.includes(r.id.peerId), `${r.name} is not in g${i}'s routing table`)
          assert.ok(!s.verifiedPeers.some(p => p.peerId === r.id.peerId), `${r.name} is not verified at g${i}`)
        }
      }
    } finally {
      await Promise.all(rogues.map(async r => await r.proc.stop()))
    }
  })

  it('malformed certificate-exchange and DHT messages neither crash nor hang a gateway', async () => {
    const liarDir = await tempDir()
    const rogueDir = await tempDir()
    dirs.push(liarDir, rogueDir)
    await seedGateway(liarDir, ca)
    await seedGateway(rogueDir, ca)
    const target = dialable(gws[2]!.ready)
    // a certified peer reaches the DHT's message parser; an uncertified one the certificate exchange's
    const liar = await startRogue({ mode: 'liar', data: liarDir, cert: join(liarDir, 'certificate.der'), bootstrap: [target] })
    const rogue = await startRogue({ mode: 'uncertified', data: rogueDir, bootstrap: [] })
    try {
      await eventually(async () => (await status(admin(2))).verifiedPeers.some(p => p.peerId === liar.ready.peerId), 15_000, 'the liar to be admitted')
      const a = await liar.command({ op: 'garbage', addr: target, protocols: ['/gatemesh/kad/1.0.0'] })
      const b = await rogue.command({ op: 'garbage', addr: target, protocols: ['/gatemesh/cert/1.0.0'] })
      assert.ok((a.sent as number) >= 4 && (b.sent as number) >= 1, JSON.stringify([a, b]))
      const got = await getRecord(admin(2), stored[0]!.key)
      assert.equal(got.status, 200, 'g2 still serves records')
      assert.equal(gws[2]!.child.exitCode, null)
      const table = (await status(admin(2))).routingTable
      for (const i of [0, 1, 3, 4, 5, 6]) assert.ok(table.includes(ids[i]!.peerId), `g${i} is still in g2's routing table`)
      assert.ok(!table.includes(rogue.ready.peerId))
    } finally {
      await Promise.all([liar.stop(), rogue.stop()])
    }
  })

  it('a restarted peer still has its records', async () => {
    await gws[3]!.stop()
    // no --bootstrap: it rejoins through the peers it knew when it stopped
    gws[3] = await startGateway({ data: dirs[3] as string })
    await eventually(async () => (await status(admin(3))).routingTable.length >= 5, 20_000, 'the restarted peer to rejoin')
    for (const { key, value } of stored) {
      const held = await getRecord(admin(3), key, true)
      assert.equal(held.status, 200, `${key} survived the restart`)
      assert.ok(equalBytes(held.value as Uint8Array, value))
    }
  })

  it('republishing hands every record to a peer that joined after it was put', async () => {
    const dir = await tempDir()
    dirs.push(dir)
    await seedGateway(dir, ca)
    const late = await startGateway({ data: dir, bootstrap: [dialable(gws[3]!.ready)] })
    try {
      for (const { key } of stored) assert.equal((await getRecord(late.ready.admin as string, key, true)).status, 404)
      await eventually(async () => (await status(admin(3))).routingTable.includes(late.ready.peerId), 15_000, 'the newcomer in g3\'s routing table')
      const res = await fetch(new URL('/v1/republish', admin(3)), { method: 'POST' })
      assert.ok(((await res.json()) as { republished: number }).republished >= stored.length)
      for (const { key, value } of stored) {
        const held = await getRecord(late.ready.admin as string, key, true)
        assert.equal(held.status, 200, `${key} reached the newcomer`)
        assert.ok(equalBytes(held.value as Uint8Array, value))
      }
    } finally {
      await late.stop()
    }
  })

  it('with 2 of the 7 peers killed every record is still readable', async () => {
    await Promise.all([gws[1]!.kill(), gws[4]!.kill()])
    alive = [0, 2, 3, 5, 6]
    for (const i of alive) {
      for (const { key, value } of stored) {
        const got = await getRecord(admin(i), key)
        assert.equal(got.status, 200, `${key} at g${i}: ${got.code}`)
        assert.ok(equalBytes(got.value as Uint8Array, value))
      }
    }
  })

  it('a revoked peer is expelled from every routing table within 60 s', async () => {
    await eventually(async () => (await Promise.all(alive.map(async i => (await status(admin(i))).crl))).every(n => n === 1), 20_000, 'CRL 1 everywhere')
    const victim = 6
    ca.revoked.push({ serial: ids[victim]!.serial, revokedAt: new Date() })
    crl = await nextCrl(ca)
    const t0 = Date.now()
    const others = alive.filter(i => i !== victim)
    await eventually(async () => {
      const all = await Promise.all(others.map(async i => await status(admin(i))))
      return all.every(s => s.crl === 2 && !s.routingTable.includes(ids[victim]!.peerId) && !s.verifiedPeers.some(p => p.peerId === ids[victim]!.peerId))
    }, 60_000, 'the revoked peer to leave every routing table')
    const elapsed = Date.now() - t0
    assert.ok(elapsed < 60_000)
    // it stays out: it cannot come back through a new connection
    const res = await getRecord(admin(victim), stored[0]!.key)
    assert.ok(res.status === 404 || equalBytes(res.value as Uint8Array, stored[0]!.value), 'the victim reads at most its own copy')
    const s = await status(admin(others[0]!))
    assert.ok(!s.routingTable.includes(ids[victim]!.peerId))
  })
})
