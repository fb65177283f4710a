/**
 * Scenario "stream-relay" (issue 16, "measure both relays"): how long a sealed batch takes from
 * the collector's publish to a stream peer's broker, over two relays between three certified
 * overlay nodes on 127.0.0.1 (TCP, Noise, Yamux, the certificate gate), in one process:
 *
 *   - gossipsub: the relay gatemesh built first (bench/gossipsub-relay.ts): the collector publishes
 *     each relay message (StrictSign: one Ed25519 signature per message) on `/gatemesh/readings/1`;
 *     two stream peers subscribe, validate ([STR-31]) and deliver.
 *   - direct: the relay as built ([STR-32]..[STR-35]): the collector's stream sink keeps one
 *     long-lived libp2p stream of `/gatemesh/stream-relay/1.0.0` to each stream peer, each relay
 *     message [STR-30] one varint-length-prefixed frame; the stream peer validates it ([STR-31],
 *     `from` being the stream's verified remote peer) and delivers.
 *
 * Offered load: 1 000 and 5 000 readings/s, sealed beforehand as the collector seals them
 * (batches of ~5 ms: 5 and 25 readings under one batch signature, [ENV-9]) and sent on a 5 ms
 * schedule. Figures: p50/p99/max publish→deliver latency per reading (both stream peers), readings
 * delivered / offered, after a 1 s warm-up. Writes bench/results/stream-relay.json and .md.
 *
 *   npm run bench -- stream-relay [--quick] [--seconds N]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { EnvelopeSealer, generateIdentity, utf8 } from '../src/core/index.ts'
import { createCertificateTrust, createRecordVerifier } from '../src/gateway/index.ts'
import { RELAY_PROTOCOL, createStreamRelay, encodeRelayMessages } from '../src/gateway/stream/relay.ts'
import { createStreamSink } from '../src/gateway/stream/sink.ts'
import { createOverlayNode } from '../src/overlay/index.ts'
import { createLogger } from '../src/platform/logger.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'
import { createCertificateAuthority, issueGatewayCertificate } from '../src/pki/index.ts'
import { PUBSUB_SERVICE, createGossipsubPublisher, createGossipsubRelay, relayPubsubService, safePeers } from './gossipsub-relay.ts'
import { environment, numberOption } from './harness.ts'
import type { SealedReading } from '../src/gateway/pipeline/index.ts'
import type { StreamReading } from '../src/gateway/stream/relay.ts'
import type { RelayPubsub } from './gossipsub-relay.ts'
import type { OverlayNode, Role } from '../src/overlay/index.ts'

const suite = createNodeCryptoSuite()
const logger = createLogger('bench:stream-relay', { level: 'silent' })
const BATCH_MS = 5
const WARMUP_MS = 1000
const RATES = [1000, 5000]

interface Node { overlay: OverlayNode, sealer: EnvelopeSealer, certificate: Uint8Array }

export function options (argv: string[]): { quick: boolean, seconds?: number } {
  return { quick: argv.includes('--quick'), seconds: numberOption(argv, '--seconds', false) }
}

/** The p-th percentile (0..100) of sorted values. */
function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

export interface RelayResult {
  relay: 'gossipsub' | 'direct'
  rate: number
  seconds: number
  offered: number
  /** Readings delivered at each stream peer (after the warm-up), over those offered. */
  deliveredRatio: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** CPU time this process used per second of the run (2 = both cores busy). */
  cpuPerSecond: number
  /** gossipsub: relay messages the stream peers IGNOREd (more than 64 being validated at once, [STR-34]). */
  ignored: number
  /** Readings dropped by the collector: gossipsub, messages whose publish failed or did not fit the queue; direct, the sink's drops (once per stream peer). */
  dropped: number
}

export async function run (opts: { quick?: boolean, seconds?: number } = {}): Promise<RelayResult[]> {
  const seconds = opts.seconds ?? (opts.quick === true ? 4 : 15)
  const dirs: string[] = []
  const nodes: Node[] = []
  const caKeys = await createCertificateAuthority()
  const ca = { privateKey: caKeys.privateKey, certificate: caKeys.certificate }
  const trust = createCertificateTrust(ca.certificate)
  const reader = await generateIdentity(suite)
  const recipients = [{ id: reader.pseudonym, publicKey: reader.encPub }]

  const node = async (roles: Role[]): Promise<Node> => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-bench-relay-'))
    dirs.push(dir)
    const privateKey = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(privateKey).toString()
    const issued = await issueGatewayCertificate(ca, { publicKey: privateKey.publicKey.raw, peerId, roles })
    const overlay = await createOverlayNode({ privateKey, trust, records: createRecordVerifier() }, {
      dataDir: dir, certificate: issued.der, services: roles, bootstrap: nodes.map(n => n.overlay.addresses()[0] as string), exchangeTimeout: 20_000,
      libp2pServices: { [PUBSUB_SERVICE]: relayPubsubService() }
    })
    const made = { overlay, sealer: new EnvelopeSealer({ suite, signer: await suite.importSigningKey(privateKey.raw.subarray(0, 32)) }), certificate: issued.der }
    nodes.push(made)
    return made
  }

  const results: RelayResult[] = []
  try {
    const receivers = [await node(['stream']), await node(['stream'])]
    for (const r of receivers) await r.overlay.start()
    const collector = await node(['collector'])
    await collector.overlay.start()
    const pubsubOf = (n: Node): RelayPubsub => n.overlay.service<RelayPubsub>(PUBSUB_SERVICE)
    const validator = { suite, trust, revocations: () => undefined }

    // publish times by batch (its sensor id), and the latencies measured at the stream peers
    const sentAt = new Map<string, number>()
    let latencies: number[] = []
    let counting = false
    const deliver = (readings: StreamReading[]): void => {
      const t0 = sentAt.get(readings[0]?.sensorId ?? '')
      if (t0 === undefined) return
      const ms = performance.now() - t0
      for (let i = 0; i < readings.length; i++) latencies.push(ms)
    }

    // the gossipsub relay of bench/gossipsub-relay.ts
    const relays = receivers.map(r => createGossipsubRelay({ ...validator, pubsub: () => pubsubOf(r), deliver, logger }))
    // the relay as built: the stream peers handle the relay protocol
    const directRelays = receivers.map(r => createStreamRelay({ ...validator, overlay: r.overlay, deliver, logger }))
    for (const r of directRelays) await r.start()

    /** Seals `batches` batches of `size` readings, each its own sensor id `<tag>-<i>`. */
    const seal = async (tag: string, batches: number, size: number): Promise<SealedReading[][]> => {
      const out: SealedReading[][] = []
      for (let b = 0; b < batches; b++) {
        const sensor = `${tag}-${b}`
        const headers = Array.from({ length: size }, (_, i) => ({ sensor, ts: Date.now(), seq: b * size + i }))
        const outcomes = await collector.sealer.sealBatch(headers.map(header => ({ header, plaintext: utf8(`{"t":21.5,"h":${header.seq % 100}}`), recipients })))
        out.push(outcomes.map((o, i) => ({ sensorId: sensor, ts: (headers[i] as { ts: number }).ts, seq: (headers[i] as { seq: number }).seq, envelope: (o as { envelope: Uint8Array }).envelope })))
      }
      return out
    }

    /** Sends each batch on the 5 ms schedule with `send`; returns the readings offered after the warm-up. */
    const drive = async (batches: SealedReading[][], send: (batch: SealedReading[]) => void): Promise<number> => {
      const start = performance.now()
      let offered = 0
      for (const [i, batch] of batches.entries()) {
        const due = start + i * BATCH_MS
        const wait = due - performance.now()
        if (wait > 1) await new Promise(resolve => setTimeout(resolve, wait))
        if (!counting && performance.now() - start >= WARMUP_MS) counting = true
        // only batches sent after the warm-up are timed
        if (counting) {
          offered += batch.length
          sentAt.set(batch[0]?.sensorId as string, performance.now())
        }
        send(batch)
      }
      return offered
    }

    const settle = async (expected: number): Promise<void> => {
      const deadline = performance.now() + 5000
      while (latencies.length < expected && performance.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    }

    for (const rate of RATES) {
      const size = Math.max(1, Math.round(rate * BATCH_MS / 1000))
      const count = Math.ceil((seconds * 1000 + WARMUP_MS) / BATCH_MS)
      for (const relay of ['gossipsub', 'direct'] as const) {
        const batches = await seal(`${relay}-${rate}`, count, size)
        latencies = []
        counting = false
        sentAt.clear()
        let send: (batch: SealedReading[]) => void
        let close = async (): Promise<void> => {}
        let dropped = (): number => 0
        if (relay === 'gossipsub') {
          for (const r of relays) r.start()
          const deadline = Date.now() + 30_000
          while (safePeers(pubsubOf(collector)) < receivers.length && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
          const publisher = createGossipsubPublisher(() => pubsubOf(collector))
          send = batch => { for (const m of encodeRelayMessages(collector.certificate, batch.map(r => r.envelope))) publisher.send(m.bytes) }
          dropped = () => publisher.dropped()
          close = async () => { await publisher.drain(); for (const r of relays) r.stop() }
        } else {
          const streamPeers = new Set(receivers.map(r => r.overlay.peerId))
          const sink = createStreamSink({
            dial: async (peerId, signal) => await collector.overlay.dialProtocol(peerId, RELAY_PROTOCOL, { signal }),
            streamPeers: () => collector.overlay.verifiedPeers().map(p => p.peerId).filter(p => streamPeers.has(p)),
            self: collector.overlay.peerId,
            certificate: () => collector.certificate,
            logger
          })
          sink.start()
          const deadline = Date.now() + 30_000
          while (sink.status().open < receivers.length && Date.now() < deadline) { sink.refresh(); await new Promise(resolve => setTimeout(resolve, 100)) }
          if (sink.status().open < receivers.length) {
            // a starved machine can break the overlay's connections: say so rather than crash
            console.error(`direct ${rate}/s: could not open the relay streams`)
            await sink.stop()
            continue
          }
          send = batch => { void sink.deliver(batch) }
          dropped = () => { const d = sink.status().dropped; return d.noPeers + d.queueFull + d.publishFailed }
          close = async () => { await sink.stop() }
        }
        const cpu0 = process.cpuUsage()
        const wall0 = performance.now()
        const ignored0 = relays.reduce((n, r) => n + r.status().ignored, 0)
        const offered = await drive(batches, send)
        await settle(offered * receivers.length)
        const cpu = process.cpuUsage(cpu0)
        const cpuPerSecond = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0)
        const droppedNow = dropped()
        await close()
        const sorted = latencies.slice().sort((a, b) => a - b)
        const result: RelayResult = {
          relay,
          rate,
          seconds,
          offered,
          deliveredRatio: latencies.length / (offered * receivers.length),
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          maxMs: sorted.at(-1) ?? NaN,
          cpuPerSecond,
          ignored: relays.reduce((n, r) => n + r.status().ignored, 0) - ignored0,
          dropped: droppedNow
        }
        results.push(result)
        console.log(JSON.stringify(result))
      }
    }
  } finally {
    await Promise.all(nodes.map(async n => { await n.overlay.stop().catch(() => {}) }))
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  }
  write(results, seconds)
  return results
}

function write (results: RelayResult[], seconds: number): void {
  const dir = new URL('./results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  const load = loadavg().map(l => l.toFixed(2)).join(' ')
  writeFileSync(new URL('stream-relay.json', dir), JSON.stringify({ title: 'Stream relay: gossipsub vs direct streams', environment: { ...environment(), loadavg: load }, seconds, results }, null, 2) + '\n')
  const lines = [
    '# Stream relay: gossipsub vs direct length-prefixed streams', '',
    `Node ${process.version}, ${cpus().length} cores, load average ${load} at the end. Three overlay nodes in one process on 127.0.0.1 (one collector, two stream peers), ${seconds} s per run after a 1 s warm-up, batches every ${BATCH_MS} ms; latency is publish → the stream peer's deliver, per reading, both stream peers.`, '',
    '| relay | readings/s | offered | delivered | p50 ms | p99 ms | max ms | CPU s/s | ignored msgs | dropped |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(r => `| ${r.relay} | ${r.rate} | ${r.offered} | ${(r.deliveredRatio * 100).toFixed(1)} % | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.maxMs.toFixed(1)} | ${r.cpuPerSecond.toFixed(2)} | ${r.ignored} | ${r.dropped} |`)
  ]
  writeFileSync(new URL('stream-relay.md', dir), lines.join('\n') + '\n')
  console.log(lines.join('\n') + '\n')
}
