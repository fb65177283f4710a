/**
 * Shared fixtures for the access-service and client tests: an in-memory DHT, a test CA (the
 * network), certified gateway keys, readings.
 */
import {
  EnvelopeSealer, createAccountBundle, generateIdentity, sensorRecipients, signRecord, signRequest, toBase64, utf8, verifySensorRecord
} from '../../src/core/index.ts'
import type { Identity, SigningKey } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createAccessService } from '../../src/gateway/access/index.ts'
import type { AccessDht, AccessService, AccessServiceInit, HistorySource } from '../../src/gateway/access/index.ts'
import { createCertificateAuthority, issueGatewayCertificate, rawPublicKeyToPeerId } from '../../src/pki/index.ts'
import type { CaKeys, Role } from '../../src/pki/index.ts'

export const suite = createNodeCryptoSuite()
export const WEAK = { iterations: 1000, allowWeakKdf: true }

/** The overlay, reduced to a map; it does not validate (the service must). */
export class MemoryDht implements AccessDht {
  readonly values = new Map<string, Uint8Array>()
  puts = 0
  async get (key: string): Promise<Uint8Array | undefined> {
    return this.values.get(key)
  }

  async put (key: string, value: Uint8Array): Promise<void> {
    this.puts++
    this.values.set(key, Uint8Array.from(value))
  }
}

let network: Promise<CaKeys> | undefined

/** The tests' network: one CA per test process. */
export async function networkCa (): Promise<CaKeys> {
  network ??= createCertificateAuthority({ name: 'gatemesh test CA' })
  return await network
}

/** Another network's CA (a fresh one per call). */
export async function otherCa (): Promise<CaKeys> {
  return await createCertificateAuthority({ name: 'another network' })
}

export interface CertifiedKey {
  /** The gateway's Ed25519 key (its libp2p key), as a core SigningKey. */
  signer: SigningKey
  peerId: string
  /** Its certificate, DER, from `ca` with `roles`. */
  certificate: Uint8Array
}

/** A fresh gateway key and its certificate from `ca`. */
export async function certifiedKey (ca: CaKeys, roles: Role[], init: { validityMs?: number, now?: Date } = {}): Promise<CertifiedKey> {
  const signer = await suite.importSigningKey(suite.randomBytes(32))
  const peerId = rawPublicKeyToPeerId(signer.publicKey)
  const { der } = await issueGatewayCertificate(ca, { publicKey: signer.publicKey, peerId, roles, ...init })
  return { signer, peerId, certificate: der }
}

export interface Fixture {
  dht: MemoryDht
  service: AccessService
  /** The gateway's key: it signs index and (in putReading) latest records, and seals readings. */
  gateway: SigningKey
  /** Its certificate (collector and access unless asked otherwise). */
  certificate: Uint8Array
  /** The CA it trusts and serves at GET /v1/network. */
  ca: CaKeys
  url: string
}

/** A sign-up limit no test reaches unless it means to ([ACS-21]); suites that pass their own init get the default. */
export const ROOMY_SIGNUPS = { burst: 1000, perHour: 3600 }

export async function startService (init: AccessServiceInit = { allowWeakKdfForTests: true, signupLimit: ROOMY_SIGNUPS }, dht = new MemoryDht(), options: { ca?: CaKeys, roles?: Role[], history?: HistorySource, now?: () => number } = {}): Promise<Fixture> {
  const ca = options.ca ?? await networkCa()
  const { signer: gateway, certificate } = await certifiedKey(ca, options.roles ?? ['collector', 'access'])
  const logger = createLogger('test:access', { level: process.env.GATEMESH_LOG_LEVEL ?? 'silent' })
  const service = createAccessService({ suite, dht, logger, signer: gateway, certificate, caCertificate: ca.certificate, history: options.history, now: options.now }, init)
  await service.start()
  return { dht, service, gateway, certificate, ca, url: service.url }
}

export async function newUser (): Promise<{ identity: Identity, bundle: Uint8Array }> {
  const identity = await generateIdentity(suite)
  return { identity, bundle: await createAccountBundle(suite, identity, 'correct horse', WEAK) }
}

export async function call (url: string, method: string, path: string, options: { body?: unknown, signer?: Identity, headers?: Record<string, string> } = {}): Promise<{ status: number, body: Record<string, unknown>, headers: Record<string, string> }> {
  const text = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers: Record<string, string> = { ...(text === undefined ? {} : { 'content-type': 'application/json' }) }
  if (options.signer !== undefined) {
    Object.assign(headers, await signRequest(suite, { keyId: options.signer.pseudonym, key: options.signer.signingKey }, { method, url: path, body: text === undefined ? undefined : utf8(text) }))
  }
  Object.assign(headers, options.headers)
  const response = await fetch(url + path, { method, headers, body: text })
  return { status: response.status, body: await response.json() as Record<string, unknown>, headers: headers }
}

/** An envelope of `sensorId` sealed by `sealer` for the sensor's current list (as held in `dht`). */
export async function sealFor (dht: MemoryDht, sealer: SigningKey, header: { sensor: string, seq: number, ts?: number }, reading: string): Promise<Uint8Array> {
  const held = dht.values.get(`/gm-sensor/${header.sensor}`)
  if (held === undefined) throw new Error('no sensor record')
  const info = await verifySensorRecord(suite, held)
  return await new EnvelopeSealer({ suite, signer: sealer }).seal({ sensor: header.sensor, ts: header.ts ?? Date.now(), seq: header.seq }, utf8(reading), sensorRecipients(info))
}

/** What a collector does: seal a reading for the sensor's current list, put a `latest` record. */
export async function putReading (fixture: Fixture, sensorId: string, seq: number, reading: string): Promise<void> {
  const envelope = await sealFor(fixture.dht, fixture.gateway, { sensor: sensorId, seq }, reading)
  const record = await signRecord(suite, fixture.gateway, { type: 'latest', key: sensorId, seq, body: { envelope, gatewayCert: fixture.certificate } })
  await fixture.dht.put(`/gm-latest/${sensorId}`, record)
}

export { toBase64 }
