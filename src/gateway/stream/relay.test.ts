/**
 * The relay message [STR-30] and what a stream peer accepts [STR-31], with the real PKI (an
 * in-test CA, real certificates and a real CRL) and real sealed batches; and the relay's verdicts
 * as gossipsub hears them ([STR-33], [STR-34]) with a fake gossipsub.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { EnvelopeSealer, decodeCanonical, encodeCanonical, generateIdentity, isGatemeshError, utf8 } from '../../core/index.ts'
import { createCertificateAuthority, createRevocationList, issueGatewayCertificate } from '../../pki/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createLogger } from '../../platform/logger.ts'
import { createCertificateTrust } from '../trust.ts'
import {
  MAX_RELAY_ENVELOPES, MAX_RELAY_MESSAGE_BYTES, RELAY_TOPIC, createStreamRelay, decodeRelayMessage, encodeRelayMessages, validateRelayMessage
} from './relay.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { Role } from '../../pki/index.ts'
import type { VerifiedRevocationList } from '../../overlay/index.ts'
import type { RelayPubsub, StreamReading } from './relay.ts'

const suite = createNodeCryptoSuite()
const caKeys = await createCertificateAuthority()
const ca = { privateKey: caKeys.privateKey, certificate: caKeys.certificate }
const trust = createCertificateTrust(ca.certificate)
const reader = await generateIdentity(suite)
const recipients = [{ id: reader.pseudonym, publicKey: reader.encPub }]
const logger = createLogger('test:stream-relay', { level: 'silent' })

interface Gw { peerId: string, cert: Uint8Array, serial: string, sealer: EnvelopeSealer }

async function gateway (roles: Role[] = ['collector']): Promise<Gw> {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const issued = await issueGatewayCertificate(ca, { publicKey: privateKey.publicKey.raw, peerId, roles })
  const signer = await suite.importSigningKey(privateKey.raw.subarray(0, 32))
  return { peerId, cert: issued.der, serial: issued.serial, sealer: new EnvelopeSealer({ suite, signer }) }
}

/** A sealed batch of `n` readings of one sensor (n ≥ 2: one batch signature; n = 1: signed alone). */
async function batch (gw: Gw, n: number, sensor = 'greenhouse-1'): Promise<Uint8Array[]> {
  const outcomes = await gw.sealer.sealBatch(Array.from({ length: n }, (_, i) => ({ header: { sensor, ts: 1_700_000_000_000 + i, seq: 1000 + i }, plaintext: utf8(`{"t":${i}}`), recipients })))
  return outcomes.map(o => { if (!('envelope' in o)) throw new Error('not sealed'); return o.envelope })
}

const collector = await gateway()
const other = await gateway()
const streamOnly = await gateway(['stream'])
const envs = await batch(collector, 5)

/** A suite that counts Ed25519 verifications. */
function countingSuite (): CryptoSuite & { verifies: number } {
  const counting = Object.create(suite) as CryptoSuite & { verifies: number }
  counting.verifies = 0
  counting.verify = async (...args: Parameters<CryptoSuite['verify']>) => { counting.verifies++; return await suite.verify(...args) }
  return counting
}

const components = (revocations?: VerifiedRevocationList, s: CryptoSuite = suite): Parameters<typeof validateRelayMessage>[0] => ({ suite: s, trust, revocations: () => revocations })
const message = (cert: Uint8Array, list: Uint8Array[]): Uint8Array => encodeCanonical({ v: 1, cert, envs: list })

async function codeOf (action: Promise<unknown>): Promise<string> {
  try {
    await action
  } catch (err) {
    assert.ok(isGatemeshError(err), `not a gatemesh error: ${String(err)}`)
    return err.code
  }
  return 'accepted'
}

describe('the relay message [STR-30]', () => {
  it('round-trips a batch as one message, in order', () => {
    const encoded = encodeRelayMessages(collector.cert, envs)
    assert.equal(encoded.length, 1)
    assert.equal(encoded[0]?.envelopes, 5)
    const decoded = decodeRelayMessage(encoded[0]?.bytes as Uint8Array)
    assert.deepEqual(decoded.cert, collector.cert)
    assert.deepEqual(decoded.envs, envs)
  })

  it('splits a batch over 1 MiB or over 4 096 envelopes into messages within both bounds, keeping the order', () => {
    const big = Array.from({ length: 40 }, (_, i) => new Uint8Array(60_000).fill(i))
    const parts = encodeRelayMessages(collector.cert, big)
    assert.ok(parts.length >= 3, `${parts.length} messages`)
    const back = parts.flatMap(p => { assert.ok(p.bytes.length <= MAX_RELAY_MESSAGE_BYTES); return decodeRelayMessage(p.bytes).envs })
    assert.deepEqual(back, big)
    const many = Array.from({ length: MAX_RELAY_ENVELOPES + 10 }, () => new Uint8Array([1, 2, 3]))
    const counted = encodeRelayMessages(collector.cert, many)
    assert.deepEqual(counted.map(p => p.envelopes), [MAX_RELAY_ENVELOPES, 10])
  })

  it('refuses what is not a relay message with GM_ERR_STREAM_RELAY_MALFORMED, and over 1 MiB with GM_ERR_STREAM_RELAY_TOO_LARGE before decoding', async () => {
    const env = envs[0] as Uint8Array
    const cases: Array<[string, Uint8Array]> = [
      ['not CBOR', new Uint8Array([0xff, 0x00, 0x01])],
      ['an array', encodeCanonical([1, collector.cert, [env]])],
      ['another version', encodeCanonical({ v: 2, cert: collector.cert, envs: [env] })],
      ['an unknown field', encodeCanonical({ v: 1, x: 1, cert: collector.cert, envs: [env] })],
      ['no envelopes', encodeCanonical({ v: 1, cert: collector.cert, envs: [] })],
      ['an envelope that is text', encodeCanonical({ v: 1, cert: collector.cert, envs: ['x'] })],
      ['an empty certificate', encodeCanonical({ v: 1, cert: new Uint8Array(0), envs: [env] })],
      ['a certificate over 8 KiB', encodeCanonical({ v: 1, cert: new Uint8Array(8193), envs: [env] })],
      ['too many envelopes', encodeCanonical({ v: 1, cert: collector.cert, envs: Array.from({ length: MAX_RELAY_ENVELOPES + 1 }, () => new Uint8Array([1])) })],
      // a map whose keys are not in canonical order
      ['non-canonical', Uint8Array.from([0xa3, 0x61, 0x76, 0x01, 0x64, ...utf8('envs'), 0x81, 0x41, 0x00, 0x64, ...utf8('cert'), 0x41, 0x01])]
    ]
    for (const [what, bytes] of cases) {
      assert.equal(await codeOf(Promise.resolve().then(() => decodeRelayMessage(bytes))), 'GM_ERR_STREAM_RELAY_MALFORMED', what)
      assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, bytes)), 'GM_ERR_STREAM_RELAY_MALFORMED', what)
    }
    const oversized = new Uint8Array(MAX_RELAY_MESSAGE_BYTES + 1)
    assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, oversized)), 'GM_ERR_STREAM_RELAY_TOO_LARGE')
  })
})

describe('what a stream peer accepts [STR-31]', () => {
  it('a certified collector\'s own sealed batch: every reading, as the stream payload { v: 1, env, cert }, its batch signature verified once', async () => {
    const counting = countingSuite()
    const readings = await validateRelayMessage(components(undefined, counting), collector.peerId, message(collector.cert, envs))
    assert.equal(readings.length, 5)
    assert.equal(counting.verifies, 1, 'one Ed25519 verification for the batch of 5')
    for (const [i, r] of readings.entries()) {
      assert.equal(r.sensorId, 'greenhouse-1')
      assert.deepEqual(decodeCanonical(r.payload), { v: 1, env: envs[i], cert: collector.cert })
    }
    // an envelope signed alone is accepted too
    const alone = await batch(collector, 1, 'greenhouse-2')
    assert.deepEqual((await validateRelayMessage(components(), collector.peerId, message(collector.cert, alone))).map(r => r.sensorId), ['greenhouse-2'])
  })

  it('a forged signature: GM_ERR_STREAM_RELAY_BAD_ENVELOPE (a batch\'s and a lone envelope\'s)', async () => {
    const forged = Uint8Array.from(envs[2] as Uint8Array)
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, message(collector.cert, [envs[0] as Uint8Array, forged]))), 'GM_ERR_STREAM_RELAY_BAD_ENVELOPE')
    const alone = Uint8Array.from((await batch(collector, 1))[0] as Uint8Array)
    alone[alone.length - 3] = (alone[alone.length - 3] as number) ^ 1
    assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, message(collector.cert, [alone]))), 'GM_ERR_STREAM_RELAY_BAD_ENVELOPE')
    assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, message(collector.cert, [new Uint8Array([1, 2, 3])]))), 'GM_ERR_STREAM_RELAY_BAD_ENVELOPE')
  })

  it('an envelope sealed by another gateway than the sender: GM_ERR_STREAM_RELAY_WRONG_GATEWAY', async () => {
    const others = await batch(other, 2)
    assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, message(collector.cert, [envs[0] as Uint8Array, ...others]))), 'GM_ERR_STREAM_RELAY_WRONG_GATEWAY')
  })

  it('the certificate of another peer than the sender: GM_ERR_STREAM_RELAY_CERT_REJECTED', async () => {
    assert.equal(await codeOf(validateRelayMessage(components(), collector.peerId, message(other.cert, envs))), 'GM_ERR_STREAM_RELAY_CERT_REJECTED')
    // the other peer sending the collector's envelopes with its own certificate: wrong gateway
    assert.equal(await codeOf(validateRelayMessage(components(), other.peerId, message(other.cert, envs))), 'GM_ERR_STREAM_RELAY_WRONG_GATEWAY')
  })

  it('a revoked certificate: GM_ERR_STREAM_RELAY_CERT_REJECTED once the current CRL names it', async () => {
    const crl = await trust.verifyRevocationList(await createRevocationList(ca, { number: 1, entries: [{ serial: collector.serial, revokedAt: new Date() }], nextUpdate: new Date(Date.now() + 3600_000) }))
    assert.equal(await codeOf(validateRelayMessage(components(crl), collector.peerId, message(collector.cert, envs))), 'GM_ERR_STREAM_RELAY_CERT_REJECTED')
    assert.equal(await codeOf(validateRelayMessage(components(crl), other.peerId, message(other.cert, await batch(other, 2)))), 'accepted', 'others are unaffected')
  })

  it('a certificate that does not grant collector: GM_ERR_STREAM_RELAY_CERT_REJECTED', async () => {
    assert.equal(await codeOf(validateRelayMessage(components(), streamOnly.peerId, message(streamOnly.cert, await batch(streamOnly, 2)))), 'GM_ERR_STREAM_RELAY_CERT_REJECTED')
  })

  it('a certificate of another CA: GM_ERR_STREAM_RELAY_CERT_REJECTED', async () => {
    const otherCa = await createCertificateAuthority({ name: 'rogue CA' })
    const privateKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(privateKey).toString()
    const issued = await issueGatewayCertificate(otherCa, { publicKey: privateKey.publicKey.raw, peerId, roles: ['collector'] })
    const sealer = new EnvelopeSealer({ suite, signer: await suite.importSigningKey(privateKey.raw.subarray(0, 32)) })
    const rogue = { peerId, cert: issued.der, serial: issued.serial, sealer }
    assert.equal(await codeOf(validateRelayMessage(components(), peerId, message(issued.der, await batch(rogue, 2)))), 'GM_ERR_STREAM_RELAY_CERT_REJECTED')
  })
})

/** A gossipsub stand-in: dispatches 'gossipsub:message' and records the verdicts reported. */
function fakePubsub (): RelayPubsub & { verdicts: string[], subscribed: string[] } {
  const target = new EventTarget() as unknown as RelayPubsub & { verdicts: string[], subscribed: string[] }
  target.verdicts = []
  target.subscribed = []
  target.subscribe = (topic: string) => { target.subscribed.push(topic) }
  target.unsubscribe = () => {}
  target.getSubscribers = () => []
  target.reportMessageValidationResult = (_id: string, _source: string, acceptance: TopicValidatorResult) => { target.verdicts.push(acceptance) }
  return target
}

describe('the relay as gossipsub hears it [STR-33]', () => {
  it('subscribes; ACCEPTs a good message and delivers its readings once; REJECTs a bad one, counted by code, delivering nothing', async () => {
    const pubsub = fakePubsub()
    const delivered: StreamReading[][] = []
    const relay = createStreamRelay({ ...components(), pubsub: () => pubsub, deliver: readings => { delivered.push(readings) }, logger })
    relay.start()
    assert.deepEqual(pubsub.subscribed, [RELAY_TOPIC])
    const send = async (from: string, data: Uint8Array, n: number): Promise<void> => {
      pubsub.dispatchEvent(new CustomEvent('gossipsub:message', { detail: { msgId: `m${n}`, propagationSource: peerIdFromString(from), msg: { type: 'signed', from: peerIdFromString(from), topic: RELAY_TOPIC, data } } }))
      while (pubsub.verdicts.length < n) await new Promise(resolve => setImmediate(resolve))
    }
    await send(collector.peerId, message(collector.cert, envs), 1)
    assert.deepEqual(pubsub.verdicts, [TopicValidatorResult.Accept])
    assert.equal(delivered.length, 1)
    assert.equal(delivered[0]?.length, 5)
    await send(collector.peerId, message(other.cert, envs), 2)
    await send(other.peerId, message(other.cert, envs), 3)
    pubsub.dispatchEvent(new CustomEvent('gossipsub:message', { detail: { msgId: 'm4', propagationSource: peerIdFromString(other.peerId), msg: { type: 'unsigned', topic: RELAY_TOPIC, data: message(other.cert, envs) } } }))
    assert.deepEqual(pubsub.verdicts, [TopicValidatorResult.Accept, TopicValidatorResult.Reject, TopicValidatorResult.Reject, TopicValidatorResult.Reject])
    assert.equal(delivered.length, 1, 'nothing refused reached the broker')
    const status = relay.status()
    assert.deepEqual({ accepted: status.accepted, delivered: status.delivered, rejected: status.rejected }, {
      accepted: 1, delivered: 5, rejected: { GM_ERR_STREAM_RELAY_CERT_REJECTED: 1, GM_ERR_STREAM_RELAY_WRONG_GATEWAY: 1, GM_ERR_STREAM_RELAY_MALFORMED: 1 }
    })
    relay.stop()
  })
})
