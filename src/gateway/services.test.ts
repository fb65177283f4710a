import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ROLES } from '../overlay/index.ts'
import { DEFAULTS, IMPLEMENTED_SERVICES, parseGatewayConfig } from './index.ts'

describe('the gateway\'s service table', () => {
  it('implements every role, in start order (persistence, stream before the collector whose sinks use them, access); collector and access run by default', () => {
    assert.deepEqual(IMPLEMENTED_SERVICES, ['persistence', 'stream', 'collector', 'access'])
    assert.deepEqual([...IMPLEMENTED_SERVICES].sort(), [...ROLES].sort())
    assert.deepEqual(DEFAULTS.services, ['collector', 'access'])
    assert.deepEqual(parseGatewayConfig([], {}).services, ['collector', 'access'])
    assert.deepEqual(parseGatewayConfig(['--services', 'stream,collector'], {}).services, ['stream', 'collector'])
  })
})
