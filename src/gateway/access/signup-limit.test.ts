// [ACS-21] The sign-up token bucket, per source address, with a fake clock.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SignupLimiter, sourceOf } from './signup-limit.ts'

function outcome (limiter: SignupLimiter, address: string): string {
  try {
    limiter.take(address)
    return 'ok'
  } catch (err) {
    return `${(err as { code: string }).code} ${(err as { retryAfterSeconds: number }).retryAfterSeconds}`
  }
}

describe('sign-up limit', () => {
  it('counts IPv4 addresses one by one and IPv6 addresses by /64', () => {
    assert.equal(sourceOf('203.0.113.7'), '203.0.113.7')
    assert.equal(sourceOf('::ffff:203.0.113.7'), '203.0.113.7')
    assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
    assert.equal(sourceOf('2001:0db8:0001:0002:ffff:1:2:3'), '2001:db8:1:2::/64')
    assert.equal(sourceOf('2001:db8::1'), '2001:db8:0:0::/64')
    assert.equal(sourceOf('fe80::1%eth0'), 'fe80:0:0:0::/64')
    assert.equal(sourceOf('::1'), '0:0:0:0::/64')
    assert.equal(sourceOf(undefined), 'unknown')
  })

  it('gives each source its burst, refills at the hourly rate, and says when to retry', () => {
    let now = 0
    const limiter = new SignupLimiter({ burst: 2, perHour: 60 }, () => now)
    assert.equal(outcome(limiter, '198.51.100.1'), 'ok')
    assert.equal(outcome(limiter, '198.51.100.1'), 'ok')
    assert.equal(outcome(limiter, '198.51.100.1'), 'GM_ERR_SIGNUP_RATE_LIMITED 60')
    // Another address, and another /64, have buckets of their own; the same /64 shares one.
    assert.equal(outcome(limiter, '198.51.100.2'), 'ok')
    assert.equal(outcome(limiter, '2001:db8:1:2::10'), 'ok')
    assert.equal(outcome(limiter, '2001:db8:1:2::11'), 'ok')
    assert.equal(outcome(limiter, '2001:db8:1:2::12'), 'GM_ERR_SIGNUP_RATE_LIMITED 60')
    now += 45_000
    assert.equal(outcome(limiter, '198.51.100.1'), 'GM_ERR_SIGNUP_RATE_LIMITED 15')
    now += 15_000
    assert.equal(outcome(limiter, '198.51.100.1'), 'ok')
    assert.equal(outcome(limiter, '198.51.100.1'), 'GM_ERR_SIGNUP_RATE_LIMITED 60')
  })

  it('remembers a bounded number of sources, forgetting the least recently seen', () => {
    const limiter = new SignupLimiter({ burst: 1, perHour: 1, maxSources: 2 }, () => 0)
    assert.equal(outcome(limiter, '192.0.2.1'), 'ok')
    assert.equal(outcome(limiter, '192.0.2.2'), 'ok')
    assert.match(outcome(limiter, '192.0.2.1'), /^GM_ERR_SIGNUP_RATE_LIMITED/) // .1 seen again, .2 now least recent
    assert.equal(outcome(limiter, '192.0.2.3'), 'ok') // forgets .2
    assert.equal(outcome(limiter, '192.0.2.2'), 'ok')
    assert.throws(() => new SignupLimiter({ burst: 0, perHour: 1 }), { code: 'GM_ERR_GATEWAY_CONFIG' })
  })
})
