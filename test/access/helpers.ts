/** Shared fixtures for the access-service and client tests: an in-memory DHT, a gateway key, readings. */
import {
  EnvelopeSealer, createAccountBundle, generateIdentity, sensorRecipients, signRecord, signRequest, toBase64, utf8, verifySensorRecord
} from '../../src/core/index.ts'
import type { Identity, SigningKey } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createAccessService } from '../../src/gateway/access/index.ts'
import type { AccessDht, AccessService, AccessServiceInit } from '../../src/gateway/access/index.ts'

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

export interface Fixture {
  dht: MemoryDht
  service: AccessService
  gateway: SigningKey
  url: string
}

/** A sign-up limit no test reaches unless it means to ([ACS-18]); suites that pass their own init get the default. */
export const ROOMY_SIGNUPS = { burst: 1000, perHour: 3600 }

export async function startService (init: AccessServiceInit = { allowWeakKdfForTests: true, signupLimit: ROOMY_SIGNUPS }, dht = new MemoryDht()): Promise<Fixture> {
  const gateway = await suite.importSigningKey(suite.randomBytes(32))
  const logger = createLogger('test:access', { level: process.env.GATEMESH_LOG_LEVEL ?? 'silent' })
  const service = createAccessService({ suite, dht, logger, signer: gateway, certificate: utf8('test certificate') }, init)
  await service.start()
  return { dht, service, gateway, url: service.url }
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

/** What a collector does: seal a reading for the sensor's current list, put a `latest` record. */
export async function putReading (fixture: Fixture, sensorId: string, seq: number, reading: string): Promise<void> {
  const held = fixture.dht.values.get(`/gm-sensor/${sensorId}`)
  if (held === undefined) throw new Error('no sensor record')
  const info = await verifySensorRecord(suite, held)
  const sealer = new EnvelopeSealer({ suite, signer: fixture.gateway })
  const envelope = await sealer.seal({ sensor: sensorId, ts: Date.now(), seq }, utf8(reading), sensorRecipients(info))
  const record = await signRecord(suite, fixture.gateway, { type: 'latest', key: sensorId, seq, body: { envelope, gatewayCert: utf8('test certificate') } })
  await fixture.dht.put(`/gm-latest/${sensorId}`, record)
}

export { toBase64 }
