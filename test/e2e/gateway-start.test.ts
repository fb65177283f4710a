// `gatemesh gateway start` with its services: the ready line names the service URLs of what is
// enabled (and null for what is not), the collector, Data Access and the stream broker answer there, a busy service
// port is a configuration error (exit 2), and a stop is clean.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ALL_ROLES, ROOT, createTestCa, removeAll, seedGateway, spawnReady, tempDir } from '../overlay/helpers.ts'

const dirs: string[] = []

async function seeded (roles = ALL_ROLES): Promise<string> {
  const dir = await tempDir('gm-e2e-start-')
  dirs.push(dir)
  await seedGateway(join(dir, 'gw'), await createTestCa(), { roles })
  return join(dir, 'gw')
}

const BASE = ['src/cli/main.ts', 'gateway', 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--host', '127.0.0.1']

describe('gateway start with services', { timeout: 60_000 }, () => {
  after(async () => { await removeAll(dirs) })

  it('reports the collector and access URLs, which answer, and stops cleanly', async () => {
    const data = await seeded()
    const gw = await spawnReady([...BASE, '--data', data, '--services', 'collector,access'])
    const ready = gw.ready as unknown as { collector: { http: string, mqtt: string }, access: string }
    assert.match(ready.collector.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
    const openapi = await fetch(`${ready.access}/openapi.json`)
    assert.equal(openapi.status, 200)
    const unknown = await fetch(`${ready.collector.http}/v1/sensors/nobody-here/readings`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer gms_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, body: '{"t":1}'
    })
    assert.equal(unknown.status, 404)
    assert.equal((await unknown.json() as { code: string }).code, 'GM_ERR_SENSOR_UNKNOWN')
    assert.equal(await gw.stop(), 0)
  })

  it('listening on every interface, advertises --public-host in the ready line and /v1/network, not 0.0.0.0 or 127.0.0.1; a wildcard --public-host is exit 2', async () => {
    const data = await seeded()
    const gw = await spawnReady(['src/cli/main.ts', 'gateway', 'start', '--listen', '/ip4/127.0.0.1/tcp/0', '--data', data, '--services', 'collector,access,stream', '--host', '0.0.0.0', '--public-host', 'gw1.example.net'])
    try {
      const ready = gw.ready as unknown as { collector: { http: string, mqtt: string }, access: string, stream: { mqtt: string, ws: string } }
      assert.match(ready.access, /^http:\/\/gw1\.example\.net:\d+$/)
      // the ports listen on every interface: reached here through loopback
      const network = await fetch(`http://127.0.0.1:${new URL(ready.access).port}/v1/network`)
      assert.equal(network.status, 200)
      const body = await network.json() as { collector: { http: string, mqtt: string }, stream: { mqtt: string, ws: string } }
      assert.deepEqual(body.collector, ready.collector)
      assert.deepEqual(body.stream, ready.stream)
      assert.match(body.collector.http, /^http:\/\/gw1\.example\.net:\d+$/)
      assert.match(body.collector.mqtt, /^mqtt:\/\/gw1\.example\.net:\d+$/)
      assert.match(body.stream.mqtt, /^mqtt:\/\/gw1\.example\.net:\d+$/)
      assert.match(body.stream.ws, /^ws:\/\/gw1\.example\.net:\d+\/mqtt$/)
      const openapi = await fetch(`http://127.0.0.1:${new URL(body.collector.http).port}/openapi.json`)
      assert.equal(openapi.status, 200, 'the advertised collector port is the one listening')
    } finally {
      assert.equal(await gw.stop(), 0)
    }

    const child = spawn(process.execPath, [...BASE, '--data', data, '--public-host', '0.0.0.0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const [code] = await once(child, 'exit') as [number | null]
    assert.equal(code, 2, stderr)
    assert.match(stderr, /--public-host .*GM_ERR_GATEWAY_CONFIG/)
  })

  it('binds the admin port where --admin-host says, 127.0.0.1 by default [ADM-1]', async () => {
    const data = await seeded()
    const healthz = async (host: string, port: string): Promise<number | string> => {
      try {
        return (await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`, { signal: AbortSignal.timeout(5000) })).status
      } catch (err) {
        return ((err as Error).cause as { code?: string } | undefined)?.code ?? String(err)
      }
    }
    // an address of this machine other than loopback, when it has one
    const external = Object.values(networkInterfaces()).flat().find(i => i !== undefined && i.family === 'IPv4' && !i.internal)?.address

    const byDefault = await spawnReady([...BASE, '--data', data, '--services', '', '--admin-port', '0'])
    try {
      const admin = new URL(byDefault.ready.admin as string)
      assert.equal(admin.hostname, '127.0.0.1')
      assert.equal(await healthz('127.0.0.1', admin.port), 200)
      if (external !== undefined) assert.equal(await healthz(external, admin.port), 'ECONNREFUSED')
    } finally {
      assert.equal(await byDefault.stop(), 0)
    }

    // 127.0.0.2 is loopback too, yet another address: bound there, 127.0.0.1 is refused
    const other = await spawnReady([...BASE, '--data', data, '--services', '', '--admin-port', '0', '--admin-host', '127.0.0.2'])
    try {
      const admin = new URL(other.ready.admin as string)
      assert.equal(admin.hostname, '127.0.0.2')
      assert.equal(await healthz('127.0.0.2', admin.port), 200)
      assert.equal(await healthz('127.0.0.1', admin.port), 'ECONNREFUSED')
    } finally {
      assert.equal(await other.stop(), 0)
    }

    const everywhere = await spawnReady([...BASE, '--data', data, '--services', '', '--admin-port', '0'], { env: { GATEMESH_ADMIN_HOST: '0.0.0.0' } })
    try {
      const admin = new URL(everywhere.ready.admin as string)
      assert.equal(admin.hostname, '127.0.0.1')
      assert.equal(await healthz('127.0.0.1', admin.port), 200)
      if (external !== undefined) {
        const metrics = await fetch(`http://${external}:${admin.port}/metrics`)
        assert.equal(metrics.status, 200, 'a Prometheus on another machine can scrape')
        assert.match(await metrics.text(), /gatemesh_overlay_verified_peers/)
      }
      assert.match(everywhere.stderr(), /admin port is reachable from other machines/)
    } finally {
      assert.equal(await everywhere.stop(), 0)
    }
  })

  it('runs no collector and no access service unless enabled', async () => {
    const data = await seeded()
    const gw = await spawnReady([...BASE, '--data', data, '--services', ''])
    const ready = gw.ready as unknown as { collector: unknown, access: unknown }
    assert.equal(ready.collector, null)
    assert.equal(ready.access, null)
    assert.equal(await gw.stop(), 0)
  })

  it('runs the stream service: its MQTT and WebSocket URLs answer (an anonymous CONNECT gets CONNACK 5, [STR-7]); a busy stream port is exit 2', async () => {
    const data = await seeded()
    const gw = await spawnReady([...BASE, '--data', data, '--services', 'stream'])
    const ready = gw.ready as unknown as { collector: unknown, access: unknown, stream: { mqtt: string, ws: string } }
    assert.equal(ready.collector, null)
    assert.match(ready.stream.mqtt, /^mqtt:\/\/127\.0\.0\.1:\d+$/)
    assert.match(ready.stream.ws, /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/)
    const { port } = new URL(ready.stream.mqtt)
    const socket = connect(Number(port), '127.0.0.1')
    await once(socket, 'connect')
    // MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, client id "t", no credentials
    socket.write(Buffer.from([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x74]))
    const [connack] = await once(socket, 'data') as [Buffer]
    assert.deepEqual([...connack.subarray(0, 4)], [0x20, 0x02, 0x00, 0x05])
    socket.destroy()
    const upgrade = await fetch(ready.stream.ws.replace(/^ws:/, 'http:'))
    assert.equal(upgrade.status, 426, 'the WebSocket listener answers a plain GET with 426 Upgrade Required')
    assert.equal(await gw.stop(), 0)

    const busy = createServer()
    busy.listen(0, '127.0.0.1')
    await once(busy, 'listening')
    try {
      const child = spawn(process.execPath, [...BASE, '--data', data, '--services', 'stream', '--stream-port', String((busy.address() as { port: number }).port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const [code] = await once(child, 'exit') as [number | null]
      assert.equal(code, 2, stderr)
      assert.match(stderr, /GM_ERR_GATEWAY_CONFIG/)
    } finally {
      busy.close()
    }
  })

  it('a --host or --admin-host name that does not resolve is a configuration error: exit 2 with GM_ERR_GATEWAY_CONFIG, no stack trace', async () => {
    const data = await seeded()
    // shaped like a host name, so the flag is taken, but no resolver knows it ('.invalid', RFC 6761)
    for (const args of [['--admin-port', '0', '--admin-host', 'no-such-host.invalid'], ['--services', 'access', '--access-port', '0', '--host', 'no-such-host.invalid']]) {
      const child = spawn(process.execPath, [...BASE, '--data', data, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const [code] = await once(child, 'exit') as [number | null]
      assert.equal(code, 2, stderr)
      assert.match(stderr, /no-such-host\.invalid.*GM_ERR_GATEWAY_CONFIG/)
      assert.doesNotMatch(stderr, /^\s+at /m)
    }
  })

  it('a busy service port is a configuration error: exit 2 with GM_ERR_GATEWAY_CONFIG', async () => {
    const data = await seeded()
    const busy = createServer()
    busy.listen(0, '127.0.0.1')
    await once(busy, 'listening')
    const port = (busy.address() as { port: number }).port
    try {
      const child = spawn(process.execPath, [...BASE, '--data', data, '--services', 'collector,access', '--access-port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const [code] = await once(child, 'exit') as [number | null]
      assert.equal(code, 2, stderr)
      assert.match(stderr, /GM_ERR_GATEWAY_CONFIG/)
    } finally {
      busy.close()
    }
  })

  it('a second gateway on a running gateway\'s data directory exits 1 with GM_ERR_GATEWAY_DATA_IN_USE, no stack trace, and the first keeps running; after a stop the directory is free', async () => {
    const data = await seeded()
    const first = await spawnReady([...BASE, '--data', data, '--services', 'collector,access'])
    try {
      const child = spawn(process.execPath, [...BASE, '--data', data, '--services', 'collector,access'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const [code] = await once(child, 'exit') as [number | null]
      assert.equal(code, 1, stderr)
      assert.match(stderr, new RegExp(`used by process ${String(first.child.pid)}.*\\(GM_ERR_GATEWAY_DATA_IN_USE\\)\\n$`))
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace')
      const access = (first.ready as unknown as { access: string }).access
      assert.equal((await fetch(`${access}/openapi.json`)).status, 200, 'the first gateway still serves')
    } finally {
      assert.equal(await first.stop(), 0)
    }
    const again = await spawnReady([...BASE, '--data', data, '--services', 'collector,access'])
    assert.equal(await again.stop(), 0)
  })
})
