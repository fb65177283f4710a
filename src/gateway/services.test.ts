import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isGatemeshError } from '../core/index.ts'
import { DEFAULTS, IMPLEMENTED_SERVICES, assertServicesImplemented, parseGatewayConfig } from './index.ts'

describe('the gateway\'s service table', () => {
  it('is what runs by default: collector and access', () => {
    assert.deepEqual(IMPLEMENTED_SERVICES, ['collector', 'access'])
    assert.deepEqual(DEFAULTS.services, IMPLEMENTED_SERVICES)
    assert.deepEqual(parseGatewayConfig([], {}).services, IMPLEMENTED_SERVICES)
  })

  it('refuses a role no service of this build implements, naming it, with GM_ERR_GATEWAY_CONFIG', () => {
    assertServicesImplemented(['collector', 'access'])
    assertServicesImplemented([])
    for (const services of [['persistence'], ['collector', 'stream']] as const) {
      assert.throws(() => { assertServicesImplemented(services) }, (err: unknown) => isGatemeshError(err, 'GM_ERR_GATEWAY_CONFIG') && err.message.includes(services.at(-1) as string))
    }
  })
})
