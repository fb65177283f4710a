/**
 * A stream broker on 127.0.0.1 with fakes for what the composition root plugs in: the overlay's
 * accounts and sensor records (maps, and a switch that makes the "DHT" fail), a token verifier
 * that implements the [STR-1] format (JWS compact, EdDSA, JWT claims) with the core suite's
 * Ed25519, and a stand-in stream payload (JSON naming the sensor and the recipients) in place of
 * [STR-20]'s CBOR, which the broker never reads itself (it asks `recipientsOf`).
 */
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { GatemeshError, createWebCryptoSuite, equalBytes, fromBase64Url, fromUtf8, generateIdentity, toBase64Url, utf8 } from '../../src/core/index.ts'
import type { Identity, PublicIdentity } from '../../src/core/index.ts'
import { createStreamBroker, type StreamBroker, type StreamBrokerComponents, type StreamBrokerInit } from '../../src/gateway/stream/index.ts'

export const suite = createWebCryptoSuite()

export interface TokenClaims { sub?: string, aud?: string, iat?: number, exp?: number }

/** [STR-1] A JWS compact token with EdDSA over the claims, signed by `signer`. */
export async function makeToken (signer: Identity, claims: TokenClaims = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const header = toBase64Url(utf8(JSON.stringify({ alg: 'EdDSA', typ: 'JWT' })))
  const body = { sub: claims.sub ?? signer.pseudonym, aud: claims.aud ?? 'gatemesh-stream', iat: claims.iat ?? now, exp: claims.exp ?? now + 3600, jti: toBase64Url(suite.randomBytes(16)) }
  const payload = toBase64Url(utf8(JSON.stringify(body)))
  const signature = await suite.sign(signer.signingKey, utf8(`${header}.${payload}`))
  return `${header}.${payload}.${toBase64Url(signature)}`
}

/** [STR-1] The test's verifier: what core's verifyStreamToken will do (codes aside). */
export async function verifyToken (token: string, expected: { sigPub: Uint8Array, pseudonym: string }): Promise<void> {
  if (token.length > 2048) throw new GatemeshError('GM_ERR_MALFORMED')
  const parts = token.split('.')
  if (parts.length !== 3) throw new GatemeshError('GM_ERR_MALFORMED')
  const [h, p, s] = parts as [string, string, string]
  let claims: { sub?: unknown, aud?: unknown, iat?: unknown, exp?: unknown }
  try {
    const header = JSON.parse(fromUtf8(fromBase64Url(h))) as { alg?: unknown }
    if (header.alg !== 'EdDSA') throw new Error('alg')
    claims = JSON.parse(fromUtf8(fromBase64Url(p))) as typeof claims
    if (!await suite.verify(expected.sigPub, utf8(`${h}.${p}`), fromBase64Url(s))) throw new GatemeshError('GM_ERR_BAD_SIGNATURE')
  } catch (err) {
    throw err instanceof GatemeshError ? err : new GatemeshError('GM_ERR_MALFORMED')
  }
  const now = Math.floor(Date.now() / 1000)
  if (typeof claims.iat !== 'number' || typeof claims.exp !== 'number' || now > claims.exp + 60 || claims.iat > now + 60 || claims.exp - claims.iat > 86_400) throw new GatemeshError('GM_ERR_EXPIRED')
  if (claims.sub !== expected.pseudonym || claims.aud !== 'gatemesh-stream') throw new GatemeshError('GM_ERR_PSEUDONYM_MISMATCH')
}

/** The stand-in payload: which sensor, for whom, and a counter. */
export function payload (sensorId: string, to: PublicIdentity[], n: number): Uint8Array {
  return utf8(JSON.stringify({ s: sensorId, to: to.map(u => u.pseudonym), n }))
}

export function recipientsOf (bytes: Uint8Array): { sensorId: string, recipients: Set<string> } {
  const value = JSON.parse(fromUtf8(bytes)) as { s: string, to: string[] }
  return { sensorId: value.s, recipients: new Set(value.to) }
}

export function counter (bytes: Uint8Array): number {
  return (JSON.parse(fromUtf8(bytes)) as { n: number }).n
}

export interface Fixture {
  broker: StreamBroker
  mqtt: string
  ws: string
  port: number
  accounts: Map<string, Uint8Array>
  sensors: Map<string, { owner: PublicIdentity, readers: PublicIdentity[] }>
  /** Set to make every account and sensor look-up fail, as an unreachable DHT. */
  dht: { down: boolean, accountLookups: number, sensorLookups: number, freshSensorLookups: number }
  /** A cache's stale copy of a sensor's record: answered unless the broker asks for a fresh one ([STR-10]). */
  staleSensors: Map<string, { owner: PublicIdentity, readers: PublicIdentity[] }>
  /** Every log line the broker wrote. */
  logs: () => string
  newUser: () => Promise<Identity>
  close: () => Promise<void>
}

/** `components` replaces the fakes it names (e.g. a verifyToken that holds log-ins at a gate). */
export async function startBroker (init: Partial<StreamBrokerInit> = {}, components: Partial<StreamBrokerComponents> = {}): Promise<Fixture> {
  const accounts = new Map<string, Uint8Array>()
  const sensors = new Map<string, { owner: PublicIdentity, readers: PublicIdentity[] }>()
  const dht = { down: false, accountLookups: 0, sensorLookups: 0, freshSensorLookups: 0 }
  const staleSensors = new Map<string, { owner: PublicIdentity, readers: PublicIdentity[] }>()
  const lines: string[] = []
  const logger = pino({ level: 'debug' }, new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString('utf8')); done() } }))
  const broker = createStreamBroker({
    logger,
    lookupAccount: async pseudonym => {
      dht.accountLookups++
      if (dht.down) throw new Error('no peer answered')
      const sigPub = accounts.get(pseudonym)
      return sigPub === undefined ? undefined : { sigPub }
    },
    verifyToken,
    lookupSensor: async (id, options) => {
      dht.sensorLookups++
      if (options?.fresh === true) dht.freshSensorLookups++
      if (options?.fresh !== true && staleSensors.has(id)) return staleSensors.get(id)
      if (dht.down) throw new Error('no peer answered')
      return sensors.get(id)
    },
    recipientsOf,
    ...components
  }, { host: '127.0.0.1', port: 0, wsPort: 0, sessionMax: 1000, ...init })
  await broker.start()
  const { mqtt, ws } = broker.endpoints()
  return {
    broker,
    mqtt,
    ws,
    port: Number(new URL(mqtt).port),
    accounts,
    sensors,
    dht,
    staleSensors,
    logs: () => lines.join(''),
    newUser: async () => {
      const user = await generateIdentity(suite)
      accounts.set(user.pseudonym, user.sigPub)
      return user
    },
    close: async () => { await broker.stop() }
  }
}

export { equalBytes }
