/** Signed test records for the gatemesh namespaces, made with src/core. */
import { generateIdentity, signRecord } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import type { Identity } from '../../src/core/index.ts'
import type { PrivateKey } from '@libp2p/interface'

export const suite = createNodeCryptoSuite()

export async function newIdentity (): Promise<Identity> {
  return await generateIdentity(suite)
}

export async function accountRecord (id: Identity, seq: number, init: { signer?: Identity, key?: string, exp?: number } = {}): Promise<Uint8Array> {
  return await signRecord(suite, (init.signer ?? id).signingKey, {
    type: 'account', key: init.key ?? id.pseudonym, seq, exp: init.exp, body: { sigPub: id.sigPub, encPub: id.encPub }
  })
}

export async function sensorRecord (owner: Identity, sensorId: string, seq: number, init: { signer?: Identity } = {}): Promise<Uint8Array> {
  return await signRecord(suite, (init.signer ?? owner).signingKey, {
    type: 'sensor', key: sensorId, seq, body: { owner: { sigPub: owner.sigPub, encPub: owner.encPub }, acl: [owner.pseudonym] }
  })
}

/** A latest reading signed with a gateway's libp2p key (raw = seed || public). */
export async function latestRecord (gatewayKey: PrivateKey, gatewayCert: Uint8Array, sensorId: string, seq: number): Promise<Uint8Array> {
  const signer = await suite.importSigningKey(gatewayKey.raw.subarray(0, 32))
  return await signRecord(suite, signer, { type: 'latest', key: sensorId, seq, body: { gatewayCert, reading: new Uint8Array([1, 2, 3]) } })
}

/** The same record with one signature byte flipped. */
export function corrupt (bytes: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(bytes)
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0xff
  return copy
}
