// The InfluxDB engine's errors never carry node-influx's request (its raw header holds the Basic
// credentials), so a logged cause cannot print them. The engine itself runs against a real
// influxd in test/persistence/influxdb.test.ts.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { withoutRequest } from './influxdb.ts'

describe('influxdb engine errors', () => {
  it('keep a failed request\'s message, not the request with its credentials', () => {
    const failed = Object.assign(new Error('A 401 Unauthorized error occurred: {"error":"authorization failed"}'), {
      req: { _header: 'POST /write HTTP/1.1\r\nAuthorization: Basic dXNlcjpzM2NyZXQ=\r\n' }
    })
    const kept = withoutRequest(failed)
    assert.ok(kept instanceof Error)
    assert.equal(kept.message, failed.message)
    assert.equal(JSON.stringify(kept, Object.getOwnPropertyNames(kept)).includes('dXNlcjpzM2NyZXQ'), false)
    assert.equal(JSON.stringify(failed).includes('dXNlcjpzM2NyZXQ'), true, 'the raw error does carry it')
  })
})
