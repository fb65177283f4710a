import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isGatemeshError } from '../core/index.ts'
import { DEFAULTS, IMPLEMENTED_SERVICES, assertServicesImplemented, parseGatewayConfig } from './index.ts'

describe('the gateway\'s service table', () => {
  it('implements persistence, collector and access (in start order); collector and access run by default', () => {
    assert.deepEqual(IMPLEMENTED_SERVICES, ['persistence', 'collector', 'access'])
    assert.deepEqual(DEFAULTS.services, ['collector', 'access'])
    assert.deepEqual(parseGatewayConfig([], {}).services, ['collector', 'access'])
    assertServicesImplemented(['persistence'])
  })

  it('refuses a role no service of this build implements, naming it, with GM_ERR_GATEWAY_CONFIG', () => {
    assertServicesImplemented(['collector', 'access'])
    assertServicesImplemented([])
    for (const services of [['stream'], ['collector', 'persistence', 'stream']] as const) {
      assert.throws(() => { assertServicesImplemented(services) }, (err: unknown) => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG') && err.message.includes(services.at(-1) as string))
    }
  })
})
