/** Signed test records for the gatemesh namespaces, made with src/core. */
import { EnvelopeSealer, createAccountBundle, createSensorRecord, decodeCanonical, generateIdentity, MIN_KDF_ITERATIONS, signRecord } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import type { Identity } from '../../src/core/index.ts'
import type { PrivateKey } from '@libp2p/interface'

export const suite = createNodeCryptoSuite()

export async function newIdentity (): Promise<Identity> {
  return await generateIdentity(suite)
}

const accountBodies = new Map<string, Promise<Record<string, unknown>>>()

/** A real account bundle body ([ACC-1], at the minimum KDF strength); made once per identity. */
async function accountBody (id: Identity): Promise<Record<string, unknown>> {
  let body = accountBodies.get(id.pseudonym)
  if (body === undefined) {
    body = createAccountBundle(suite, id, 'overlay test password', { iterations: MIN_KDF_ITERATIONS })
      .then(bytes => (decodeCanonical(bytes) as { body: Record<string, unknown> }).body)
    accountBodies.set(id.pseudonym, body)
  }
  return await body
}

/** A valid account bundle for `id` at `seq`; `signer`, `key` or `exp` make forged or expiring variants. */
export async function accountRecord (id: Identity, seq: number, init: { signer?: Identity, key?: string, exp?: number } = {}): Promise<Uint8Array> {
  return await signRecord(suite, (init.signer ?? id).signingKey, {
    type: 'account', key: init.key ?? id.pseudonym, seq, exp: init.exp, body: await accountBody(id)
  })
}

/** A valid sensor record ([SEN-2]) owned by `owner`; `signer` makes a forged variant. */
export async function sensorRecord (owner: Identity, sensorId: string, seq: number, init: { signer?: Identity } = {}): Promise<Uint8Array> {
  const real = await createSensorRecord(suite, owner, { sensorId, verifier: new Uint8Array(32), seq })
  if (init.signer === undefined) return real
  const { body } = decodeCanonical(real) as { body: Record<string, unknown> }
  return await signRecord(suite, init.signer.signingKey, { type: 'sensor', key: sensorId, seq, body })
}

/**
 * A latest reading signed with a gateway's libp2p key (raw = seed || public), carrying an envelope
 * that key sealed for the sensor ([COL-21], [OVL-31]).
 */
export async function latestRecord (gatewayKey: PrivateKey, gatewayCert: Uint8Array, sensorId: string, seq: number): Promise<Uint8Array> {
  const signer = await suite.importSigningKey(gatewayKey.raw.subarray(0, 32))
  const reader = await readerIdentity
  const envelope = await new EnvelopeSealer({ suite, signer }).seal({ sensor: sensorId, ts: Date.now(), seq }, new Uint8Array([1, 2, 3]), [{ id: reader.pseudonym, publicKey: reader.encPub }])
  return await signRecord(suite, signer, { type: 'latest', key: sensorId, seq, body: { envelope, gatewayCert } })
}

const readerIdentity = generateIdentity(suite)

/** The same record with one signature byte flipped. */
export function corrupt (bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes)
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0xff
  return copy
}
