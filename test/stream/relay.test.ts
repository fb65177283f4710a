/**
 * The relay between peers over real certified overlays on 127.0.0.1 (libp2p TCP, Noise, Yamux,
 * the certificate gate, the relay protocol `/gatemesh/stream-relay/1.0.0`) with an in-test CA:
 * a collector's stream sink writes sealed batches to every stream peer, and each stream peer
 * hands each reading to its broker once ([STR-31]..[STR-37]); a certified peer without the
 * collector role sends its own sealed batch and every stream peer rejects it; a stream peer that
 * stops does not stop the others receiving; a stream peer that starts later is found and
 * receives; a stalled stream peer does not hold up the others (its drops are counted).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { EnvelopeSealer, decodeCanonical, generateIdentity, toHex, utf8 } from '../../src/core/index.ts'
import { createCertificateTrust, createRecordVerifier } from '../../src/gateway/index.ts'
import { RELAY_PROTOCOL } from '../../src/gateway/stream/relay.ts'
import { createStreamGatewayService } from '../../src/gateway/stream/relay-service.ts'
import { createStreamSink } from '../../src/gateway/stream/sink.ts'
import { createOverlayNode } from '../../src/overlay/index.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createTestCa, removeAll, seedGateway, tempDir } from '../overlay/helpers.ts'
import { eventuallyValue } from '../support/eventually.ts'
import type { SealedReading } from '../../src/gateway/pipeline/index.ts'
import type { StreamReading } from '../../src/gateway/stream/relay.ts'
import type { StreamGatewayService } from '../../src/gateway/stream/relay-service.ts'
import type { StreamSink } from '../../src/gateway/stream/sink.ts'
import type { CertificateTrust, OverlayNode, Role } from '../../src/overlay/index.ts'
import type { SeededIdentity, TestCa } from '../overlay/helpers.ts'

const suite = createNodeCryptoSuite()
const logger = createLogger('test:stream-relay', { level: 'silent' })

interface Peer {
  id: SeededIdentity
  overlay: OverlayNode
  sealer: EnvelopeSealer
}

interface StreamPeer extends Peer {
  service: StreamGatewayService
  /** Every reading its broker was given, in order. */
  received: StreamReading[]
}

describe('the relay between stream peers over certified overlays [STR-31]..[STR-35]', { timeout: 180_000 }, () => {
  let ca: TestCa
  let trust: CertificateTrust
  const dirs: string[] = []
  const peers: Peer[] = []
  let collector: Peer & { sink: StreamSink }
  let rogue: Peer
  let s1: StreamPeer
  let s2: StreamPeer
  let s3: StreamPeer
  const recipients: Array<{ id: string, publicKey: Uint8Array }> = []
  let seq = 0

  const addressOf = (overlay: OverlayNode): string => overlay.addresses().find(x => x.includes('/127.0.0.1/')) as string

  async function peer (roles: Role[], bootstrap?: string[]): Promise<Peer> {
    const dir = await tempDir('gm-stream-relay-')
    dirs.push(dir)
    const id = await seedGateway(dir, ca, { roles })
    const overlay = await createOverlayNode({ privateKey: id.privateKey, trust, records: createRecordVerifier() }, {
      dataDir: dir,
      certificate: id.certificate,
      services: roles,
      // every earlier peer: the stream peers and the collector know each other from the start
      bootstrap: bootstrap ?? peers.map(p => addressOf(p.overlay)),
      exchangeTimeout: 3000
    })
    const signer = await suite.importSigningKey(id.privateKey.raw.subarray(0, 32))
    const made: Peer = { id, overlay, sealer: new EnvelopeSealer({ suite, signer }) }
    peers.push(made)
    return made
  }

  async function streamPeer (bootstrap?: string[]): Promise<StreamPeer> {
    const base = await peer(['stream'], bootstrap)
    const received: StreamReading[] = []
    const service = createStreamGatewayService({
      overlay: base.overlay, suite, trust, local: {}, broker: { deliver: readings => { received.push(...readings) } }, logger
    })
    await base.overlay.start()
    await service.start()
    return { ...base, service, received }
  }

  /** A sealed batch of `n` readings, as the collector's pipeline hands it to its sinks. */
  async function sealed (by: Peer, n: number): Promise<SealedReading[]> {
    const headers = Array.from({ length: n }, () => ({ sensor: 'relay-greenhouse', ts: Date.now(), seq: ++seq }))
    const outcomes = await by.sealer.sealBatch(headers.map(header => ({ header, plaintext: utf8(`{"t":${header.seq}}`), recipients })))
    return outcomes.map((o, i) => {
      if (!('envelope' in o)) throw new Error('not sealed')
      const header = headers[i] as { sensor: string, ts: number, seq: number }
      return { sensorId: header.sensor, ts: header.ts, seq: header.seq, envelope: o.envelope }
    })
  }

  const envelopesOf = (readings: StreamReading[]): string[] => readings.map(r => toHex((decodeCanonical(r.payload) as { env: Uint8Array }).env))

  /** Resolves once `peer` holds exactly the envelopes `expected` (in any order), each once. */
  async function receivedExactly (target: StreamPeer, expected: SealedReading[], what: string): Promise<void> {
    const want = expected.map(r => toHex(r.envelope)).sort()
    await eventuallyValue(what, async () => envelopesOf(target.received).length >= want.length ? true : undefined, 30_000, 50)
    assert.deepEqual(envelopesOf(target.received).sort(), want, `${what}: each reading once`)
  }

  /** A collector's stream sink as the gateway wires it (src/gateway/index.ts), with a quick lookup. */
  function sinkOf (p: Peer, init: Parameters<typeof createStreamSink>[1] = {}): StreamSink {
    const sink = createStreamSink({
      dial: async (peerId, signal) => await p.overlay.dialProtocol(peerId, RELAY_PROTOCOL, { signal }),
      streamPeers: () => p.overlay.verifiedPeers().filter(v => v.services.includes('stream')).map(v => v.peerId),
      discover: async () => (await p.overlay.findPeersByRole('stream', `/gatemesh/stream-relay/${p.overlay.peerId}`, 64)).map(v => v.peerId),
      self: p.overlay.peerId,
      certificate: () => p.overlay.currentCertificate(),
      logger
    }, { discoverIntervalMs: 1000, refreshIntervalMs: 500, ...init })
    const refresh = (): void => { sink.refresh() }
    p.overlay.addEventListener('peer:verified', refresh)
    sink.start()
    return sink
  }

  before(async () => {
    ca = await createTestCa()
    trust = createCertificateTrust(ca.certificate)
    const reader = await generateIdentity(suite)
    recipients.push({ id: reader.pseudonym, publicKey: reader.encPub })
    s1 = await streamPeer()
    s2 = await streamPeer()
    s3 = await streamPeer()
    const c = await peer(['collector'])
    await c.overlay.start()
    collector = { ...c, sink: sinkOf(c) }
    // a certified gateway that may run stream but not collect
    rogue = await peer(['stream'])
    await rogue.overlay.start()
    // the collector's relay streams to the three stream peers are open
    await eventuallyValue('the relay streams', async () => collector.sink.status().open === 3 ? true : undefined, 60_000)
  })

  after(async () => {
    await collector?.sink.stop()
    for (const p of [s1, s2, s3]) await p?.service.stop().catch(() => {})
    await Promise.all(peers.map(async p => { await p.overlay.stop().catch(() => {}) }))
    await removeAll(dirs)
  })

  it('a collector writes sealed batches to every stream peer; every stream peer\'s broker gets each reading once', async () => {
    const batches = [await sealed(collector, 5), await sealed(collector, 1), await sealed(collector, 20)]
    for (const batch of batches) await collector.sink.deliver(batch)
    const all = batches.flat()
    for (const [name, target] of [['s1', s1], ['s2', s2], ['s3', s3]] as const) await receivedExactly(target, all, name)
    assert.equal(collector.sink.status().relayed, 3 * all.length, 'each reading to each of the three stream peers')
    for (const target of [s1, s2, s3]) assert.deepEqual(target.service.status().relay.rejected, {})
    assert.deepEqual(collector.sink.status().dropped, { noPeers: 0, queueFull: 0, publishFailed: 0 })
    // what arrives is the stream payload: the envelope as sealed and the collector's certificate
    const first = decodeCanonical(s1.received[0]?.payload as Uint8Array) as { v: number, cert: Uint8Array }
    assert.equal(first.v, 1)
    assert.deepEqual(first.cert, collector.id.certificate)
  })

  it('a certified peer without the collector role is rejected by every stream peer; nothing of it is delivered', async () => {
    const before = [s1, s2, s3].map(p => p.received.length)
    const forged = await sealed(rogue, 3)
    const rogueSink = sinkOf(rogue)
    await eventuallyValue('the rogue\'s relay streams', async () => rogueSink.status().open === 3 ? true : undefined, 60_000)
    await rogueSink.deliver(forged)
    await eventuallyValue('the rogue\'s message sent', async () => rogueSink.status().messages === 3 ? true : undefined)
    for (const target of [s1, s2, s3]) {
      await eventuallyValue('the rejection', async () => (target.service.status().relay.rejected.GM_ERR_STREAM_RELAY_CERT_REJECTED ?? 0) >= 1 ? true : undefined)
    }
    await rogueSink.stop()
    // a later good batch arrives, and the rogue's readings never did
    const next = await sealed(collector, 2)
    await collector.sink.deliver(next)
    for (const [i, target] of [s1, s2, s3].entries()) {
      await eventuallyValue('the next good batch', async () => target.received.length >= (before[i] as number) + 2 ? true : undefined)
      const got = envelopesOf(target.received)
      for (const r of forged) assert.ok(!got.includes(toHex(r.envelope)), 'a rogue reading reached a broker')
    }
  })

  it('a stream peer that stops does not stop the others receiving', async () => {
    await s2.service.stop()
    await s2.overlay.stop()
    await eventuallyValue('the collector\'s stream to s2 to break', async () => collector.sink.status().open === 2 ? true : undefined, 30_000)
    const before = [s1, s3].map(p => new Set(envelopesOf(p.received)))
    const batch = await sealed(collector, 10)
    await collector.sink.deliver(batch)
    for (const [i, target] of [s1, s3].entries()) {
      await eventuallyValue('the batch after s2 stopped', async () => target.received.length >= (before[i] as Set<string>).size + 10 ? true : undefined)
      const fresh = envelopesOf(target.received).filter(e => !(before[i] as Set<string>).has(e))
      assert.deepEqual(fresh.sort(), batch.map(r => toHex(r.envelope)).sort())
    }
  })

  it('a stream peer that starts later, known to the collector only through another stream peer, is found and receives', async () => {
    // s4 joins through s1 alone: the collector learns of it by its lookup or a connection s4's DHT makes
    const s4 = await streamPeer([addressOf(s1.overlay)])
    try {
      await eventuallyValue('the collector\'s relay stream to s4', async () => collector.sink.status().open === 3 ? true : undefined, 60_000)
      const batch = await sealed(collector, 4)
      await collector.sink.deliver(batch)
      await receivedExactly(s4, batch, 's4')
    } finally {
      await s4.service.stop()
      await s4.overlay.stop()
    }
  })

  it('a stalled stream peer does not hold up the others: the collector\'s queue for it stays bounded and drops, counted', async () => {
    // a certified stream peer that accepts the relay stream and never reads it (libp2p pauses it:
    // the yamux window fills and the collector's writes wait)
    const stalled = await peer(['stream'])
    await stalled.overlay.handle(RELAY_PROTOCOL, stream => { stream.pause() })
    await stalled.overlay.start()
    const maxQueuedBytes = 64 * 1024
    const sink = sinkOf(collector, { link: { maxQueuedBytes } })
    try {
      await eventuallyValue('the streams to s1, s3 and the stalled peer', async () => sink.status().open === 3 ? true : undefined, 60_000)
      const before = [s1.received.length, s3.received.length]
      // ~1.5 MiB of sealed readings: past the yamux window, the stream's buffer and the queue
      const batches: SealedReading[][] = []
      for (let i = 0; i < 60; i++) batches.push(await sealed(collector, 100))
      for (const batch of batches) {
        await sink.deliver(batch)
        await new Promise(resolve => setImmediate(resolve))
        assert.ok(sink.status().queuedBytes <= 3 * maxQueuedBytes, `${sink.status().queuedBytes} bytes queued`)
      }
      await eventuallyValue('s1 gets every reading', async () => s1.received.length >= (before[0] as number) + 6000 ? true : undefined, 60_000)
      await eventuallyValue('s3 gets every reading', async () => s3.received.length >= (before[1] as number) + 6000 ? true : undefined, 60_000)
      assert.ok(sink.status().dropped.queueFull > 0, 'the stalled peer\'s readings were dropped and counted')
      assert.equal(sink.status().open, 3, 'no stream was reset')
    } finally {
      await sink.stop()
      await stalled.overlay.stop()
    }
  })
})
