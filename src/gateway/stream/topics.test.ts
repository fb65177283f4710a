// The topic rules [STR-10] .. [STR-14], as pure functions.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { classifyFilter, mayPublish, readingTopicSensor } from './topics.ts'
import { ForwardRule } from './forward.ts'

const ME = 'a'.repeat(52)
const OTHER = 'b'.repeat(52)

describe('stream topics', () => {
  it('classifies subscription filters [STR-10] .. [STR-13]', () => {
    const kinds = (filter: string): string => classifyFilter(ME, filter).kind
    assert.deepEqual(classifyFilter(ME, 'sensors/s-1/readings'), { kind: 'sensor', sensorId: 's-1' })
    assert.equal(kinds('sensors/+/readings'), 'all-sensors')
    for (const own of [`users/${ME}/#`, `users/${ME}/+/x`, `users/${ME}/a/b/c`]) assert.equal(kinds(own), 'own', own)
    for (const bad of ['#', '+/#', 'sensors/#', 'sensors/+/#', 'sensors/+/+', 'sensors/s1/#', 'sensors/s1/raw', '$SYS/#', `users/${OTHER}/#`,
      'users/+/#', 'users/#', `users/${ME}`, `users/${ME}x/#`, 'sensors/../readings', 'sensors/a b/readings', `+/${ME}/#`]) {
      assert.equal(kinds(bad), 'forbidden', bad)
    }
  })

  it('allows publishing inside the own namespace only [STR-12]', () => {
    assert.equal(mayPublish(ME, `users/${ME}/x`), true)
    for (const bad of [`users/${ME}`, `users/${ME}/`, `users/${OTHER}/x`, 'sensors/s1/readings', `users/${ME}x/y`, '$SYS/x']) assert.equal(mayPublish(ME, bad), false, bad)
  })

  it('forwards a reading only to a pseudonym it carries a wrap for, on its own sensor\'s topic [STR-14]', () => {
    let decoded = 0
    const rule = new ForwardRule(bytes => {
      decoded++
      if (bytes[0] === 0) throw new Error('not CBOR')
      return { sensorId: 's1', recipients: new Set([ME]) }
    })
    const payload = new Uint8Array([1])
    assert.equal(rule.mayForward(ME, 'sensors/s1/readings', payload), true)
    assert.equal(rule.mayForward(OTHER, 'sensors/s1/readings', payload), false)
    assert.equal(rule.mayForward(ME, 'sensors/s2/readings', payload), false)
    assert.equal(decoded, 1, 'a payload is decoded once')
    assert.equal(rule.mayForward(ME, 'sensors/s1/readings', new Uint8Array([0])), false)
    assert.equal(rule.mayForward(ME, `users/${ME}/x`, 'text'), true)
    assert.equal(rule.mayForward(OTHER, `users/${ME}/x`, 'text'), false)
    assert.equal(rule.mayForward(ME, '$SYS/broker/x', 'text'), false)
    assert.equal(readingTopicSensor('sensors/x/y/readings'), undefined)
  })
})
