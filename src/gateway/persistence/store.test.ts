/**
 * [PER-2] `store` checks each gateway and each sensor once per request, whatever the number of
 * envelopes naming it, and still names every refused envelope with its own code in request order:
 * the real handler over the in-memory engine, a verifier that counts what it is asked.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeSealer, GatemeshError, decodeCanonical, encodeCanonical, generateIdentity, utf8 } from '../../core/index.ts'
import type { SigningKey } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import { createHandler } from './handlers.ts'
import { gwPeerId, type StoreVerifier } from './verify.ts'
import type { StoreResponse } from './protocol.ts'

const suite = createNodeCryptoSuite()
const reader = await generateIdentity(suite)
const recipients = [{ id: reader.pseudonym, publicKey: reader.encPub }]
const SEQ0 = 1_764_000_000_000_000

async function seal (key: SigningKey, sensors: readonly string[], from: number): Promise<Uint8Array[]> {
  const outcomes = await new EnvelopeSealer({ suite, signer: key }).sealBatch(sensors.map((sensor, i) => ({ header: { sensor, ts: Math.floor((SEQ0 + from + i) / 1000), seq: SEQ0 + from + i }, plaintext: utf8(`r${from + i}`), recipients })))
  return outcomes.map(o => (o as { envelope: Uint8Array }).envelope)
}

describe('store: each gateway and sensor checked once per request [PER-2]', () => {
  it('64 envelopes of 3 sensors (one unknown), another gateway\'s and forged ones: one certificate check, one sensor check each, every refusal named in order', async () => {
    const key = await suite.importSigningKey(suite.randomBytes(32))
    const stranger = await suite.importSigningKey(suite.randomBytes(32))
    const sensors = Array.from({ length: 64 }, (_, i) => ['s-a', 's-b', 's-unknown'][i % 3] as string)
    const envs = await seal(key, sensors, 0)
    // a body altered under its proof (refused by [ENV-9]), and a reading of another collector (not the pusher's own)
    const member = decodeCanonical(envs[10] as Uint8Array) as { b: Uint8Array }
    const altered = Uint8Array.from(member.b); altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 1
    envs[10] = encodeCanonical({ ...member, b: altered })
    const [foreign] = await seal(stranger, ['s-a'], 1_000)
    envs.splice(20, 0, foreign as Uint8Array)
    const asked = { collector: 0, sensors: new Map<string, number>() }
    const verifier = {
      checkCollector: async () => { asked.collector++; return { notBefore: new Date(0), notAfter: new Date(8.64e15) } },
      checkSensor: async (sensor: string) => {
        asked.sensors.set(sensor, (asked.sensors.get(sensor) ?? 0) + 1)
        if (sensor === 's-unknown') throw new GatemeshError('GM_ERR_PERSISTENCE_SENSOR_UNKNOWN')
      }
    } as unknown as StoreVerifier
    const engine = createMemoryEngineForTests()
    const handler = createHandler({ suite, engine, verifier, assertRoom: async () => {} })
    const pusher = { peerId: gwPeerId(key.publicKey), services: ['collector'] } as unknown as VerifiedPeer
    const answer = await handler({ op: 'store', certs: [new Uint8Array(300)], envs, cps: [] }, pusher, new AbortController().signal) as StoreResponse
    const expected: StoreResponse['rejected'] = []
    let stored = 0
    for (let i = 0; i < envs.length; i++) {
      if (i === 10) expected.push({ i, kind: 'env', code: 'GM_ERR_BAD_SIGNATURE' })
      else if (i === 20) expected.push({ i, kind: 'env', code: 'GM_ERR_PERSISTENCE_FORBIDDEN' })
      else if (sensors[i > 20 ? i - 1 : i] === 's-unknown') expected.push({ i, kind: 'env', code: 'GM_ERR_PERSISTENCE_SENSOR_UNKNOWN' })
      else stored++
    }
    assert.deepEqual(answer, { ok: true, stored, duplicates: 0, rejected: expected })
    assert.equal(engine.readings().length, stored)
    assert.equal(asked.collector, 1, 'the collector\'s certificate checked once')
    assert.deepEqual(Object.fromEntries(asked.sensors), { 's-a': 1, 's-b': 1, 's-unknown': 1 }, 'each sensor checked once')
  })

  it('a push of 64 sensors the replica does not know yet looks them up 16 at a time, not one after the other', async () => {
    const key = await suite.importSigningKey(suite.randomBytes(32))
    const sensors = Array.from({ length: 64 }, (_, i) => `cold-${i}`)
    const envs = await seal(key, sensors, 0)
    let running = 0
    let most = 0
    let waiting: Array<() => void> = []
    // each look-up waits until 16 are running (or none more can start), as a DHT look-up waits for the network
    const release = (): void => { const w = waiting; waiting = []; for (const go of w) go() }
    const verifier = {
      checkCollector: async () => ({ notBefore: new Date(0), notAfter: new Date(8.64e15) }),
      checkSensor: async () => {
        running++
        most = Math.max(most, running)
        await new Promise<void>(resolve => {
          waiting.push(resolve)
          if (waiting.length >= 16) release()
          else setImmediate(release) // one at a time: released on the next turn
        })
        running--
      }
    } as unknown as StoreVerifier
    const engine = createMemoryEngineForTests()
    const handler = createHandler({ suite, engine, verifier, assertRoom: async () => {} })
    const pusher = { peerId: gwPeerId(key.publicKey), services: ['collector'] } as unknown as VerifiedPeer
    const answer = await handler({ op: 'store', certs: [new Uint8Array(300)], envs, cps: [] }, pusher, new AbortController().signal) as StoreResponse
    assert.deepEqual(answer, { ok: true, stored: 64, duplicates: 0, rejected: [] })
    assert.equal(most, 16, 'sixteen sensors looked up at once')
  })
})
