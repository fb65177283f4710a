/**
 * `gatemesh gateway start` against the real CA (`gatemesh ca ...` processes): enrollment on
 * first start, reuse of key and certificate afterwards, configuration from flags, environment
 * and a config file, clear exit codes for bad configuration, and revocation end to end.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { ROOT, dialable, eventually, removeAll, spawnReady, startGateway, status, tempDir } from './helpers.ts'
import type { Proc } from './helpers.ts'
import type { ChildProcess } from 'node:child_process'

const exec = promisify(execFile)

async function cli (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn', ...env }, timeout: 60_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('gateway start with the gatemesh CA', { timeout: 180_000 }, () => {
  let caDir: string
  let caUrl: string
  let caServer: ChildProcess
  const dirs: string[] = []
  const procs: Proc[] = []
  const token = async (roles = 'collector,access,persistence,stream'): Promise<string> => {
    const res = await cli(['ca', 'token', '--dir', caDir, '--roles', roles])
    assert.equal(res.code, 0, res.stderr)
    return res.stdout.trim()
  }
  const dir = async (): Promise<string> => { const d = await tempDir(); dirs.push(d); return d }

  before(async () => {
    caDir = join(await dir(), 'ca')
    assert.equal((await cli(['ca', 'init', '--dir', caDir])).code, 0)
    caServer = spawn(process.execPath, ['src/cli/main.ts', 'ca', 'serve', '--dir', caDir, '--port', '0'], { cwd: ROOT, env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] })
    caUrl = await new Promise<string>((resolve, reject) => {
      createInterface({ input: caServer.stdout! }).on('line', line => {
        const m = /listening on (http:\/\/\S+)/.exec(line)
        if (m !== null) resolve(m[1] as string)
      })
      caServer.once('exit', code => { reject(new Error(`ca serve exited with ${code}`)) })
    })
  })

  after(async () => {
    await Promise.all(procs.map(async p => await p.stop()))
    caServer.kill('SIGTERM')
    await removeAll(dirs)
  })

  it('enrolls on first start, then reuses its key and certificate without a token', async () => {
    const d0 = await dir()
    const g0 = await startGateway({ data: d0, ca: caUrl, token: await token() })
    procs.push(g0)
    assert.equal((await stat(join(d0, 'peer.key'))).mode & 0o777, 0o600)
    const d1 = await dir()
    const g1 = await startGateway({ data: d1, ca: caUrl, token: await token('collector'), bootstrap: [dialable(g0.ready)] })
    const cert = await readFile(join(d1, 'certificate.der'))
    assert.ok(g1.ready.peers >= 1)
    const before = g1.ready.peerId
    assert.equal(await g1.stop(), 0, 'a clean stop on SIGTERM exits 0')
    // second start: no token, no --ca (remembered), settings from the environment and a config file
    const config = join(d1, 'config.json')
    await writeFile(config, JSON.stringify({ listen: ['/ip4/127.0.0.1/tcp/0'], adminPort: 0, crlInterval: 2000 }))
    const again = await spawnReady(['src/cli/main.ts', 'gateway', 'start', '--config', config], {
      env: { GATEMESH_DATA: d1, GATEMESH_BOOTSTRAP: dialable(g0.ready) }
    })
    procs.push(again)
    assert.equal(again.ready.peerId, before)
    assert.deepEqual(await readFile(join(d1, 'certificate.der')), cert, 'the certificate is reused')
    await eventually(async () => (await status(again.ready.admin as string)).verifiedPeers.some(p => p.peerId === g0.ready.peerId), 15_000, 'rejoin')
    const roles = (await status(g0.ready.admin as string)).verifiedPeers.find(p => p.peerId === before)?.roles
    assert.deepEqual(roles, ['collector'], 'roles come from the certificate the CA issued')
  })

  it('renews its certificate before it expires and keeps its place in the overlay', async () => {
    const g0 = procs[0] as Proc
    const d = await dir()
    // the CA issues certificates for 30 days: ask for renewal when less than 30 days minus 3 s are left
    const g = await startGateway({ data: d, ca: caUrl, token: await token(), bootstrap: [dialable(g0.ready)], extra: ['--renew-before', String(30 * 86400_000 - 3000)] })
    procs.push(g)
    const first = await readFile(join(d, 'certificate.der'))
    await eventually(async () => !(await readFile(join(d, 'certificate.der'))).equals(first), 30_000, 'a renewed certificate on disk')
    await eventually(async () => (await status(g0.ready.admin as string)).verifiedPeers.some(p => p.peerId === g.ready.peerId), 15_000, 'still verified')
    await g.stop()
  })

  it('refuses bad configuration with a clear code and exit status 2', async () => {
    const d = await dir()
    const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
      [['--data', d, '--services', 'collector,miner'], {}, 'GM_ERR_GATEWAY_CONFIG'],
      [['--data', d, '--admin-port', 'eighty'], {}, 'GM_ERR_GATEWAY_CONFIG'],
      [['--data', d, '--ca', 'ftp://x'], {}, 'GM_ERR_GATEWAY_CONFIG'],
      [['--data', d, '--bogus'], {}, 'GM_ERR_GATEWAY_CONFIG'],
      // checked with the rest of the configuration, before the token is spent
      [['--data', d, '--bootstrap', 'not-a-multiaddr', '--ca', caUrl, '--token', await token()], {}, 'GM_ERR_GATEWAY_CONFIG'],
      [['--data', join(d, 'fresh')], {}, 'GM_ERR_GATEWAY_TOKEN_REQUIRED'],
      [['--config', join(d, 'missing.json')], {}, 'GM_ERR_GATEWAY_CONFIG'],
      [[], { GATEMESH_DATA: d, GATEMESH_CRL_INTERVAL: '-5' }, 'GM_ERR_GATEWAY_CONFIG']
    ]
    for (const [args, env, code] of cases) {
      const res = await cli(['gateway', 'start', ...args], env)
      assert.equal(res.code, 2, `${args.join(' ')}: ${res.stderr}`)
      assert.match(res.stderr, new RegExp(code))
    }
  })

  it('a reused token is refused by the CA and the gateway exits 1', async () => {
    const t = await token()
    const first = await startGateway({ data: await dir(), ca: caUrl, token: t })
    procs.push(first)
    const res = await cli(['gateway', 'start', '--data', await dir(), '--ca', caUrl, '--token', t, '--listen', '/ip4/127.0.0.1/tcp/0'])
    assert.equal(res.code, 1)
    assert.match(res.stderr, /GM_ERR_TOKEN_USED/)
  })

  it('`ca revoke` expels the peer from the routing tables of the others within 60 s', async () => {
    const g0 = procs[0] as Proc
    const victim = await startGateway({ data: await dir(), ca: caUrl, token: await token(), bootstrap: [dialable(g0.ready)] })
    procs.push(victim)
    const witness = await startGateway({ data: await dir(), ca: caUrl, token: await token(), bootstrap: [dialable(g0.ready)] })
    procs.push(witness)
    await eventually(async () => (await status(witness.ready.admin as string)).routingTable.includes(victim.ready.peerId), 20_000, 'the victim in the witness routing table')
    const t0 = Date.now()
    const res = await cli(['ca', 'revoke', '--dir', caDir, victim.ready.peerId])
    assert.equal(res.code, 0, res.stderr)
    await eventually(async () => {
      const all = await Promise.all([g0, witness].map(async p => await status(p.ready.admin as string)))
      return all.every(s => !s.routingTable.includes(victim.ready.peerId) && !s.verifiedPeers.some(p => p.peerId === victim.ready.peerId))
    }, 60_000, 'expulsion')
    assert.ok(Date.now() - t0 < 60_000)
  })
})
