import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { setImmediate as turn } from 'node:timers/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSensorCredential, createSensorRecord, generateIdentity, utf8, verifySensorRecord } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createLogger } from '../../platform/logger.ts'
import { Ingest } from './ingest.ts'
import { Journal, type JournalHandle } from './journal.ts'
import { RateLimiter } from './rate-limit.ts'
import { Sequencer } from './sequencer.ts'
import { Delivery, type ReadingSink, type SealedReading } from '../pipeline/index.ts'
import type { ReadingSealer } from './seal-pool.ts'

const suite = createNodeCryptoSuite()
const logger = createLogger('test', { level: 'silent' })

function deliveryTo (journal: Journal, ...sinks: ReadingSink[]): Delivery<JournalHandle> {
  return new Delivery<JournalHandle>({ sinks, release: handle => { journal.release(handle) }, logger })
}

describe('ingest flow control', () => {
  it('refuses a reading the journal cannot take, one or several, and counts none of them as pending', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-ingest-'))
    const journal = new Journal({ path: join(dir, 'j.db'), secret: suite.randomBytes(32) })
    try {
      journal.open()
      await journal.close() // appends are refused from here on
      const owner = await generateIdentity(suite)
      const { verifier } = await createSensorCredential(suite)
      const info = await verifySensorRecord(suite, await createSensorRecord(suite, owner, { sensorId: 's', verifier, seq: 1 }))
      let sealed = 0
      const ingest = new Ingest({
        suite, journal,
        sealer: { seal: async () => { sealed++; return new Uint8Array([1]) }, retainOnly: () => {} },
        sensors: { get: async () => info },
        delivery: deliveryTo(journal),
        limiter: new RateLimiter({ perSecond: 1e6, burst: 1e6 }),
        sequencer: new Sequencer(),
        logger: createLogger('test', { level: 'silent' })
      }, { maxPending: 2, maxUnsealed: 2, now: Date.now })
      // with a pending count left behind by a failure, a later call would be GM_ERR_BUSY instead
      for (const readings of [[utf8('1')], [utf8('2'), utf8('3')], [utf8('4'), utf8('5')], [utf8('6')]]) {
        await assert.rejects(ingest.accept(info, readings), { code: 'GM_ERR_COLLECTOR_STOPPED' })
      }
      assert.equal(sealed, 0, 'nothing that was not journaled is sealed')
      await ingest.drain()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('holds acknowledgements while more readings than maxUnsealed await sealing, and releases them as sealing catches up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-ingest-'))
    const journal = new Journal({ path: join(dir, 'j.db'), secret: suite.randomBytes(32) })
    try {
      journal.open()
      // a sealer that seals only when the test says so
      const waiting: Array<() => void> = []
      const events = new EventEmitter()
      const sealer: ReadingSealer = {
        seal: async () => await new Promise<Uint8Array>(resolve => { waiting.push(() => { resolve(new Uint8Array([1])) }); events.emit('seal') }),
        retainOnly: () => {}
      }
      const handed: SealedReading[] = []
      const sink: ReadingSink = { name: 'record', deliver: async readings => { handed.push(...readings); events.emit('delivered') } }
      const owner = await generateIdentity(suite)
      const { verifier } = await createSensorCredential(suite)
      const info = await verifySensorRecord(suite, await createSensorRecord(suite, owner, { sensorId: 's', verifier, seq: 1 }))
      const ingest = new Ingest({
        suite, sealer, journal,
        sensors: { get: async () => info },
        delivery: deliveryTo(journal, sink),
        limiter: new RateLimiter({ perSecond: 1e6, burst: 1e6 }),
        sequencer: new Sequencer(),
        logger: createLogger('test', { level: 'silent' })
      }, { maxPending: 100, maxUnsealed: 2, now: Date.now })
      const acked: number[] = []
      const accept = async (n: number): Promise<void> => { await ingest.accept(info, [utf8(String(n))]); acked.push(n) }
      await Promise.all([accept(1), accept(2)])
      assert.deepEqual(acked.sort(), [1, 2], 'within the limit: acknowledged once journaled, before sealing')
      assert.equal(waiting.length, 2)
      const third = accept(3)
      // the third reading is journaled and sent to the sealer; its acknowledgement then waits
      await once(events, 'seal')
      await turn()
      assert.deepEqual(acked, [1, 2], 'three await sealing: the third acknowledgement waits')
      waiting.shift()?.()
      await third
      assert.deepEqual(acked, [1, 2, 3], 'sealing caught up: released')
      await once(events, 'delivered')
      assert.equal(handed.length, 1)
      for (const seal of waiting.splice(0)) seal()
      await ingest.drain()
      assert.equal(handed.length, 3)
    } finally {
      await journal.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
