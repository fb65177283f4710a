/**
 * Scenario "e2e": the time from a sensor's send to the reading being readable (the latest
 * reading, fetched by signed request and decrypted by a user) from another gateway, over HTTP and
 * over MQTT QoS 1. A CA and three gateways as real processes on 127.0.0.1 (src/demo/network.ts);
 * the sensor sends to g1 (HTTP) or g2 (MQTT), the user reads at g3, polling as fast as one
 * signed read allows. Each send follows a quiet period (as a sensor reporting every few seconds
 * does), so the latest publisher puts it at once ([COL-20]).
 * Writes bench/results/e2e.json and bench/results/e2e.md.
 *
 *   node bench/e2e.ts [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '../src/client/index.ts'
import { MIN_KDF_ITERATIONS } from '../src/core/index.ts'
import { startNetwork } from '../src/demo/network.ts'
import type { Session } from '../src/client/index.ts'
import type { RunningGateway } from '../src/demo/network.ts'

interface MqttClient {
  publishAsync: (topic: string, payload: string, options: { qos: 0 | 1 }) => Promise<unknown>
  endAsync: (force?: boolean) => Promise<void>
}
interface Mqtt { connectAsync: (url: string, options: Record<string, unknown>, allowRetries?: boolean) => Promise<MqttClient> }

export interface Stats { n: number, p50: number, p99: number, mean: number, max: number }

function stats (values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), mean, max: sorted[sorted.length - 1] ?? NaN }
}

const SENSOR = 'bench-e2e'
const quiet = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Polls the reader's gateway until the reading carrying `n` is readable; ms since `sentAt`. */
async function readable (reader: Session, n: number, sentAt: number, timeoutMs = 20_000): Promise<number> {
  while (performance.now() - sentAt < timeoutMs) {
    try {
      const r = await reader.readLatest(SENSOR)
      if ((r.json as { n?: number } | undefined)?.n === n) return performance.now() - sentAt
    } catch {
      // not yet there
    }
  }
  throw new Error(`reading ${n} not readable within ${timeoutMs} ms`)
}

export interface E2eResult { http: { sendMs: Stats, readableMs: Stats }, mqtt: { sendMs: Stats, readableMs: Stats }, readMs: Stats, failures: number }

export async function run (options: { quick?: boolean, ops?: number } = {}): Promise<E2eResult> {
  const ops = options.ops ?? (options.quick === true ? 10 : 50)
  const dir = await mkdtemp(join(tmpdir(), 'gm-bench-e2e-'))
  const mqtt: Mqtt = await import('mqtt' as string).then(m => (m.default ?? m) as Mqtt)
  const net = await startNetwork({
    dir,
    gateways: [
      { name: 'g1', services: ['collector', 'access'] },
      { name: 'g2', services: ['collector', 'access'] },
      { name: 'g3', services: ['collector', 'access', 'persistence', 'stream'] }
    ],
    env: { GATEMESH_LOG_LEVEL: 'warn' }
  })
  try {
    const [g1, g2, g3] = net.gateways as [RunningGateway, RunningGateway, RunningGateway]
    const password = 'bench e2e password'
    const signup = await createClient({ gateway: g1.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS }).signup(password)
    const owner = await createClient({ gateway: g1.ready.access as string }).resume(signup.bundle, password)
    const { credential } = await owner.addSensor(SENSOR)
    const reader = await createClient({ gateway: g3.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS }).login(signup.pseudonym, password)
    const sensor = await mqtt.connectAsync(g2.ready.collector?.mqtt as string, { username: SENSOR, password: credential, reconnectPeriod: 0, connectTimeout: 5000 }, false)

    let n = 0
    let failures = 0
    const http = { send: [] as number[], readable: [] as number[] }
    const mq = { send: [] as number[], readable: [] as number[] }
    const reads: number[] = []
    const once = async (via: 'http' | 'mqtt'): Promise<void> => {
      const body = JSON.stringify({ temperature: 20 + Math.random(), n: ++n })
      await quiet(300)
      const sentAt = performance.now()
      if (via === 'http') {
        const res = await fetch(`${g1.ready.collector?.http}/v1/sensors/${SENSOR}/readings`, {
          method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body
        })
        if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${await res.text()}`)
        http.send.push(performance.now() - sentAt)
      } else {
        await sensor.publishAsync(`sensors/${SENSOR}/readings`, body, { qos: 1 })
        mq.send.push(performance.now() - sentAt)
      }
      const ms = await readable(reader, n, sentAt)
      ;(via === 'http' ? http : mq).readable.push(ms)
      const readAt = performance.now()
      await reader.readLatest(SENSOR)
      reads.push(performance.now() - readAt)
    }
    // warm-up: connections, caches, routing
    for (let i = 0; i < 3; i++) { await once('http'); await once('mqtt') }
    for (const list of [http.send, http.readable, mq.send, mq.readable, reads]) list.length = 0
    for (let i = 0; i < ops; i++) {
      for (const via of ['http', 'mqtt'] as const) {
        try { await once(via) } catch (err) { failures++; console.error(`e2e: ${via} ${String(err)}`) }
      }
    }
    await sensor.endAsync()

    const result: E2eResult = {
      http: { sendMs: stats(http.send), readableMs: stats(http.readable) },
      mqtt: { sendMs: stats(mq.send), readableMs: stats(mq.readable) },
      readMs: stats(reads),
      failures
    }
    const f = (x: number): string => Number.isFinite(x) ? x.toFixed(1) : '-'
    const md = [
      '# Send to readable from another gateway', '',
      `Node ${process.version}, ${cpus().length} cores. A CA and 3 gateways, each its own process on 127.0.0.1. ${ops} readings per transport,`,
      'each after 300 ms of quiet; the sensor sends to g1 (HTTP POST) or g2 (MQTT QoS 1, mqtt.js), a user reads the latest reading at g3',
      '(signed request, DHT lookup, decryption on the client) in a loop until it is the one sent. Baseline: one such read of a reading already there.', '',
      '| transport | send (ack) p50 ms | send p99 ms | readable p50 ms | readable p99 ms | readable mean ms | baseline: one read p50 ms | failures |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      `| HTTP | ${f(result.http.sendMs.p50)} | ${f(result.http.sendMs.p99)} | ${f(result.http.readableMs.p50)} | ${f(result.http.readableMs.p99)} | ${f(result.http.readableMs.mean)} | ${f(result.readMs.p50)} | ${failures} |`,
      `| MQTT QoS 1 | ${f(result.mqtt.sendMs.p50)} | ${f(result.mqtt.sendMs.p99)} | ${f(result.mqtt.readableMs.p50)} | ${f(result.mqtt.readableMs.p99)} | ${f(result.mqtt.readableMs.mean)} | ${f(result.readMs.p50)} | ${failures} |`,
      ''
    ].join('\n')
    const out = new URL('./results/', import.meta.url)
    mkdirSync(out, { recursive: true })
    const environment = { node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString() }
    writeFileSync(new URL('e2e.json', out), JSON.stringify({ title: 'Send to readable from another gateway', environment, ops, result }, null, 2) + '\n')
    writeFileSync(new URL('e2e.md', out), md)
    console.log(md)
    return result
  } finally {
    await net.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) {
  await run({ quick: process.argv.includes('--quick') })
}
