// The error registry is total: a GatemeshError gets its code's status and message whichever
// modules the program imported. This file imports the core's errors module and nothing of the
// parts that declare the codes.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { GatemeshError, buildErrorRegistry, defineErrors, registeredErrors, type ErrorCode } from './errors.ts'

function documentedStatuses (): Map<string, number> {
  const text = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8')
  return new Map([...text.matchAll(/^\| `(GM_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map(m => [m[1] as string, Number(m[2])]))
}

describe('GatemeshError', () => {
  it('has every documented code\'s status and message with only the core imported', () => {
    const documented = documentedStatuses()
    assert.ok(documented.size > 100, 'docs/ERRORS.md should list every part\'s codes')
    for (const [code, status] of documented) {
      const error = new GatemeshError(code as ErrorCode)
      assert.equal(error.status, status, `${code}: status`)
      assert.equal(error.message, registeredErrors().get(code)?.message, `${code}: message`)
    }
    // Codes of parts this file never imports: the overlay, the access service, the PKI client.
    assert.deepEqual([new GatemeshError('GM_ERR_RECORD_NOT_FOUND').status, new GatemeshError('GM_ERR_FORBIDDEN').status, new GatemeshError('GM_ERR_CA_UNREACHABLE').status], [404, 403, 503])
  })

  it('keeps the detail after the message, and a status a caller gives', () => {
    const error = new GatemeshError('GM_ERR_SENSOR_RATE_LIMITED', 'Retry in 2 s.', { status: 503 })
    assert.equal(error.message, `${registeredErrors().get('GM_ERR_SENSOR_RATE_LIMITED')?.message} Retry in 2 s.`)
    assert.equal(error.status, 503)
    assert.deepEqual(error.toJSON(), { code: 'GM_ERR_SENSOR_RATE_LIMITED', message: error.message })
  })

  it('answers a code no table declares with 500', () => {
    const error = new GatemeshError('GM_ERR_NOBODY_DECLARES_THIS')
    assert.deepEqual([error.status, error.message], [500, 'Unexpected error.'])
  })
})

describe('error tables', () => {
  it('refuses a code declared in two tables', () => {
    const spec = { status: 400, message: 'x' }
    assert.throws(() => buildErrorRegistry({ a: { GM_ERR_TWICE: spec }, b: { GM_ERR_TWICE: spec } }), /GM_ERR_TWICE is declared twice \(a, b\)/)
  })

  it('declaring a table registers nothing and checks its shape', () => {
    const before = registeredErrors().size
    defineErrors({ GM_ERR_DECLARED_IN_A_TEST: { status: 400, message: 'x' } })
    assert.equal(registeredErrors().size, before)
    assert.equal(new GatemeshError('GM_ERR_DECLARED_IN_A_TEST').status, 500)
    assert.throws(() => defineErrors({ GM_ERR_lower: { status: 400, message: 'x' } }), /not GM_ERR_ and capitals/)
    assert.throws(() => defineErrors({ GM_ERR_OK: { status: 200, message: 'x' } }), /not 4xx or 5xx/)
    assert.throws(() => defineErrors({ GM_ERR_OK: { status: 400, message: '' } }), /no message/)
  })
})
