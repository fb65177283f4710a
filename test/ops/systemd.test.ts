// The systemd units in deploy/systemd pass `systemd-analyze verify` with no warning about them,
// carry the hardening they promise, and the example environment files parse as the gateway's
// configuration. verify needs ExecStart's binary to exist: each unit is checked from a temporary
// copy whose /opt/gatemesh (the documented install path) is this checkout. A broken unit (a bad
// value, an unknown key) is refused by the same check.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { USAGE, parseGatewayConfig } from '../../src/gateway/index.ts'
import { ROOT } from '../overlay/helpers.ts'

const DEPLOY = join(ROOT, 'deploy', 'systemd')
const UNITS = ['gatemesh-gateway.service', 'gatemesh-ca.service']
const INSTALL = '/opt/gatemesh/'

async function verify (path: string): Promise<{ code: number, stderr: string }> {
  return await new Promise(resolve => {
    execFile('systemd-analyze', ['verify', '--man=no', path], { timeout: 30_000 }, (err, _stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stderr })
    })
  })
}

/** The lines of verify's output about this unit (it may also warn about unrelated system units). */
function about (stderr: string, path: string): string[] {
  return stderr.split('\n').filter(line => line.includes(path) || line.startsWith(`${basename(path)}:`))
}

/** Key=value lines of a unit's [Service] section, in order (a key may repeat). */
function serviceSettings (text: string): Array<[string, string]> {
  const section = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? ''
  return section.split('\n').filter(line => /^[A-Za-z]+=/.test(line)).map(line => {
    const i = line.indexOf('=')
    return [line.slice(0, i), line.slice(i + 1)]
  })
}

function envFile (text: string): Record<string, string> {
  return Object.fromEntries(text.split('\n').filter(line => /^[A-Z_]+=/.test(line)).map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
}

describe('deploy/systemd units', { timeout: 60_000 }, () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'gm-systemd-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  /** A copy of the unit with the install path pointing at this checkout (and `edit` applied). */
  async function localCopy (unit: string, edit: (text: string) => string = t => t): Promise<string> {
    const text = await readFile(join(DEPLOY, unit), 'utf8')
    assert.ok(text.includes(`ExecStart=${INSTALL}bin/gatemesh.js `), `${unit} runs ${INSTALL}bin/gatemesh.js`)
    const path = join(dir, unit)
    await writeFile(path, edit(text.replaceAll(INSTALL, `${ROOT.replace(/\/$/, '')}/`)))
    return path
  }

  for (const unit of UNITS) {
    it(`${unit} passes systemd-analyze verify without a warning`, async () => {
      const path = await localCopy(unit)
      const result = await verify(path)
      assert.deepEqual(about(result.stderr, path), [], result.stderr)
      assert.equal(result.code, 0, result.stderr)
    })

    it(`${unit} is hardened`, async () => {
      const settings = serviceSettings(await readFile(join(DEPLOY, unit), 'utf8'))
      const get = (key: string): string[] => settings.filter(([k]) => k === key).map(([, v]) => v)
      assert.match(get('User')[0] ?? '', /^gatemesh/)
      assert.notEqual(get('User')[0], 'root')
      for (const [key, value] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['PrivateDevices', 'yes'], ['RestrictSUIDSGID', 'yes'], ['LockPersonality', 'yes']]) {
        assert.deepEqual(get(key as string), [value], `${key}=${value}`)
      }
      assert.deepEqual(get('CapabilityBoundingSet'), [''], 'no capabilities at all')
      assert.deepEqual(get('AmbientCapabilities'), [''])
      assert.match(get('RestrictAddressFamilies')[0] ?? '', /^AF_INET AF_INET6 AF_UNIX/)
      assert.equal(get('ReadWritePaths').length, 1, 'one writable path: the data directory')
      assert.equal(get('ReadWritePaths')[0], `/var/lib/${get('StateDirectory')[0] ?? ''}`)
      assert.equal(get('EnvironmentFile').length, 1)
    })
  }

  it('refuses a broken unit: a bad value and an unknown key are reported, a missing binary fails', async () => {
    const broken = await localCopy('gatemesh-gateway.service', text => text.replace('ProtectSystem=strict', 'ProtectSystem=strictest').replace('NoNewPrivileges=yes', 'NoNewPrivilege=yes'))
    const reported = about((await verify(broken)).stderr, broken)
    assert.equal(reported.length, 2, reported.join('\n'))
    assert.match(reported.join('\n'), /strictest/)
    assert.match(reported.join('\n'), /NoNewPrivilege'/)
    const missing = join(dir, 'missing.service')
    await writeFile(missing, (await readFile(join(DEPLOY, 'gatemesh-gateway.service'), 'utf8')).replaceAll(INSTALL, '/nonexistent/gatemesh/'))
    assert.notEqual((await verify(missing)).code, 0)
  })

  it('the example environment files are a valid configuration', async () => {
    const env = envFile(await readFile(join(DEPLOY, 'gateway.env.example'), 'utf8'))
    for (const key of Object.keys(env)) assert.ok(USAGE.includes(`${key}`), `${key} is a gateway setting`)
    const config = parseGatewayConfig([], { ...env, GATEMESH_DATA: '/var/lib/gatemesh' })
    assert.equal(config.host, '0.0.0.0')
    assert.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/4001'])
    assert.equal(config.adminPort, 9464)
    const ca = envFile(await readFile(join(DEPLOY, 'ca.env.example'), 'utf8'))
    const caUnit = await readFile(join(DEPLOY, 'gatemesh-ca.service'), 'utf8')
    for (const key of Object.keys(ca)) assert.ok(caUnit.includes(`\${${key}}`), `the CA unit uses ${key}`)
  })
})
