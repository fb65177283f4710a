/**
 * The relay message [STR-30] and what a stream peer accepts [STR-31], with the real PKI (an
 * in-test CA, real certificates and a real CRL) and real sealed batches; the relay's framing
 * ([STR-32]); and the stream peer's side of the relay ([STR-33], [STR-34]) on in-memory libp2p
 * streams.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { EnvelopeSealer, decodeCanonical, encodeCanonical, generateIdentity, isGatemeshError, utf8 } from '../../core/index.ts'
import { createCertificateAuthority, createRevocationList, issueGatewayCertificate } from '../../pki/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createLogger } from '../../platform/logger.ts'
import { createCertificateTrust } from '../trust.ts'
import {
  MAX_RELAY_ENVELOPES, MAX_RELAY_MESSAGE_BYTES, RELAY_PROTOCOL, createRelayFrameDecoder, createStreamRelay, decodeRelayMessage, encodeRelayFrame, encodeRelayMessages, validateRelayMessage
} from './relay.ts'
import type { CryptoSuite } from '../../core/index.ts'
import type { Role } from '../../pki/index.ts'
import type { VerifiedPeer, VerifiedRevocationList } from '../../overlay/index.ts'
import type { RelayOverlay, StreamReading } from './relay.ts'
import type { Stream } from '@libp2p/interface'

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

describe('the relay\'s framing [STR-32]', () => {
  it('a frame is the varint length then the message; split anywhere, the decoder gives back the messages in order', () => {
    const messages = [new Uint8Array([1]), new Uint8Array(127).fill(2), new Uint8Array(128).fill(3), new Uint8Array(70_000).fill(4)]
    const frames = messages.map(encodeRelayFrame)
    assert.deepEqual([...(frames[0] as Uint8Array)], [1, 1])
    assert.deepEqual([...(frames[2] as Uint8Array).subarray(0, 2)], [0x80, 0x01])
    assert.deepEqual([...(frames[3] as Uint8Array).subarray(0, 3)], [0xf0, 0xa2, 0x04])
    const all = Uint8Array.from(frames.flatMap(f => [...f]))
    for (const step of [1, 7, 1000, all.length]) {
      const decoder = createRelayFrameDecoder()
      const got: Uint8Array[] = []
      for (let at = 0; at < all.length; at += step) got.push(...decoder.push(all.subarray(at, at + step)))
      assert.deepEqual(got, messages, `chunks of ${step}`)
    }
  })

  it('a frame declaring more than 1 MiB is GM_ERR_STREAM_RELAY_TOO_LARGE from its prefix alone; encoding one is refused too', async () => {
    const decoder = createRelayFrameDecoder()
    // the varint of 1 MiB + 1: 0x81 0x80 0x40
    assert.equal(await codeOf(Promise.resolve().then(() => decoder.push(new Uint8Array([0x81, 0x80, 0x40])))), 'GM_ERR_STREAM_RELAY_TOO_LARGE')
    assert.equal(await codeOf(Promise.resolve().then(() => encodeRelayFrame(new Uint8Array(MAX_RELAY_MESSAGE_BYTES + 1)))), 'GM_ERR_STREAM_RELAY_TOO_LARGE')
    // exactly 1 MiB passes
    assert.equal(createRelayFrameDecoder().push(encodeRelayFrame(new Uint8Array(MAX_RELAY_MESSAGE_BYTES)))[0]?.length, MAX_RELAY_MESSAGE_BYTES)
  })
})

/** An overlay stand-in: `open(peer)` hands the relay's handler one end of an in-memory stream pair and returns the other. */
function fakeOverlay (): RelayOverlay & { open: (peerId: string) => Promise<Stream>, protocols: string[] } {
  let handler: ((stream: Stream, peer: VerifiedPeer) => void | Promise<void>) | undefined
  const overlay = {
    protocols: [] as string[],
    async handle (protocol: string, h: typeof handler) { overlay.protocols.push(protocol); handler = h },
    async unhandle (protocol: string) { overlay.protocols = overlay.protocols.filter(p => p !== protocol); handler = undefined },
    async open (peerId: string): Promise<Stream> {
      const [outbound, inbound] = await streamPair()
      await handler?.(inbound, { peerId } as unknown as VerifiedPeer)
      return outbound
    }
  }
  return overlay
}

const closed = async (stream: Stream): Promise<void> => {
  if (stream.status !== 'open') return
  await new Promise(resolve => stream.addEventListener('close', resolve, { once: true }))
}

describe('the stream peer\'s side of the relay [STR-33] [STR-34]', () => {
  it('handles the relay protocol; delivers a good message\'s readings once, in order; refuses bad ones, counted by code, delivering nothing', async () => {
    const overlay = fakeOverlay()
    const delivered: StreamReading[][] = []
    const relay = createStreamRelay({ ...components(), overlay, deliver: readings => { delivered.push(readings) }, logger })
    await relay.start()
    assert.deepEqual(overlay.protocols, [RELAY_PROTOCOL])
    const good = await overlay.open(collector.peerId)
    const second = await batch(collector, 2, 'greenhouse-9')
    good.send(Uint8Array.from([...encodeRelayFrame(message(collector.cert, envs)), ...encodeRelayFrame(message(collector.cert, second))]))
    await eventually(() => delivered.length === 2)
    assert.deepEqual(delivered.map(d => d.length), [5, 2])
    assert.equal(delivered[1]?.[0]?.sensorId, 'greenhouse-9')
    assert.equal(relay.status().peers, 1)
    // the certificate of another peer than the stream's, and another gateway's envelopes
    good.send(encodeRelayFrame(message(other.cert, envs)))
    const fromOther = await overlay.open(other.peerId)
    fromOther.send(encodeRelayFrame(message(other.cert, envs)))
    fromOther.send(encodeRelayFrame(new Uint8Array([0xff, 0x00])))
    await eventually(() => Object.values(relay.status().rejected).reduce((a, b) => a + b, 0) === 3)
    assert.equal(delivered.length, 2, 'nothing refused reached the broker')
    const status = relay.status()
    assert.deepEqual({ accepted: status.accepted, delivered: status.delivered, rejected: status.rejected, peers: status.peers }, {
      accepted: 2, delivered: 7, rejected: { GM_ERR_STREAM_RELAY_CERT_REJECTED: 1, GM_ERR_STREAM_RELAY_WRONG_GATEWAY: 1, GM_ERR_STREAM_RELAY_MALFORMED: 1 }, peers: 2
    })
    await relay.stop()
    await closed(good)
    assert.deepEqual(overlay.protocols, [])
  })

  it('resets a stream after repeated refused frames, and at once on a frame declaring more than 1 MiB; other streams go on', async () => {
    const overlay = fakeOverlay()
    const delivered: StreamReading[][] = []
    const relay = createStreamRelay({ ...components(), overlay, deliver: readings => { delivered.push(readings) }, logger }, { maxBadFrames: 3 })
    await relay.start()
    const forger = await overlay.open(other.peerId)
    for (let i = 0; i < 3; i++) forger.send(encodeRelayFrame(message(collector.cert, envs)))
    await closed(forger)
    assert.notEqual(forger.status, 'closed', 'reset, not closed')
    const huge = await overlay.open(collector.peerId)
    huge.send(new Uint8Array([0x81, 0x80, 0x40, 1, 2, 3]))
    await closed(huge)
    await eventually(() => relay.status().resets === 2)
    assert.equal(relay.status().rejected.GM_ERR_STREAM_RELAY_TOO_LARGE, 1)
    const good = await overlay.open(collector.peerId)
    good.send(encodeRelayFrame(message(collector.cert, envs)))
    await eventually(() => delivered.length === 1)
    await relay.stop()
  })
})

async function eventually (test: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
