/**
 * [PER-2] The replica's sensor check: a known sensor is looked up again in the background once
 * its 5 minutes are past (a push does not wait for the overlay), an unknown one before the answer.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isGatemeshError } from '../../core/index.ts'
import { StoreVerifier } from './verify.ts'

/** `promise`, or a failure once `ms` have passed without it settling. */
async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: still waiting after ${ms} ms`)) }, ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** A verifier that only checks sensors: `sensorExists` is the overlay, `now` the clock. */
function sensorChecker (sensorExists: (sensorId: string) => Promise<boolean>, now: () => number): StoreVerifier {
  return new StoreVerifier({ trust: undefined as never, revocations: () => undefined, sensorExists, now })
}

/** Whether a check refused the sensor as unknown. */
const unknown = (err: unknown): boolean => isGatemeshError(err, 'GM_ERR_PERSISTENCE_SENSOR_UNKNOWN')

describe('StoreVerifier.checkSensor [PER-2]', () => {
  it('a known sensor past its 5 minutes is accepted at once while it is looked up again; the look-up decides the next check', async () => {
    let now = 1_000_000
    let answer = true
    let lookups = 0
    const held: { until?: Promise<void> } = {}
    const verifier = sensorChecker(async () => { lookups++; await held.until; return answer }, () => now)
    await verifier.checkSensor('s-1')
    assert.equal(lookups, 1)
    now += 5 * 60_000
    let release: () => void = () => {}
    held.until = new Promise(resolve => { release = resolve })
    answer = false
    // the overlay has not answered: the check does not wait for it
    await within(verifier.checkSensor('s-1'), 2000, 'the check waited for the look-up')
    assert.equal(lookups, 2, 'looked up again')
    await within(verifier.checkSensor('s-1'), 2000, 'the check waited for the look-up')
    assert.equal(lookups, 2, 'one look-up at a time')
    release()
    await held.until
    await new Promise(resolve => setImmediate(resolve))
    await assert.rejects(verifier.checkSensor('s-1'), unknown, 'the look-up found no record')
  })

  it('an unknown sensor is looked up before the answer, and a failing overlay does not make it known', async () => {
    let now = 1_000_000
    let lookups = 0
    let fail = true
    const verifier = sensorChecker(async () => { lookups++; if (fail) throw new Error('overlay down'); return true }, () => now)
    await assert.rejects(verifier.checkSensor('s-2'), unknown)
    await assert.rejects(verifier.checkSensor('s-2'), unknown)
    assert.equal(lookups, 1, 'not asked again at once')
    // a failed look-up (no peer answered, [OVL-36]) is asked again after 1 s, not held for 10 s
    now += 1000
    fail = false
    await verifier.checkSensor('s-2')
    assert.equal(lookups, 2)
  })

  it('a sensor the overlay has no record of is held unknown for 10 s', async () => {
    let now = 1_000_000
    let lookups = 0
    let exists = false
    const verifier = sensorChecker(async () => { lookups++; return exists }, () => now)
    await assert.rejects(verifier.checkSensor('s-3'), unknown)
    exists = true
    now += 9_999
    await assert.rejects(verifier.checkSensor('s-3'), unknown)
    now += 1
    await verifier.checkSensor('s-3')
    assert.equal(lookups, 2)
  })
})
