// Observability with real processes: a CA and two gateways from `gatemesh` (one a persistence
// replica and a stream peer), scraped by Debian's `prometheus` started here on a free port with its own config and
// data directory. The targets come up, a reading sent over HTTP shows through Prometheus's query
// API, the stream peer's metrics count a refused application log-in and the collector's stream
// sink accounts for every reading, every /metrics body passes `promtool check metrics`, /healthz and /readyz answer, and a
// gateway that loses its only peer is no longer ready.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import mqtt from 'mqtt'
import { MIN_KDF_ITERATIONS } from '../../src/core/index.ts'
import { createClient } from '../../src/client/index.ts'
import { ROOT, startNetwork } from '../../src/demo/network.ts'
import type { Network, RunningGateway } from '../../src/demo/network.ts'
import { eventuallyValue } from '../support/eventually.ts'
import { freePort } from '../support/free-port.ts'

const SENSOR = 'ops-greenhouse'

/** `promtool check metrics` on a body (stdin): its exit code and what it printed. */
async function promtoolCheck (body: string): Promise<{ code: number | null, output: string }> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('close', resolve))
  child.stdin.end(body)
  return { code: await exited, output }
}

interface Target { labels: { job: string, instance: string }, health: string, lastError: string }
interface Sample { metric: Record<string, string>, value: [number, string] }

function hostPort (url: string): string {
  return new URL(url).host
}

describe('Prometheus scrapes the gateways and the CA', { timeout: 180_000 }, () => {
  let dir: string
  let net: Network
  let g1: RunningGateway, g2: RunningGateway
  let prometheus: ReturnType<typeof spawn> | undefined
  let prometheusExited: Promise<unknown> = Promise.resolve()
  let prometheusLog = ''
  let api: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-ops-prom-'))
    net = await startNetwork({
      dir,
      gateways: [
        { name: 'g1', services: ['collector', 'access'] },
        { name: 'g2', services: ['persistence', 'collector', 'access', 'stream'] }
      ],
      gatewayArgs: ['--admin-port', '0', '--crl-interval', '2000', '--exchange-timeout', '3000'],
      env: { GATEMESH_LOG_LEVEL: 'warn' }
    })
    ;[g1, g2] = net.gateways as [RunningGateway, RunningGateway]
    const port = await freePort()
    api = `http://127.0.0.1:${port}`
    const config = join(dir, 'prometheus.yml')
    await writeFile(config, [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: gatemesh-gateway',
      '    static_configs:',
      `      - targets: ['${hostPort(g1.ready.admin as string)}', '${hostPort(g2.ready.admin as string)}']`,
      '  - job_name: gatemesh-ca',
      '    static_configs:',
      `      - targets: ['${hostPort(net.caUrl)}']`,
      ''
    ].join('\n'))
    const child = spawn('prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'prometheus-data')}`, `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn'
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    prometheus = child
    child.stderr?.on('data', (d: Buffer) => { prometheusLog = (prometheusLog + d.toString()).slice(-10_000) })
    prometheusExited = new Promise(resolve => child.once('exit', resolve))
    await Promise.race([
      eventuallyValue(`prometheus ready at ${api}`, async () => (await fetch(`${api}/-/ready`)).ok ? true : undefined, 30_000),
      prometheusExited.then(code => { throw new Error(`prometheus exited ${String(code)}: ${prometheusLog}`) })
    ])
  })

  after(async () => {
    prometheus?.kill('SIGTERM')
    await prometheusExited
    await net?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('serves /healthz, and /readyz once joined', async () => {
    for (const gw of [g1, g2]) {
      const health = await fetch(`${gw.ready.admin}/healthz`)
      assert.equal(health.status, 200)
      assert.deepEqual(await health.json(), { status: 'ok' })
      const ready = await eventuallyValue(`${gw.name} ready`, async () => {
        const res = await fetch(`${gw.ready.admin}/readyz`)
        return res.status === 200 ? await res.json() : undefined
      })
      assert.deepEqual(ready, { status: 'ready' })
    }
  })

  it('every target is up in Prometheus', async () => {
    const targets = await eventuallyValue('three targets up', async () => {
      const body = await (await fetch(`${api}/api/v1/targets`)).json() as { data: { activeTargets: Target[] } }
      const active = body.data.activeTargets
      return active.length === 3 && active.every(t => t.health === 'up') ? active : undefined
    }, 30_000)
    assert.deepEqual(targets.map(t => t.labels.job).sort(), ['gatemesh-ca', 'gatemesh-gateway', 'gatemesh-gateway'])
  })

  it('a reading sent over HTTP and one over MQTT are counted, and Prometheus reports them', async () => {
    const client = createClient({ gateway: g1.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS })
    const user = await client.signup('ops prometheus password')
    const session = await client.resume(user.bundle, 'ops prometheus password')
    const { credential } = await session.addSensor(SENSOR)
    const res = await eventuallyValue('reading accepted', async () => {
      const r = await fetch(`${g1.ready.collector?.http}/v1/sensors/${SENSOR}/readings`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: '{"temperature":21.5}'
      })
      return r.status === 202 ? r : undefined
    })
    assert.equal(res.status, 202)
    // a refused one too: a wrong credential
    const refused = await fetch(`${g1.ready.collector?.http}/v1/sensors/${SENSOR}/readings`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer gms_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, body: '{"t":1}'
    })
    assert.equal(refused.status, 401)
    // and one over MQTT, QoS 1, with stock mosquitto_pub
    const { hostname, port } = new URL(g1.ready.collector?.mqtt as string)
    const published = await new Promise<{ code: number | null, stderr: string }>(resolve => {
      execFile('mosquitto_pub', ['-h', hostname, '-p', port, '-i', 'ops-prom', '-u', SENSOR, '-P', credential, '-t', `sensors/${SENSOR}/readings`, '-q', '1', '-m', '{"temperature":21.6}'],
        { timeout: 20_000 }, (err, _stdout, stderr) => { resolve({ code: err === null ? 0 : 1, stderr }) })
    })
    assert.equal(published.code, 0, published.stderr)

    const instance = hostPort(g1.ready.admin as string)
    const query = async (promql: string): Promise<Sample[]> => {
      const body = await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`)).json() as { status: string, data: { result: Sample[] } }
      assert.equal(body.status, 'success')
      return body.data.result
    }
    const accepted = await eventuallyValue('accepted reading in Prometheus', async () => {
      const result = await query(`gatemesh_collector_readings_accepted_total{instance="${instance}",protocol="http"}`)
      return result.length === 1 && Number(result[0]?.value[1]) >= 1 ? result[0] : undefined
    }, 30_000)
    assert.equal(accepted.metric.job, 'gatemesh-gateway')
    const refusedSeries = await eventuallyValue('refused reading in Prometheus', async () => {
      const result = await query(`gatemesh_collector_readings_refused_total{instance="${instance}",protocol="http",code="GM_ERR_SENSOR_CREDENTIAL"}`)
      return result.length === 1 && Number(result[0]?.value[1]) >= 1 ? result : undefined
    }, 30_000)
    assert.equal(refusedSeries.length, 1)
    const ackCount = await eventuallyValue('ack latency observed', async () => {
      const result = await query(`gatemesh_collector_ack_seconds_count{instance="${instance}",protocol="http"}`)
      return result.length === 1 && Number(result[0]?.value[1]) >= 1 ? Number(result[0]?.value[1]) : undefined
    }, 30_000)
    assert.ok(ackCount >= 1)
    const mqtt = await eventuallyValue('the MQTT reading in Prometheus', async () => {
      const accepted = await query(`gatemesh_collector_readings_accepted_total{instance="${instance}",protocol="mqtt"}`)
      const acked = await query(`gatemesh_collector_ack_seconds_count{instance="${instance}",protocol="mqtt"}`)
      const sealed = await query(`gatemesh_collector_sealing_lag_seconds_count{instance="${instance}"}`)
      const values = [accepted, acked, sealed].map(r => Number(r[0]?.value[1] ?? 0))
      return values[0] === 1 && values[1] === 1 && (values[2] ?? 0) >= 2 ? values : undefined
    }, 30_000)
    assert.deepEqual(mqtt.slice(0, 2), [1, 1])
    // the CA's enrollments (two gateways) and peers by role through the overlay
    const enrolled = await eventuallyValue('CA enrollments in Prometheus', async () => {
      const result = await query('gatemesh_ca_requests_total{op="enroll",result="issued"}')
      return result.length === 1 ? Number(result[0]?.value[1]) : undefined
    }, 30_000)
    assert.equal(enrolled, 2)
    const persistencePeers = await eventuallyValue('g1 sees the persistence peer', async () => {
      const result = await query(`gatemesh_overlay_verified_peers{instance="${instance}",role="persistence"}`)
      return result.length === 1 && Number(result[0]?.value[1]) >= 1 ? Number(result[0]?.value[1]) : undefined
    }, 30_000)
    assert.equal(persistencePeers, 1)
    // the reading reached g2's replica: stored, and the outbox emptied
    const stored = await eventuallyValue('g2 stored the reading', async () => {
      const result = await query(`gatemesh_persistence_stored_readings_total{instance="${hostPort(g2.ready.admin as string)}"}`)
      return result.length === 1 && Number(result[0]?.value[1]) >= 1 ? Number(result[0]?.value[1]) : undefined
    }, 30_000)
    assert.ok(stored >= 1)
  })

  it('the stream metrics: a refused application log-in by code, the stream sink\'s readings, every family exported', async () => {
    const query = async (promql: string): Promise<Sample[]> => {
      const body = await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`)).json() as { status: string, data: { result: Sample[] } }
      assert.equal(body.status, 'success')
      return body.data.result
    }
    // an application with no user name or password: CONNACK 5, counted by code at g2
    const refusedCode = await mqtt.connectAsync(g2.ready.stream?.mqtt as string, { reconnectPeriod: 0, connectTimeout: 10_000 }, false)
      .then(async client => { await client.endAsync(); return undefined }, (err: unknown) => (err as { code?: number }).code)
    assert.equal(refusedCode, 5)
    const g2Instance = hostPort(g2.ready.admin as string)
    const refused = await eventuallyValue('the refused log-in in Prometheus', async () => {
      const result = await query(`gatemesh_stream_logins_refused_total{instance="${g2Instance}",code="GM_ERR_STREAM_NOT_AUTHORIZED"}`)
      return result.length === 1 && Number(result[0]?.value[1]) >= 1 ? Number(result[0]?.value[1]) : undefined
    }, 30_000)
    assert.equal(refused, 1)
    const clients = await query(`gatemesh_stream_clients{instance="${g2Instance}"}`)
    assert.equal(clients.length, 1)
    // g1's two readings (HTTP, MQTT) went to its stream sink: each relayed to g2 or dropped, by reason
    const g1Instance = hostPort(g1.ready.admin as string)
    const handled = await eventuallyValue('g1\'s stream sink in Prometheus', async () => {
      const relayed = await query(`sum(gatemesh_stream_sink_published_readings_total{instance="${g1Instance}",path="relay"})`)
      const dropped = await query(`sum(gatemesh_stream_sink_dropped_readings_total{instance="${g1Instance}"})`)
      const total = Number(relayed[0]?.value[1] ?? 0) + Number(dropped[0]?.value[1] ?? 0)
      return total >= 2 ? total : undefined
    }, 30_000)
    assert.equal(handled, 2)
    // every stream family is exported by the stream peer (g2 runs collector too: the sink's as well)
    const body = await (await fetch(`${g2.ready.admin}/metrics`)).text()
    for (const name of [
      'gatemesh_stream_clients', 'gatemesh_stream_subscriptions', 'gatemesh_stream_readings_in_flight', 'gatemesh_stream_readings_injected_total',
      'gatemesh_stream_deliveries_total', 'gatemesh_stream_readings_dropped_total', 'gatemesh_stream_logins_refused_total', 'gatemesh_stream_denied_total',
      'gatemesh_stream_relay_messages_accepted_total', 'gatemesh_stream_relay_readings_total', 'gatemesh_stream_relay_messages_rejected_total',
      'gatemesh_stream_relay_messages_ignored_total', 'gatemesh_stream_relay_peers', 'gatemesh_stream_sink_published_readings_total',
      'gatemesh_stream_sink_messages_total', 'gatemesh_stream_sink_dropped_readings_total', 'gatemesh_stream_sink_queued_messages'
    ]) assert.match(body, new RegExp(`^# HELP ${name} `, 'm'), name)
  })

  it('every /metrics body passes promtool check metrics', async () => {
    for (const url of [`${g1.ready.admin}/metrics`, `${g2.ready.admin}/metrics`, `${net.caUrl}/metrics`]) {
      const res = await fetch(url)
      assert.equal(res.status, 200)
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
      const body = await res.text()
      assert.match(body, /^# HELP /m)
      const check = await promtoolCheck(body)
      assert.equal(check.code, 0, `${url}: ${check.output}`)
    }
    // a control: promtool does refuse a malformed exposition
    assert.notEqual((await promtoolCheck('# TYPE x counter\nx{ 1\n')).code, 0)
  })

  it('every query of deploy/grafana-dashboard.json parses in Prometheus and names metrics the gateways and CA export', async () => {
    const dashboard = JSON.parse(await readFile(join(ROOT, 'deploy', 'grafana-dashboard.json'), 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> }
    const exprs = dashboard.panels.flatMap(panel => panel.targets ?? []).map(target => target.expr)
    assert.ok(exprs.length >= 20)
    const exported = new Set<string>()
    for (const url of [`${g1.ready.admin}/metrics`, `${g2.ready.admin}/metrics`, `${net.caUrl}/metrics`]) {
      for (const match of (await (await fetch(url)).text()).matchAll(/^# HELP (\S+) /gm)) exported.add(match[1] as string)
    }
    for (const expr of exprs) {
      const promql = expr.replaceAll('$instance', '.*').replaceAll('$__rate_interval', '1m')
      const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`)
      assert.equal(res.status, 200, `${expr}: ${await res.text()}`)
      for (const [name] of promql.matchAll(/\b(?:gatemesh|process|nodejs)_[a-z0-9_]+/g)) {
        const family = name.replace(/_(bucket|sum|count)$/, '')
        assert.ok(exported.has(name) || exported.has(family), `${name} (in ${expr}) is exported`)
      }
    }
  })

  it('a gateway that loses its only peer answers /readyz 503 with a reason', async () => {
    assert.equal(await g1.stop(), 0)
    const body = await eventuallyValue('g2 not ready', async () => {
      const res = await fetch(`${g2.ready.admin}/readyz`)
      return res.status === 503 ? await res.json() as { status: string, reason: string } : undefined
    }, 30_000)
    assert.equal(body.status, 'not ready')
    assert.match(body.reason, /not joined/)
    assert.equal((await fetch(`${g2.ready.admin}/healthz`)).status, 200)
  })
})
