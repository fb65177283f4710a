// The compliance suite ([PER-24]) on the InfluxDB engine against a real influxd (Debian's 1.6),
// started for this file on free 127.0.0.1 ports with its own temp dirs; each test its own database.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readingOf, storageEngineCompliance } from '../../src/gateway/persistence/engine/compliance.ts'
import { createInfluxEngine } from '../../src/gateway/persistence/engine/influxdb.ts'
import { rejectsWithCode } from '../support/assert-error.ts'
import { startInfluxd, type Influxd } from '../support/influxd.ts'

let server: Influxd
let databases = 0

describe('influxdb engine', () => {
  before(async () => { server = await startInfluxd() })
  after(async () => { await server?.stop() })

  storageEngineCompliance({
    describe,
    it,
    createEngine: async () => createInfluxEngine({ url: server.url, database: `gm_test_${++databases}` })
  })

  it('an unreachable server is GM_ERR_PERSISTENCE_ENGINE at open', async () => {
    const closed = new URL(server.url)
    closed.port = '1'
    const engine = createInfluxEngine({ url: closed.href, database: 'gm', requestTimeout: 2000 })
    await rejectsWithCode(async () => { await engine.open() }, 'GM_ERR_PERSISTENCE_ENGINE')
    await rejectsWithCode(async () => await engine.append([]), 'GM_ERR_PERSISTENCE_ENGINE')
  })

  it('a result the server cut (max-row-limit) is GM_ERR_PERSISTENCE_ENGINE, never taken for the whole', async () => {
    const cutting = await startInfluxd({ http: { 'max-row-limit': 5 } })
    try {
      const engine = createInfluxEngine({ url: cutting.url, database: 'gm_cut' })
      await engine.open()
      const gw = new Uint8Array(32).fill(7)
      await engine.append(Array.from({ length: 10 }, (_, seq) => readingOf('s1', gw, seq)))
      await rejectsWithCode(async () => await engine.ids('s1', 0, 100), 'GM_ERR_PERSISTENCE_ENGINE')
      await rejectsWithCode(async () => await engine.range({ sensor: 's1', fromSeq: 0, toSeq: 100, order: 'asc', limit: 10 }), 'GM_ERR_PERSISTENCE_ENGINE')
      await engine.close()
    } finally {
      await cutting.stop()
    }
  })

  it('bad settings are refused at once', () => {
    assert.throws(() => createInfluxEngine({ url: 'ftp://x', database: 'gm' }), { code: 'GM_ERR_MALFORMED' })
    assert.throws(() => createInfluxEngine({ url: server.url, database: 'a;b' }), { code: 'GM_ERR_MALFORMED' })
  })
})
