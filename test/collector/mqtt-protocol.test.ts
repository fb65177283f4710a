// MQTT sessions with hostile sensors, over real sockets: a client id held by one sensor's session
// cannot be taken over by another sensor ([COL-16]), a QoS 2 PUBLISH sent again before its
// PUBREL is journaled once (MQTT 3.1.1 §4.3.3, [COL-17]); and the protocol versions [COL-15] says
// work do, with stock clients.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { connect as netConnect, type Socket } from 'node:net'
import { createSensorCredential, createSensorRecord, fromUtf8, verifySensorRecord } from '../../src/core/index.ts'
import { readingTopic } from '../../src/gateway/collector/index.ts'
import { startFixture, type Fixture } from './helpers.ts'
import mqtt, { type MqttClient } from 'mqtt'

const run = promisify(execFile)

/** A second sensor of the same owner, with a credential of its own. */
async function addSensor (f: Fixture, sensorId: string): Promise<string> {
  const { credential, verifier } = await createSensorCredential(f.suite)
  f.sensors.set(sensorId, await verifySensorRecord(f.suite, await createSensorRecord(f.suite, f.owner, { sensorId, verifier, seq: 1 })))
  return credential
}

describe('MQTT: a client id belongs to one sensor', { timeout: 60_000 }, () => {
  let f: Fixture
  let target: string
  let otherCredential: string
  before(async () => {
    f = await startFixture()
    target = `mqtt://127.0.0.1:${f.collector.mqttPort}`
    otherCredential = await addSensor(f, 'other-sensor')
  })
  after(async () => { await f.close() })

  const connect = async (username: string, password: string, clientId: string): Promise<MqttClient> =>
    await mqtt.connectAsync(target, { username, password, clientId, reconnectPeriod: 0, connectTimeout: 5000 }, false)

  it('refuses another sensor\'s CONNECT with a held client id (CONNACK 2), and lets the same sensor take over', async () => {
    const first = await connect(f.sensorId, f.credential, 'shared-id')
    let firstClosed = false
    first.on('close', () => { firstClosed = true })
    await assert.rejects(connect('other-sensor', otherCredential, 'shared-id'), /[Ii]dentifier [Rr]ejected/)
    // the holder's session is untouched: it still publishes, on the same connection
    await first.publishAsync(readingTopic(f.sensorId), '{"still":"here"}', { qos: 1 })
    assert.equal(firstClosed, false)
    assert.equal(first.connected, true)
    // the same sensor may take its own session over ([MQTT-3.1.4-2])
    const closed = once(first as unknown as NodeJS.EventEmitter, 'close')
    const second = await connect(f.sensorId, f.credential, 'shared-id')
    await closed
    await second.publishAsync(readingTopic(f.sensorId), '{"taken":"over"}', { qos: 1 })
    assert.match((await f.everything()).toString('utf8'), /"code":"GM_ERR_MQTT_CLIENT_ID"/)
    // once the holder's clean session ended, the id is free
    await second.endAsync()
    const other = await connect('other-sensor', otherCredential, 'shared-id')
    await other.publishAsync(readingTopic('other-sensor'), '1', { qos: 1 })
    await other.endAsync()
  })
})

/** MQTT 3.1.1 packets, written by hand: what a client that resends a QoS 2 PUBLISH sends. */
function remainingLength (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}
function str (text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes])
}
function packet (type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, ...remainingLength(body.length)]), body])
}
function connectPacket (clientId: string, username: string, password: string): Buffer {
  // protocol name, level 4, flags: user name, password, clean session; keep alive 60 s
  return packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 60]), str(clientId), str(username), str(password)]))
}
function publishQos2 (topic: string, id: number, payload: string, dup: boolean): Buffer {
  return packet(dup ? 0x3c : 0x34, Buffer.concat([str(topic), Buffer.from([id >> 8, id & 0xff]), Buffer.from(payload, 'utf8')]))
}
function pubrel (id: number): Buffer {
  return Buffer.from([0x62, 2, id >> 8, id & 0xff])
}

/** The packets a socket receives, as [type nibble, packet id or return code]. */
class PacketReader {
  private buffer = Buffer.alloc(0)
  readonly packets: Array<[number, number]> = []
  private readonly waiters: Array<() => void> = []
  constructor (socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk])
      // every packet the collector sends here is 4 bytes: CONNACK, PUBREC, PUBCOMP
      while (this.buffer.length >= 4) {
        const type = (this.buffer[0] as number) >> 4
        this.packets.push([type, type === 2 ? this.buffer[3] as number : this.buffer.readUInt16BE(2)])
        this.buffer = this.buffer.subarray(4)
      }
      for (const wake of this.waiters.splice(0)) wake()
    })
  }

  /** Resolves once `count` packets of `type` arrived. */
  async received (type: number, count: number): Promise<void> {
    while (this.packets.filter(p => p[0] === type).length < count) await new Promise<void>(resolve => { this.waiters.push(resolve) })
  }
}

describe('MQTT: a QoS 2 PUBLISH sent again before PUBREL is journaled once', { timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('journals once whether the copy comes with the first, after the PUBREC, or without DUP; a new PUBLISH with the id after PUBREL counts again', async () => {
    const socket = netConnect(f.collector.mqttPort!, '127.0.0.1')
    const reader = new PacketReader(socket)
    await once(socket, 'connect')
    socket.write(connectPacket('qos2-client', f.sensorId, f.credential))
    await reader.received(2, 1)
    assert.deepEqual(reader.packets[0], [2, 0])
    const topic = readingTopic(f.sensorId)
    const before = f.handed.length
    // id 1: the copy in the same segment as the first (Aedes handles one read chunk concurrently)
    socket.write(Buffer.concat([publishQos2(topic, 1, '"one"', false), publishQos2(topic, 1, '"one"', true)]))
    await reader.received(5, 2)
    // id 2: the copy after the PUBREC, and a third without the DUP flag
    socket.write(publishQos2(topic, 2, '"two"', false))
    await reader.received(5, 3)
    socket.write(publishQos2(topic, 2, '"two"', true))
    await reader.received(5, 4)
    socket.write(publishQos2(topic, 2, '"two"', false))
    await reader.received(5, 5)
    socket.write(Buffer.concat([pubrel(1), pubrel(2)]))
    await reader.received(7, 2)
    // after PUBCOMP the id is free: a new reading with it is a new reading
    socket.write(publishQos2(topic, 1, '"one again"', false))
    await reader.received(5, 6)
    socket.write(pubrel(1))
    await reader.received(7, 3)
    socket.end()
    // a stop seals and hands off every journaled reading first
    await f.collector.stop()
    const opener = f.opener(f.owner)
    const got = await Promise.all(f.handed.slice(before).map(async r => fromUtf8((await opener.open(r.envelope)).plaintext)))
    assert.deepEqual(got.sort(), ['"one again"', '"one"', '"two"'])
  })
})

describe('MQTT: a refused CONNECT leaves the session holding its client id alone', { timeout: 60_000 }, () => {
  let f: Fixture
  let otherCredential: string
  before(async () => {
    f = await startFixture()
    otherCredential = await addSensor(f, 'other-sensor')
  })
  after(async () => { await f.close() })

  it('a QoS 2 packet awaiting its PUBREL is still known after another sensor\'s refused clean CONNECT with the same id', async () => {
    const socket = netConnect(f.collector.mqttPort!, '127.0.0.1')
    const reader = new PacketReader(socket)
    await once(socket, 'connect')
    socket.write(connectPacket('held-id', f.sensorId, f.credential))
    await reader.received(2, 1)
    const topic = readingTopic(f.sensorId)
    const before = f.handed.length
    socket.write(publishQos2(topic, 5, '"five"', false))
    await reader.received(5, 1)
    // the other sensor's clean session CONNECT, refused: Aedes cleans the store of a clean session as it closes
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${f.collector.mqttPort}`, { username: 'other-sensor', password: otherCredential, clientId: 'held-id', clean: true, reconnectPeriod: 0 }, false), /[Ii]dentifier [Rr]ejected/)
    socket.write(publishQos2(topic, 5, '"five"', true))
    await reader.received(5, 2)
    socket.write(pubrel(5))
    await reader.received(7, 1)
    socket.end()
    await f.collector.stop()
    assert.equal(f.handed.length, before + 1)
  })
})

describe('MQTT: the protocol versions of [COL-15]', { timeout: 60_000 }, () => {
  let f: Fixture
  before(async () => { f = await startFixture() })
  after(async () => { await f.close() })

  it('takes MQTT 3.1 and 3.1.1 and refuses 5.0 with CONNACK 1 (mosquitto_pub -V mqttv5 reports 132)', async () => {
    const port = String(f.collector.mqttPort)
    const pub = async (version: string): Promise<{ code: unknown, output: string }> => await run('mosquitto_pub', ['-V', version, '-d', '-h', '127.0.0.1', '-p', port,
      '-u', f.sensorId, '-P', f.credential, '-t', readingTopic(f.sensorId), '-q', '1', '-m', `"${version}"`])
      .then(({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }), (err: { code?: unknown, stdout?: string, stderr?: string }) => ({ code: err.code, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }))
    const before = f.handed.length
    for (const version of ['mqttv31', 'mqttv311']) {
      const result = await pub(version)
      assert.equal(result.code, 0, result.output)
      assert.match(result.output, /received PUBACK/)
    }
    await f.handedOff(before + 2)
    const v5 = await pub('mqttv5')
    assert.notEqual(v5.code, 0)
    assert.match(v5.output, /received CONNACK \(132\)/)
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username: f.sensorId, password: f.credential, protocolVersion: 5, reconnectPeriod: 0 }, false),
      (err: { code?: number }) => err.code === 1)
  })
})
