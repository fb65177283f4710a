import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EnvelopeOpener, fromUtf8, generateIdentity, isGatemeshError, utf8, verifyEnvelope } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createLogger } from '../../platform/logger.ts'
import { SealPool } from './seal-pool.ts'
import { packBatch, unpackBatch } from './seal-thread.ts'

const suite = createNodeCryptoSuite()
const logger = createLogger('test', { level: 'silent' })
const seed = suite.randomBytes(32)
const signer = await suite.importSigningKey(seed)
const people = [await generateIdentity(suite), await generateIdentity(suite)]
const recipients = Object.freeze(people.map(p => ({ id: p.pseudonym, publicKey: p.encPub })))
const openers = people.map(p => new EnvelopeOpener({ suite, reader: { pseudonym: p.pseudonym, agreementKey: p.agreementKey } }))

describe('seal pool', () => {
  const pools: SealPool[] = []
  after(async () => { await Promise.all(pools.map(async p => await p.close())) })

  it('seals in its threads, signed with the gateway key, readable by every recipient', async () => {
    const pool = new SealPool({ seed: seed.slice(), workers: 2, logger })
    pools.push(pool)
    await pool.start()
    // a view into a larger buffer, as Node's pooled Buffers are: only its bytes may be sealed
    const backing = utf8('xxxx{"n":0}yyyy')
    const envelopes = await Promise.all(Array.from({ length: 200 }, async (_, i) =>
      await pool.seal({ sensor: 's', ts: 1_800_000_000_000, seq: i }, i === 0 ? backing.subarray(4, 11) : utf8(`{"n":${i}}`), recipients)))
    const batches = new Set<string>()
    for (const [i, envelope] of envelopes.entries()) {
      const verified = await verifyEnvelope(suite, envelope)
      assert.deepEqual(verified.gw, signer.publicKey)
      if (verified.batch !== undefined) batches.add(`${verified.batch.size}:${Buffer.from(verified.sig).toString('hex')}`)
      for (const opener of openers) assert.equal(fromUtf8((await opener.open(envelope)).plaintext), `{"n":${i}}`)
    }
    // [ENV-9] posted in one turn, the readings go in full messages of 32, each signed once
    assert.ok([...batches].some(b => b.startsWith('32:')), `batches signed: ${[...batches].map(b => b.split(':')[0]).join(', ')}`)
  })

  it('packs readings for a thread and unpacks exactly them', () => {
    const backing = utf8('xx{"a":1}yy')
    const items = [
      { header: { sensor: 'ü-ß', ts: 1_800_000_000_000, seq: 2 ** 53 - 1 }, plaintext: backing.subarray(2, 9) },
      { header: { sensor: 's', ts: 1.5, seq: -1 }, plaintext: new Uint8Array(0) },
      { header: { sensor: '', ts: Number.NaN, seq: 0 }, plaintext: utf8('x'.repeat(70_000)) }
    ]
    const packed = packBatch(items)
    assert.deepEqual(unpackBatch(packed, 3).map(u => [u.header, fromUtf8(u.plaintext)]), items.map(item => [item.header, fromUtf8(item.plaintext)]))
    assert.throws(() => unpackBatch(packed, 2), err => isGatemeshError(err, 'GM_ERR_COLLECTOR_INTERNAL'), 'not as many readings as the message says')
  })

  it('sends each access list to a thread once, and keeps a bounded number there', async () => {
    const pool = new SealPool({ seed: seed.slice(), workers: 1, logger })
    pools.push(pool)
    await pool.start()
    // one list used again and again goes to the thread once
    const same = Object.freeze([...recipients])
    for (let i = 0; i < 3; i++) await pool.seal({ sensor: 's', ts: 1, seq: i }, utf8('1'), same)
    assert.equal(pool.stats().listsSent, 1)
    // 4 200 lists (a new array each, as a new sensor record makes): past 4 096 the thread forgets them all
    const envelopes = await Promise.all(Array.from({ length: 4200 }, async (_, i) => await pool.seal({ sensor: 's', ts: 1, seq: i }, utf8(String(i)), Object.freeze([...recipients]))))
    const { listsHeld, listsSent } = pool.stats()
    assert.equal(listsSent, 4201)
    assert.ok((listsHeld[0] ?? 0) < 4096 + 32, `lists held: ${listsHeld[0]}`)
    assert.ok((listsHeld[0] ?? 0) < 4200, 'some were forgotten')
    for (const i of [0, 4095, 4096, 4199]) assert.equal(fromUtf8((await openers[1]!.open(envelopes[i] as Uint8Array)).plaintext), String(i))
    // after the reset, a list the thread forgot is sent again when used again
    await pool.seal({ sensor: 's', ts: 1, seq: 9 }, utf8('1'), same)
    assert.equal(pool.stats().listsSent, 4202)
  })

  it('adds a thread while sealing is behind, up to maxWorkers, and stops it once idle', async () => {
    // behindForMs well above the burst's sealing time below, which unit test files run side by
    // side on two cores can make several times longer
    const pool = new SealPool({ seed: seed.slice(), workers: 1, maxWorkers: 2, idleRetireMs: 300, behindForMs: 400, logger })
    pools.push(pool)
    await pool.start()
    // one message of a few readings at a time keeps up: one thread
    for (let i = 0; i < 5; i++) await pool.seal({ sensor: 's', ts: 1, seq: i }, utf8(String(i)), recipients)
    assert.equal(pool.stats().threads, 1)
    // a burst that one thread clears within behindForMs (800 readings at once, ~60 ms of
    // sealing) adds none, though its backlog passes 8 full messages
    await Promise.all(Array.from({ length: 800 }, async (_, i) => await pool.seal({ sensor: 's', ts: 1, seq: i }, utf8(String(i)), recipients)))
    // (a thread takes a few hundred ms to start)
    const startedBy = performance.now() + 1500
    while (pool.stats().threads < 2 && performance.now() < startedBy) await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(pool.stats().threads, 1, 'a burst added a thread')
    // a backlog kept above 2 000 readings (60 full messages), however fast the machine seals
    // them: sealing stays behind, and a second thread starts (a thread takes a few hundred ms to
    // start). A fixed offered rate instead let the backlog dip below 8 messages whenever the test
    // process lost its core, which restarted the behindForMs clock.
    const sealed: Array<Promise<Uint8Array>> = []
    let settled = 0
    const until = performance.now() + 10_000
    while (pool.stats().threads < 2 && performance.now() < until) {
      while (sealed.length - settled < 2000) {
        const envelope = pool.seal({ sensor: 's', ts: 1, seq: sealed.length }, utf8(String(sealed.length)), recipients)
        envelope.then(() => { settled++ }, () => { settled++ })
        sealed.push(envelope)
      }
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    assert.equal(pool.stats().threads, 2, 'a second thread started')
    // readings posted while both run are sealed too
    const next = Array.from({ length: 200 }, async (_, i) => await pool.seal({ sensor: 's', ts: 1, seq: i }, utf8(`next ${i}`), recipients))
    const envelopes = await Promise.all(sealed)
    for (const i of [0, envelopes.length - 1]) assert.equal(fromUtf8((await openers[0]!.open(envelopes[i] as Uint8Array)).plaintext), String(i))
    for (const [i, envelope] of (await Promise.all(next)).entries()) assert.equal(fromUtf8((await openers[0]!.open(envelope)).plaintext), `next ${i}`)
    // idle, the pool is back to one thread, which still seals
    const idleUntil = performance.now() + 5000
    while (pool.stats().threads > 1 && performance.now() < idleUntil) await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(pool.stats().threads, 1)
    assert.equal(fromUtf8((await openers[1]!.open(await pool.seal({ sensor: 's', ts: 1, seq: 9 }, utf8('9'), recipients))).plaintext), '9')
  })

  it('returns a sealing error with its code', async () => {
    const pool = new SealPool({ seed: seed.slice(), workers: 1, logger })
    pools.push(pool)
    await pool.start()
    // a list it would know again by identity must not change: only frozen lists
    await assert.rejects(pool.seal({ sensor: 's', ts: 1, seq: 1 }, utf8('1'), [...recipients]), err => isGatemeshError(err, 'GM_ERR_COLLECTOR_INTERNAL'))
    await assert.rejects(pool.seal({ sensor: 's', ts: 1, seq: 1 }, utf8('1'), Object.freeze([])), err => isGatemeshError(err, 'GM_ERR_NO_RECIPIENTS'))
    await assert.rejects(pool.seal({ sensor: 'bad id', ts: 1, seq: 1 }, utf8('1'), recipients), err => isGatemeshError(err, 'GM_ERR_MALFORMED'))
  })

  it('fails what a dying thread held, and goes on with a new thread', async () => {
    const started: Array<{ terminate: () => Promise<number> }> = []
    const pool = new SealPool({ seed: seed.slice(), workers: 1, logger, onThreadStarted: thread => { started.push(thread) } })
    pools.push(pool)
    await pool.start()
    assert.equal(started.length, 1)
    // 20 full batches are posted at once (a full batch is posted without waiting for the next
    // turn), and the thread is told to stop in the same turn: it cannot seal 640 readings
    // (~35 ms of work) before it stops, so some are held when it dies
    const inFlight = Array.from({ length: 640 }, async (_, i) => await pool.seal({ sensor: 's', ts: 1, seq: i }, utf8(String(i)), recipients))
    await started[0]?.terminate()
    const outcomes = await Promise.allSettled(inFlight)
    const failed = outcomes.filter(o => o.status === 'rejected')
    assert.ok(failed.length > 0, 'the dying thread held readings')
    for (const o of failed) assert.ok(isGatemeshError(o.reason, 'GM_ERR_COLLECTOR_INTERNAL'), String(o.reason))
    for (const [i, o] of outcomes.entries()) {
      if (o.status === 'fulfilled') assert.equal(fromUtf8((await openers[0]!.open(o.value)).plaintext), String(i))
    }
    // while the new thread starts, readings wait for it
    assert.equal(pool.stats().threads, 0)
    const envelope = await pool.seal({ sensor: 's', ts: 1, seq: 2 }, utf8('2'), recipients)
    assert.equal(fromUtf8((await openers[0]!.open(envelope)).plaintext), '2')
    assert.equal(pool.stats().threads, 1)
    assert.equal(started.length, 2, 'a new thread replaced it')
  })

  it('refuses to seal once closed', async () => {
    const pool = new SealPool({ seed: seed.slice(), workers: 1, logger })
    await pool.start()
    await pool.close()
    await assert.rejects(pool.seal({ sensor: 's', ts: 1, seq: 1 }, utf8('1'), recipients), err => isGatemeshError(err, 'GM_ERR_COLLECTOR_STOPPED'))
  })

  it('lets a process whose last work is close() get its answers (the threads are unref\'d)', () => {
    // nothing but the pool keeps this child's event loop alive while close() waits for the
    // reading in flight; if the wait does not hold the loop, Node exits with 13
    const script = `
      import { SealPool } from ${JSON.stringify(new URL('./seal-pool.ts', import.meta.url).href)}
      import { createLogger } from ${JSON.stringify(new URL('../../platform/logger.ts', import.meta.url).href)}
      const pool = new SealPool({ seed: new Uint8Array(32).fill(1), workers: 1, logger: createLogger('child', { level: 'silent' }) })
      await pool.start()
      const recipient = { id: ${JSON.stringify(recipients[0]?.id)}, publicKey: new Uint8Array(${JSON.stringify([...(recipients[0]?.publicKey ?? [])])}) }
      pool.seal({ sensor: 's', ts: 1, seq: 1 }, new Uint8Array(3), Object.freeze([recipient])).then(e => { process.stdout.write('sealed ' + e.length + ';') }, e => { process.stdout.write('failed ' + e.code + ';') })
      await pool.close()
      process.stdout.write('closed')
    `
    // a file, not --eval: the sealing thread would inherit --input-type and fail to start
    const dir = mkdtempSync(join(tmpdir(), 'gm-seal-pool-'))
    try {
      writeFileSync(join(dir, 'child.mjs'), script)
      const child = spawnSync(process.execPath, [join(dir, 'child.mjs')], { encoding: 'utf8', timeout: 20_000 })
      assert.equal(child.status, 0, child.stderr)
      assert.match(child.stdout, /^sealed \d+;closed$/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
