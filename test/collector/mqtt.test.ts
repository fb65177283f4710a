// The collector over MQTT with real sockets: mqtt.js at QoS 0 and 1 (PUBACK only after the
// journal), mosquitto_pub, CONNACK refusals, foreign topics, subscriptions, bad and oversized
// payloads, floods, and secrecy on disk and in the logs.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { connect as netConnect } from 'node:net'
import { promisify } from 'node:util'
import { fromUtf8 } from '../../src/core/index.ts'
import { readingTopic } from '../../src/gateway/collector/index.ts'
import { hasAedes, startFixture, type Fixture } from './helpers.ts'

const run = promisify(execFile)

/** The part of mqtt.js these tests use. */
interface MqttClient {
  publishAsync: (topic: string, payload: string | Buffer, options: { qos: 0 | 1 | 2 }) => Promise<unknown>
  subscribeAsync: (topic: string, options: { qos: 0 | 1 }) => Promise<unknown>
  endAsync: (force?: boolean) => Promise<void>
  on: (event: 'close' | 'error', listener: (...args: unknown[]) => void) => unknown
  connected: boolean
}
interface Mqtt { connectAsync: (url: string, options: Record<string, unknown>, allowRetries?: boolean) => Promise<MqttClient> }
// mqtt and aedes are dependencies: a missing one fails here rather than skipping the suite.
const mqtt: Mqtt = await import('mqtt' as string).then(m => (m.default ?? m) as Mqtt)
if (!hasAedes) throw new Error('aedes is not installed (run npm ci)')
const skip = false

describe('collector over MQTT', { skip, timeout: 60_000 }, () => {
  let f: Fixture
  let target: string
  const clients: MqttClient[] = []
  before(async () => {
    f = await startFixture({ rateLimit: { perSecond: 5, burst: 30 } })
    target = `mqtt://127.0.0.1:${f.collector.mqttPort}`
  })
  after(async () => {
    await Promise.all(clients.map(async c => await c.endAsync(true)))
    await f.close()
  })

  async function login (password = f.credential, username = f.sensorId): Promise<MqttClient> {
    const client = await mqtt.connectAsync(target, { username, password, reconnectPeriod: 0, connectTimeout: 5000 }, false)
    clients.push(client)
    return client
  }

  it('QoS 1: every reading acknowledged is sealed for the owner and the readers and handed off', async () => {
    const client = await login()
    const before = f.handed.length
    await client.publishAsync(readingTopic(f.sensorId), '{"t":21.5}', { qos: 1 })
    await f.handedOff(before + 1)
    for (const who of [f.owner, ...f.readers]) {
      assert.equal(fromUtf8((await f.opener(who).open(f.handed.at(-1)!.envelope)).plaintext), '{"t":21.5}')
    }
    // pipelined
    await Promise.all([1, 2, 3, 4, 5].map(async i => await client.publishAsync(readingTopic(f.sensorId), String(i), { qos: 1 })))
    await f.handedOff(before + 6)
  })

  it('QoS 2 readings are accepted and handed off too', async () => {
    const client = await login()
    const before = f.handed.length
    await client.publishAsync(readingTopic(f.sensorId), '{"qos":2}', { qos: 2 })
    await f.handedOff(before + 1)
  })

  it('QoS 0 readings arrive too', async () => {
    const client = await login()
    const before = f.handed.length
    await client.publishAsync(readingTopic(f.sensorId), '"qos0"', { qos: 0 })
    await f.handedOff(before + 1)
    assert.equal(fromUtf8((await f.opener(f.owner).open(f.handed.at(-1)!.envelope)).plaintext), '"qos0"')
  })

  it('refuses a wrong credential and an unknown sensor in the CONNACK', async () => {
    await assert.rejects(login('gms_' + 'C'.repeat(43)), /[Bb]ad [Uu]ser ?[Nn]ame or [Pp]assword/)
    await assert.rejects(login('not-a-credential'), /[Bb]ad [Uu]ser ?[Nn]ame or [Pp]assword/)
    await assert.rejects(login(f.credential, 'nobody'), /[Nn]ot [Aa]uthorized/)
    await assert.rejects(login(f.credential, 'dht-down'), /[Ss]erver [Uu]navailable/)
  })

  it('survives garbage and publishes before CONNECT, and keeps serving', async () => {
    for (const bytes of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]), Buffer.alloc(64, 0xff)]) {
      const socket = netConnect(f.collector.mqttPort!, '127.0.0.1')
      socket.on('error', () => {})
      await once(socket, 'connect')
      socket.write(bytes)
      await once(socket, 'close')
    }
    const client = await login()
    await client.publishAsync(readingTopic(f.sensorId), '"still here"', { qos: 1 })
  })

  it('refuses subscriptions, and disconnects on a foreign topic, a bad payload, or a flood', { timeout: 20_000 }, async () => {
    const sub = await login()
    // [COL-15] a SUBACK with the failure code 0x80 (mqtt.js rejects on it)
    await assert.rejects(sub.subscribeAsync('sensors/#', { qos: 1 }), (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] === 128)
    for (const [topic, payload] of [['sensors/other/readings', '1'], [readingTopic(f.sensorId), '{not json'], [readingTopic(f.sensorId), Buffer.from([0xff, 0xfe])]] as const) {
      const client = await login()
      const closed = once(client as unknown as NodeJS.EventEmitter, 'close')
      await assert.rejects(Promise.race([client.publishAsync(topic, payload, { qos: 1 }), closed.then(() => { throw new Error('closed') })]))
      await closed.catch(() => undefined)
      assert.equal(client.connected, false)
    }
    const flooder = await login()
    const closed = once(flooder as unknown as NodeJS.EventEmitter, 'close')
    const results = Array.from({ length: 60 }, async (_, i) => await flooder.publishAsync(readingTopic(f.sensorId), String(i), { qos: 1 }))
    for (const r of results) r.catch(() => undefined)
    await closed
    const log = (await f.everything()).toString('utf8')
    for (const code of ['GM_ERR_MQTT_TOPIC', 'GM_ERR_READING_MALFORMED', 'GM_ERR_SENSOR_RATE_LIMITED', 'GM_ERR_MQTT_SUBSCRIBE']) assert.ok(log.includes(code), `${code} not logged`)
  })

  it('cuts off a packet larger than the limit as soon as its header arrives', async () => {
    const socket = netConnect(f.collector.mqttPort!, '127.0.0.1')
    await once(socket, 'connect')
    // a PUBLISH fixed header announcing 100 MB, then nothing more
    const sent = performance.now()
    socket.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x30]))
    await once(socket, 'close')
    // the guard closed it, not the broker's 10 s wait for a CONNECT
    assert.ok(performance.now() - sent < 5000, `closed after ${Math.round(performance.now() - sent)} ms`)
    assert.match((await f.everything()).toString('latin1'), /"code":"GM_ERR_READING_TOO_LARGE"[^\n]*mqtt packet too large/)
  })
})

describe('collector over MQTT: stock clients and secrecy', { skip, timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('works with mosquitto_pub at QoS 0 and 1, and refuses it a wrong password', async () => {
    // mosquitto_pub comes from Debian's mosquitto-clients, which .ci/run installs: missing is a failure.
    await run('mosquitto_pub', ['--help']).catch(err => { if ((err as { code?: unknown }).code === 'ENOENT') throw new Error('mosquitto_pub is not installed (apt-get install mosquitto-clients)') })
    const port = String(f.collector.mqttPort)
    for (const qos of ['0', '1']) {
      const before = f.handed.length
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', f.sensorId, '-P', f.credential, '-t', readingTopic(f.sensorId), '-q', qos, '-m', `{"qos":${qos}}`])
      await f.handedOff(before + 1)
      assert.equal(fromUtf8((await f.opener(f.readers[0]!).open(f.handed.at(-1)!.envelope)).plaintext), `{"qos":${qos}}`)
    }
    await assert.rejects(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-u', f.sensorId, '-P', 'gms_' + 'D'.repeat(43), '-t', readingTopic(f.sensorId), '-q', '1', '-m', '1']))
  })

  it('never writes a plaintext reading or the credential to disk or the logs', async () => {
    const marker = `marker-${Math.random().toString(36).slice(2)}-mqtt`
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${f.collector.mqttPort}`, { username: f.sensorId, password: f.credential, reconnectPeriod: 0 }, false)
    await client.publishAsync(readingTopic(f.sensorId), JSON.stringify({ marker }), { qos: 1 })
    await client.endAsync()
    const all = await f.everything()
    assert.equal(all.indexOf(marker), -1)
    assert.equal(all.indexOf(f.credential), -1)
  })
})

// [COL-16] both ways the ingest takes a sensor's record: a look-up (get) and, as in a gateway
// whose directory holds the record fresh, at once (cached)
for (const cached of [false, true]) {
  describe(`collector over MQTT: the sensor's record ${cached ? 'from the cache at once' : 'looked up'}`, { skip, timeout: 60_000 }, () => {
    let f: Fixture
    before(async () => { f = await startFixture({}, { cached }) })
    after(async () => { await f.close() })

    it('seals for the current access list, and ends a session whose credential was replaced since CONNECT', async () => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${f.collector.mqttPort}`, { username: f.sensorId, password: f.credential, reconnectPeriod: 0 }, false)
      const first = f.handed.length
      await client.publishAsync(readingTopic(f.sensorId), '{"n":1}', { qos: 1 })
      await f.handedOff(first + 1)
      // [COL-11] an access-list change applies to the next reading of the same session
      await f.setReaders([f.readers[0]!])
      await client.publishAsync(readingTopic(f.sensorId), '{"n":2}', { qos: 1 })
      await f.handedOff(first + 2)
      assert.equal(fromUtf8((await f.opener(f.readers[0]!).open(f.handed.at(-1)!.envelope)).plaintext), '{"n":2}')
      await assert.rejects(f.opener(f.readers[1]!).open(f.handed.at(-1)!.envelope))
      const credential = await f.replaceCredential()
      const closed = once(client as unknown as NodeJS.EventEmitter, 'close')
      await assert.rejects(Promise.race([client.publishAsync(readingTopic(f.sensorId), '{"n":3}', { qos: 1 }), closed.then(() => { throw new Error('closed') })]))
      await closed.catch(() => undefined)
      assert.equal(client.connected, false)
      assert.equal(f.handed.length, first + 2, 'nothing from the old credential is handed off')
      assert.ok((await f.everything()).toString('utf8').includes('GM_ERR_SENSOR_CREDENTIAL'))
      // the new credential works
      const renewed = await mqtt.connectAsync(`mqtt://127.0.0.1:${f.collector.mqttPort}`, { username: f.sensorId, password: credential, reconnectPeriod: 0 }, false)
      await renewed.publishAsync(readingTopic(f.sensorId), '{"n":4}', { qos: 1 })
      await f.handedOff(first + 3)
      await renewed.endAsync()
    })
  })
}
