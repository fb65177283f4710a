/**
 * MQTT ingest: Aedes over TCP (sockets with noDelay, prepared by mqtt-socket.ts). A sensor
 * connects with username = its id and password = its credential, and publishes readings to
 * `sensors/<sensorId>/readings` with QoS 0 or 1; a QoS 1 PUBACK leaves only once the reading is
 * journaled. [COL-15] .. [COL-19]
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { GatemeshError, MAX_READING_BYTES, equalBytes, isGatemeshError, isSensorId } from '../../core/index.ts'
import type { SensorInfo } from '../../core/index.ts'
import type { Logger } from '../../platform/logger.ts'
import type { Ingest } from './ingest.ts'
import { prepareSensorSocket } from './mqtt-socket.ts'
import { checkReading } from './reading-text.ts'
import { ClientIdHolders, Qos2Receipts, type SessionClient } from './mqtt-sessions.ts'

/** The part of Aedes 1.x that the collector uses (aedes is loaded at start, see createMqttIngest). */
interface AedesClient extends SessionClient { close: (done?: () => void) => void }
interface AedesPublishPacket { topic: string, payload: Buffer | string, qos: number, retain: boolean, messageId?: number }
interface AedesAuthError extends Error { returnCode?: number }
interface AedesBroker {
  handle: (conn: Duplex) => unknown
  close: (done?: () => void) => void
  on: ((event: 'clientError' | 'connectionError', listener: (client: AedesClient, err: Error) => void) => unknown) &
    ((event: 'clientDisconnect', listener: (client: AedesClient) => void) => unknown)
  /** The broker's store; the collector asks it only whether a QoS 2 packet is held (resolves) or not (rejects). */
  persistence: { incomingGetPacket: (client: AedesClient, packet: { messageId: number }) => Promise<unknown> }
}
interface AedesModule { Aedes: { createBroker: (options: Record<string, unknown>) => Promise<AedesBroker> } }

export interface MqttIngestInit {
  host: string
  port: number
}

export interface MqttIngest {
  port: number
  close: () => Promise<void>
}

/** [COL-15] A reading's topic. */
export function readingTopic (sensorId: string): string {
  return `sensors/${sensorId}/readings`
}

const TOPIC_OVERHEAD = 512
/** [COL-5] Connections a listener holds at once; more are closed on accept. */
export const MAX_CONNECTIONS = 10_000
/** [COL-16] CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
const IDENTIFIER_REJECTED = 2
const BAD_USERNAME_OR_PASSWORD = 4
const NOT_AUTHORIZED = 5
const SERVER_UNAVAILABLE = 3

function authError (code: number, cause: GatemeshError): AedesAuthError {
  const error: AedesAuthError = new Error(cause.code)
  error.returnCode = code
  return error
}

function connackCode (err: unknown): number {
  if (isGatemeshError(err, 'GM_ERR_MQTT_CLIENT_ID')) return IDENTIFIER_REJECTED
  if (isGatemeshError(err, 'GM_ERR_SENSOR_UNKNOWN')) return NOT_AUTHORIZED
  if (isGatemeshError(err, 'GM_ERR_SENSOR_CREDENTIAL') || isGatemeshError(err, 'GM_ERR_READING_MALFORMED')) return BAD_USERNAME_OR_PASSWORD
  return SERVER_UNAVAILABLE
}

/** [COL-18] A reading published over MQTT is one reading's bytes, unchanged: the plaintext. */
function checkPayload (payload: Buffer | string): Uint8Array {
  const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  const plaintext = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
  checkReading(plaintext)
  return plaintext
}

async function loadAedes (): Promise<AedesModule> {
  const name = 'aedes'
  try {
    return await import(name) as AedesModule
  } catch (err) {
    throw new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', 'MQTT ingest needs the aedes package.', { cause: err })
  }
}

export async function createMqttIngest (ingest: Ingest, logger: Logger, init: MqttIngestInit): Promise<MqttIngest> {
  const { Aedes } = await loadAedes()
  /** The sensor each authenticated client speaks for, the verifier it proved, its QoS 2 receipts. */
  const sessions = new WeakMap<AedesClient, { sensorId: string, verifier: Uint8Array, qos2: Qos2Receipts }>()
  const clientIds = new ClientIdHolders()
  // set once the broker is created (the sessions' QoS 2 receipts ask its store)
  let held: (client: AedesClient, messageId: number) => Promise<boolean> = async () => false

  /** [COL-7] Journals one published reading of an authenticated session; resolves once committed. */
  const journal = (session: { sensorId: string, verifier: Uint8Array }, payload: Buffer | string): Promise<unknown> => {
    let plaintext: Uint8Array
    try {
      plaintext = checkPayload(payload)
      ingest.admit(session.sensorId, 1)
    } catch (err) { return Promise.reject(err) }
    const accept = async (info: SensorInfo): Promise<unknown> => {
      // [COL-16] a credential replaced since CONNECT ends the session
      if (!equalBytes(info.verifier, session.verifier)) throw new GatemeshError('GM_ERR_SENSOR_CREDENTIAL')
      return await ingest.accept(info, [plaintext])
    }
    // the sensor's record, fresh in the directory's cache, at once: no look-up's promises
    const cached = ingest.cachedSensor(session.sensorId)
    return cached !== undefined ? accept(cached) : ingest.sensor(session.sensorId).then(accept)
  }

  const broker = await Aedes.createBroker({
    connectTimeout: 10_000,
    heartbeatInterval: 3_600_000,
    maxClientsIdLength: 128,
    drainTimeout: 30_000,
    // [COL-19] a will would be published by the broker on the sensor's behalf, unsealed: dropped
    preConnect: (_client: AedesClient, packet: { will?: unknown }, done: (err: Error | null, ok: boolean) => void) => {
      delete packet.will
      done(null, true)
    },
    // [COL-16]
    authenticate: (client: AedesClient, username: string | undefined, password: Buffer | undefined, done: (err: AedesAuthError | null, ok: boolean | null) => void) => {
      const sensorId = username ?? ''
      const credential = password?.toString('utf8')
      ingest.authenticate(sensorId, credential).then(info => {
        // [COL-16] another sensor's session holds this client id: refused, the session untouched
        if (!clientIds.claim(client, sensorId)) throw new GatemeshError('GM_ERR_MQTT_CLIENT_ID')
        sessions.set(client, { sensorId, verifier: info.verifier, qos2: new Qos2Receipts(async messageId => await held(client, messageId)) })
        done(null, true)
      }).catch((err: unknown) => {
        const error = isGatemeshError(err) ? err : new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', undefined, { cause: err })
        logger.info({ code: error.code, sensor: isSensorId(sensorId) ? sensorId : undefined }, 'mqtt connect refused')
        // a refused CONNECT has no session: Aedes would otherwise clean, as it closes, the
        // QoS 2 store of whichever session holds the client id it named
        client.clean = false
        done(authError(connackCode(error), error), false)
      })
    },
    // [COL-17] [COL-7] the PUBACK waits for this callback, which waits for the journal
    authorizePublish: (client: AedesClient, packet: AedesPublishPacket, done: (err?: Error | null) => void) => {
      const received = performance.now()
      const session = sessions.get(client)
      const refuse = (err: unknown): void => {
        const error = isGatemeshError(err) ? err : new GatemeshError('GM_ERR_COLLECTOR_INTERNAL', undefined, { cause: err })
        ingest.metrics.refused('mqtt', error.code)
        logger.info({ code: error.code, sensor: session?.sensorId }, 'mqtt publish refused, disconnecting')
        done(error)
      }
      if (session === undefined) { refuse(new GatemeshError('GM_ERR_SENSOR_CREDENTIAL')); return }
      if (packet.topic !== readingTopic(session.sensorId)) { refuse(new GatemeshError('GM_ERR_MQTT_TOPIC')); return }
      // [COL-17] a QoS 2 packet id received again before its PUBREL is journaled once
      const accepted = packet.qos === 2 && packet.messageId !== undefined
        ? session.qos2.receive(packet.messageId, async () => await journal(session, packet.payload))
        : journal(session, packet.payload)
      accepted.then(() => {
        // the broker keeps nothing: no retained copy, no plaintext in its queues
        packet.retain = false
        packet.payload = Buffer.alloc(0)
        done(null)
        ingest.metrics.accepted('mqtt', 1)
        ingest.metrics.acknowledged('mqtt', (performance.now() - received) / 1000)
      }).catch(refuse)
    },
    // [COL-15] nothing is delivered from the collector
    authorizeSubscribe: (client: AedesClient, _sub: unknown, done: (err: Error | null, sub: null) => void) => {
      logger.debug({ code: 'GM_ERR_MQTT_SUBSCRIBE', sensor: sessions.get(client)?.sensorId }, 'mqtt subscribe refused')
      done(null, null)
    },
    authorizeForward: () => null,
    // [COL-17] a QoS 2 packet reaches this hook once Aedes has stored it (until its PUBREL)
    published: (packet: AedesPublishPacket, client: AedesClient | null, done: (err: Error | null) => void) => {
      if (client !== null && packet.qos === 2 && packet.messageId !== undefined) sessions.get(client)?.qos2.storedByBroker(packet.messageId)
      done(null)
    }
  })
  held = async (client, messageId) => await broker.persistence.incomingGetPacket(client, { messageId }).then(() => true, () => false)
  broker.on('clientDisconnect', client => { clientIds.release(client) })
  broker.on('clientError', (client, err) => {
    logger.debug({ code: (err as GatemeshError).code ?? 'mqtt', sensor: sessions.get(client)?.sensorId, reason: isGatemeshError(err) ? undefined : err.message }, 'mqtt client error')
  })
  broker.on('connectionError', (_client, err) => {
    logger.debug({ code: (err as GatemeshError).code ?? 'mqtt', reason: isGatemeshError(err) ? undefined : err.message }, 'mqtt connection error')
  })

  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => { /* reported through the broker */ })
    broker.handle(socket)
    // [COL-17] once the broker reads the socket (see mqtt-socket.ts)
    prepareSensorSocket(socket, MAX_READING_BYTES + TOPIC_OVERHEAD, err => {
      ingest.metrics.refused('mqtt', err.code)
      logger.info({ code: err.code }, 'mqtt packet too large, disconnecting')
    })
  })
  server.maxConnections = MAX_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port, init.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : init.port

  return {
    port,
    async close () {
      await new Promise<void>(resolve => { broker.close(() => resolve()) })
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  }
}
