// The compliance suite ([PER-24]) on the InfluxDB engine against a real influxd (Debian's 1.6),
// started for this file on free 127.0.0.1 ports with its own temp dirs; each test its own database.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { storageEngineCompliance } from '../../src/gateway/persistence/engine/compliance.ts'
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

  it('bad settings are refused at once', () => {
    assert.throws(() => createInfluxEngine({ url: 'ftp://x', database: 'gm' }), { code: 'GM_ERR_MALFORMED' })
    assert.throws(() => createInfluxEngine({ url: server.url, database: 'a;b' }), { code: 'GM_ERR_MALFORMED' })
  })
})
