import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { encode } from 'cborg'
import { isGatemeshError } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { createStreamPeerDirectory, decodeStreamEndpoints, encodeStreamEndpoints } from './endpoints.ts'
import type { StreamEndpoints } from './endpoints.ts'

const A = { mqtt: 'mqtt://10.0.0.1:1883', ws: 'ws://10.0.0.1:8883/mqtt' }
const B = { mqtt: 'mqtts://b.example:8883', ws: 'wss://b.example/mqtt' }

describe('stream peers\' listeners [STR-49]', () => {
  it('decodes { v: 1, mqtt, ws } and nothing else', () => {
    assert.deepEqual(decodeStreamEndpoints(encodeStreamEndpoints(A)), A)
    assert.deepEqual(decodeStreamEndpoints(encodeStreamEndpoints(B)), B)
    for (const ok of [{ mqtt: 'mqtt://[2001:db8::7]:1883', ws: 'ws://[2001:db8::7]:8883/mqtt' }, { mqtt: 'mqtts://gw-1.example.net.:8883', ws: 'wss://gw-1.example.net./mqtt' }]) {
      assert.deepEqual(decodeStreamEndpoints(encodeStreamEndpoints(ok)), ok)
    }
    const bad: unknown[] = [
      { v: 2, ...A },
      { v: 1, mqtt: A.mqtt },
      { v: 1, ...A, extra: 1 },
      { v: 1, mqtt: A.ws, ws: A.mqtt },
      { v: 1, mqtt: A.mqtt, ws: 'http://10.0.0.1:8883/' },
      { v: 1, mqtt: A.mqtt, ws: 'ws://user:pw@10.0.0.1:8883/' },
      { v: 1, mqtt: A.mqtt, ws: `ws://10.0.0.1/${'a'.repeat(600)}` },
      // hosts the URL parser takes that are Content-Security-Policy syntax ([ACS-23])
      ...['ws://evil.example;sandbox', 'wss://*', 'ws://a,script-src', "ws://'self'", 'ws://a%3bsandbox', 'ws://a"b', 'ws://a{b}'].map(ws => ({ v: 1, mqtt: A.mqtt, ws })),
      { v: 1, mqtt: 'mqtt://a;b:1883', ws: A.ws },
      [1, A.mqtt, A.ws],
      'ws://10.0.0.1:8883'
    ]
    for (const value of bad) {
      assert.throws(() => decodeStreamEndpoints(encode(value)), (err: unknown) => isGatemeshError(err, 'GM_ERR_STREAM_ENDPOINTS_MALFORMED'), JSON.stringify(value))
    }
    assert.throws(() => decodeStreamEndpoints(new Uint8Array([0xff, 0x00])), (err: unknown) => isGatemeshError(err, 'GM_ERR_STREAM_ENDPOINTS_MALFORMED'))
  })

  it('lists the verified stream peers that answered, and drops one that is no longer verified', async () => {
    let peers = ['a', 'b', 'c']
    const answers: Record<string, StreamEndpoints | undefined> = { a: A, b: B, c: undefined }
    const asked: string[] = []
    const directory = createStreamPeerDirectory({
      streamPeers: () => peers,
      ask: async peerId => {
        asked.push(peerId)
        const answer = answers[peerId]
        if (answer === undefined) throw new Error('no answer')
        return answer
      },
      logger: createLogger('test')
    })
    await directory.refresh()
    assert.deepEqual(directory.list(), [A, B])
    // c, which failed, is asked again when listed; a and b are not asked twice
    await directory.refresh()
    assert.deepEqual(asked.sort(), ['a', 'b', 'c', 'c'])
    answers.c = { mqtt: 'mqtt://10.0.0.3:1883', ws: 'ws://10.0.0.3:8883/mqtt' }
    await directory.refresh()
    assert.equal(directory.list().length, 3)
    peers = ['b', 'c']
    assert.deepEqual(directory.list().map(e => e.ws), [B.ws, 'ws://10.0.0.3:8883/mqtt'])
    directory.stop()
  })
})
