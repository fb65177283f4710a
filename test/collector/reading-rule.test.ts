// [COL-18] One rule for a reading over HTTP and MQTT, over real sockets: the bytes the sensor sent
// are the plaintext sealed (big integers, duplicate keys, -0 and white space unchanged), for an
// HTTP batch each element's bytes; nesting is bounded (MAX_READING_DEPTH) on both, where a
// deeply nested reading was a 500 over HTTP and accepted over MQTT.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { fromUtf8 } from '../../src/core/index.ts'
import { readingTopic } from '../../src/gateway/collector/index.ts'
import { MAX_READING_DEPTH } from '../../src/gateway/collector/reading-text.ts'
import { post, startFixture, url, type Fixture } from './helpers.ts'
import mqtt, { type MqttClient } from 'mqtt'


const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth)

describe('a reading over HTTP and MQTT: its bytes, its depth', { timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture({ rateLimit: { perSecond: 100, burst: 200 } }) })
  after(async () => { await f.close() })

  async function login (): Promise<MqttClient> {
    return await mqtt.connectAsync(`mqtt://127.0.0.1:${f.collector.mqttPort}`, { username: f.sensorId, password: f.credential, reconnectPeriod: 0 }, false)
  }

  /** The plaintexts of the readings handed off since `before`, in seq order. */
  async function plaintexts (before: number, count: number): Promise<string[]> {
    await f.handedOff(before + count)
    const opener = f.opener(f.owner)
    const sealed = f.handed.slice(before).sort((a, b) => a.seq - b.seq)
    return await Promise.all(sealed.map(async r => fromUtf8((await opener.open(r.envelope)).plaintext)))
  }

  const exotic = ' {"big": 123456789012345678901234567890, "k": 1, "k": 2, "zero": -0, "e": 1E400, "s": "\\u00e9]"}\n'

  it('HTTP seals one reading as sent, byte for byte', async () => {
    const before = f.handed.length
    const res = await post(url(f), exotic, { authorization: `Bearer ${f.credential}` })
    assert.equal(res.status, 202, JSON.stringify(res.json))
    assert.deepEqual(await plaintexts(before, 1), [exotic])
  })

  it('HTTP seals each reading of a batch as its element\'s bytes', async () => {
    const elements = ['{"k": 1, "k": 2}', '-0', '123456789012345678901234567890', '"a ] } , \\" [ {"', '[ 1 ,2 ]', '{"readings":[1]}', 'null']
    const body = `{ "read\\u0069ngs" : [ ${elements.join(' ,\n ')} ] }`
    const before = f.handed.length
    const res = await post(url(f), body, { authorization: `Bearer ${f.credential}` })
    assert.equal(res.status, 202, JSON.stringify(res.json))
    assert.equal(res.json.accepted, elements.length)
    assert.deepEqual(await plaintexts(before, elements.length), elements)
  })

  it('an object with a second member, even a second "readings", is one reading, not a batch', async () => {
    const body = '{"readings":[1],"readings":[2]}'
    const before = f.handed.length
    const res = await post(url(f), body, { authorization: `Bearer ${f.credential}` })
    assert.equal(res.status, 202, JSON.stringify(res.json))
    assert.equal(res.json.accepted, 1)
    assert.deepEqual(await plaintexts(before, 1), [body])
  })

  it('MQTT seals the same payload as HTTP does', async () => {
    const client = await login()
    const before = f.handed.length
    await client.publishAsync(readingTopic(f.sensorId), exotic, { qos: 1 })
    assert.deepEqual(await plaintexts(before, 1), [exotic])
    await client.endAsync()
  })

  it(`HTTP takes readings nested ${MAX_READING_DEPTH} deep and refuses deeper ones with GM_ERR_READING_MALFORMED`, async () => {
    const before = f.handed.length
    const ok = await post(url(f), nested(MAX_READING_DEPTH), { authorization: `Bearer ${f.credential}` })
    assert.equal(ok.status, 202, JSON.stringify(ok.json))
    const batch = await post(url(f), `{"readings":[${nested(MAX_READING_DEPTH)}]}`, { authorization: `Bearer ${f.credential}` })
    assert.equal(batch.status, 202, JSON.stringify(batch.json))
    await f.handedOff(before + 2)
    for (const body of [nested(6000), nested(MAX_READING_DEPTH + 1), `{"readings":[1,${nested(MAX_READING_DEPTH + 1)}]}`, `{"readings":[${nested(6000)}]}`]) {
      const res = await post(url(f), body, { authorization: `Bearer ${f.credential}` })
      assert.equal(res.status, 400, `${body.slice(0, 30)}: ${JSON.stringify(res.json)}`)
      assert.equal(res.json.code, 'GM_ERR_READING_MALFORMED')
    }
  })

  it('MQTT takes the same depth and closes the connection on a deeper reading', async () => {
    const client = await login()
    const before = f.handed.length
    await client.publishAsync(readingTopic(f.sensorId), nested(MAX_READING_DEPTH), { qos: 1 })
    await f.handedOff(before + 1)
    for (const payload of [nested(6000), nested(MAX_READING_DEPTH + 1)]) {
      const deep = await login()
      const closed = once(deep as unknown as NodeJS.EventEmitter, 'close')
      await assert.rejects(Promise.race([deep.publishAsync(readingTopic(f.sensorId), payload, { qos: 1 }), closed.then(() => { throw new Error('closed') })]))
      await closed.catch(() => undefined)
      assert.equal(deep.connected, false)
    }
    // nothing of the refused ones was journaled: the stop seals and hands off all that was
    await client.endAsync()
    await f.collector.stop()
    assert.equal(f.handed.length, before + 1)
    assert.match((await f.everything()).toString('utf8'), /"code":"GM_ERR_READING_MALFORMED"[^\n]*mqtt publish refused/)
  })
})
