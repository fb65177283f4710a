// The one shape of a plain URL and origin that [STR-49] (a stream peer's listeners) and [ACS-23]
// (the web application's connect-src) both hold URLs to.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isPlainOrigin, isPlainUrl } from './plain-url.ts'

const LABEL_63 = 'a'.repeat(63)
const LABEL_64 = 'a'.repeat(64)

// hosts the WHATWG URL parser takes that would be Content-Security-Policy syntax in a header
const POLICY_SYNTAX = ['ws://evil.example;sandbox', 'wss://*', 'ws://a,script-src', "ws://'self'", 'ws://a%3bsandbox', 'ws://a"b', 'ws://a{b}', 'ws://a b', 'ws://a\tb']

describe('plain URLs [STR-49] [ACS-23]', () => {
  it('an origin: scheme, a DNS name or an IP address, an optional port; nothing else', () => {
    for (const ok of ['ws://127.0.0.1:8884', 'wss://stream.example', 'wss://gw-1.example.net:8883', 'ws://[2001:db8::7]:8883', 'wss://gw-1.example.net.', 'ws://A.Example:1', `ws://${LABEL_63}.example`, 'ws://a:65535']) {
      assert.equal(isPlainOrigin(ok, 'ws'), true, ok)
    }
    for (const ok of ['mqtt://10.0.0.1:1883', 'mqtts://b.example:8883']) assert.equal(isPlainOrigin(ok, 'mqtt'), true, ok)
    const bad = [
      ...POLICY_SYNTAX,
      'ws://a/mqtt', 'ws://a/', 'ws://a?x=1', 'ws://a#f', 'ws://user:pw@a', 'ws://user@a', 'ws://', 'ws://:80', 'ws://a:123456', 'ws://a:',
      `ws://${LABEL_64}.example`, 'ws://-a.example', 'ws://a-.example', 'ws://a..example', 'ws://.a', 'ws://[::1', 'ws://[fe80::1%25eth0]',
      // the scheme as URL parsers write it, lower case
      'WS://a', 'http://a', 'mqtt://a', 'ws:/a', ' ws://a', 'ws://a ', 'ws://a\n', 'javascript:alert(1)', 'data:,x', ''
    ]
    for (const value of bad) assert.equal(isPlainOrigin(value, 'ws'), false, JSON.stringify(value))
    assert.equal(isPlainOrigin('ws://a', 'mqtt'), false)
  })

  it('a URL: a plain origin and an optional path of URL characters; no user info, query or fragment', () => {
    for (const ok of ['ws://10.0.0.1:8883/mqtt', 'wss://b.example/mqtt', 'ws://[2001:db8::7]:8883/mqtt', 'wss://gw-1.example.net./mqtt', 'ws://a', 'ws://a/', "ws://a/x-._~!$&'()*+,;=:@%20/y"]) {
      assert.equal(isPlainUrl(ok, 'ws'), true, ok)
    }
    for (const ok of ['mqtt://10.0.0.1:1883', 'mqtts://gw-1.example.net.:8883', 'mqtt://[2001:db8::7]:1883']) assert.equal(isPlainUrl(ok, 'mqtt'), true, ok)
    const bad = [...POLICY_SYNTAX, 'ws://a/b?c', 'ws://a/b#c', 'ws://u:p@a/b', 'ws://a/b c', 'ws://a/"', 'ws://a/{x}', 'ws://a/<x>', `ws://${LABEL_64}/mqtt`, 'http://a/mqtt', 'mqtt://a:1883']
    for (const value of bad) assert.equal(isPlainUrl(value, 'ws'), false, JSON.stringify(value))
    assert.equal(isPlainUrl('mqtt://a;b:1883', 'mqtt'), false)
    assert.equal(isPlainUrl('ws://a/mqtt', 'mqtt'), false)
  })

  it('a ws URL it admits has an origin it admits, as the access service computes it', () => {
    for (const url of ['ws://10.0.0.1:8883/mqtt', 'wss://B.Example/mqtt', 'ws://[2001:DB8::7]:8883/mqtt', 'wss://gw-1.example.net./mqtt', `ws://${LABEL_63}.example:1/x`]) {
      assert.equal(isPlainUrl(url, 'ws'), true, url)
      assert.equal(isPlainOrigin(new URL(url).origin, 'ws'), true, new URL(url).origin)
    }
  })
})
