// `gatemesh gateway start` with its services: the ready line names the service URLs of what is
// enabled (and null for what is not), the collector and Data Access answer there, a busy service
// port is a configuration error (exit 2), and a stop is clean.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
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

  it('runs no collector and no access service unless enabled', async () => {
    const data = await seeded()
    const gw = await spawnReady([...BASE, '--data', data, '--services', ''])
    const ready = gw.ready as unknown as { collector: unknown, access: unknown }
    assert.equal(ready.collector, null)
    assert.equal(ready.access, null)
    assert.equal(await gw.stop(), 0)
  })

  it('a service no part of this build implements (stream) is refused at start: exit 2 with GM_ERR_GATEWAY_CONFIG', async () => {
    // the certificate grants all four roles: the refusal is about the build, not the certificate
    const data = await seeded()
    for (const services of ['stream', 'persistence,collector,stream']) {
      const child = spawn(process.execPath, [...BASE, '--data', data, '--services', services], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      const [code] = await once(child, 'exit') as [number | null]
      assert.equal(code, 2, stderr)
      assert.match(stderr, /implements stream .*\(GM_ERR_GATEWAY_CONFIG\)/)
      assert.doesNotMatch(stdout, /"ready"/)
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
})
