// The collector's journal across restarts: what a run journaled but did not hand off is handed
// off by the next start; a stopped collector refuses nothing silently and leaves no rows.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createCollector, type SealedReading } from '../../src/gateway/collector/index.ts'
import { post, startFixture, url } from './helpers.ts'

describe('collector lifecycle', () => {
  it('hands off at start what a previous run journaled but did not hand off', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-collector-'))
    try {
      const dataDir = join(dir, 'data')
      const suite = createNodeCryptoSuite()
      const components = {
        suite,
        signer: await suite.importSigningKey(suite.randomBytes(32)),
        sensors: { get: async () => undefined },
        latest: { offer: (_r: SealedReading) => {} },
        logger: createLogger('test', { level: 'silent' })
      }
      const first = createCollector(components, { dataDir })
      await first.start()
      await first.stop()
      // a row left behind, as by a crash between commit and hand-off
      const db = new DatabaseSync(join(dataDir, 'collector.db'))
      db.prepare('INSERT INTO readings (sensor, ts, seq, envelope) VALUES (?, ?, ?, ?)').run('s1', 5, 5000, new Uint8Array([1, 2, 3]))
      db.close()
      const handed: SealedReading[] = []
      const offered: SealedReading[] = []
      const second = createCollector({ ...components, latest: { offer: r => { offered.push(r) } }, handoffs: [r => { handed.push(r) }] }, { dataDir })
      await second.start()
      assert.deepEqual(handed.map(r => [r.sensorId, r.seq, [...r.envelope]]), [['s1', 5000, [1, 2, 3]]])
      assert.equal(offered.length, 1)
      await second.stop()
      const check = new DatabaseSync(join(dataDir, 'collector.db'))
      assert.equal((check.prepare('SELECT count(*) AS n FROM readings').get() as { n: number }).n, 0, 'pruned once handed off')
      check.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keeps the journal empty in steady state and refuses readings after stop', async () => {
    const f = await startFixture()
    const target = url(f)
    for (let i = 0; i < 3; i++) assert.equal((await post(target, `{"i":${i}}`, { authorization: `Bearer ${f.credential}` })).status, 202)
    await f.collector.stop()
    await assert.rejects(post(target, '{}', { authorization: `Bearer ${f.credential}` }))
    const db = new DatabaseSync(join(f.dir, 'data', 'collector.db'))
    assert.equal((db.prepare('SELECT count(*) AS n FROM readings').get() as { n: number }).n, 0)
    db.close()
    await f.close()
  })
})
