// `gatemesh sim` as a real child process against a real network (a CA and two gateways from
// src/demo/network.ts): every reading acknowledged, the table printed, the JSON consistent with
// itself and with what each gateway's admin status counts and its Prometheus /metrics reports
// (readings accepted, by protocol); bad arguments exit 2; an unreachable
// collector shows as errors, not a crash; Ctrl-C still prints the table.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startNetwork } from '../../src/demo/network.ts'
import type { Network, RunningGateway } from '../../src/demo/network.ts'
import type { SimulationReport } from '../../src/sim/index.ts'
import { eventuallyValue } from '../support/eventually.ts'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

interface Result { code: number, stdout: string, stderr: string }

async function sim (args: string[], timeoutMs = 60_000): Promise<Result> {
  return await new Promise(resolve => {
    execFile(process.execPath, [MAIN, 'sim', ...args], { timeout: timeoutMs, env: { ...process.env, GATEMESH_HOME: '', GATEMESH_PASSWORD: '' } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

type Report = SimulationReport & { interrupted: boolean }

/**
 * Readings the collector of `gw` delivered to its latest-reading sink ([COL-14]), from its admin
 * status, and how many it holds not yet settled by every sink.
 */
async function delivery (gw: RunningGateway): Promise<{ delivered: number, held: number }> {
  const res = await fetch(`${gw.ready.admin}/v1/status`)
  const status = await res.json() as { serviceStatus: { collector?: { delivery: { held: number, sinks: Record<string, { delivered: number }> } | null } } }
  const d = status.serviceStatus.collector?.delivery
  return { delivered: d?.sinks.latest?.delivered ?? 0, held: d?.held ?? 0 }
}
const delivered = async (gw: RunningGateway): Promise<number> => (await delivery(gw)).delivered

/**
 * `gatemesh_collector_readings_accepted_total` by protocol, as the gateway's Prometheus endpoint
 * (`/metrics` on its admin port) reports it: the readings its collector acknowledged.
 */
async function acceptedMetric (gw: RunningGateway): Promise<{ http: number, mqtt: number }> {
  const res = await fetch(`${gw.ready.admin}/metrics`)
  assert.equal(res.status, 200)
  const body = await res.text()
  const value = (protocol: string): number => {
    const line = body.split('\n').find(l => l.startsWith(`gatemesh_collector_readings_accepted_total{protocol="${protocol}"} `))
    assert.ok(line !== undefined, `${gw.name} /metrics reports readings accepted over ${protocol}`)
    return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return { http: value('http'), mqtt: value('mqtt') }
}

/** What each gateway's metrics should add: the simulator's acknowledged readings, by the collector URL (and so protocol) each sensor used. */
function acknowledgedByGateway (report: Report, gws: Record<string, RunningGateway>): Record<string, { http: number, mqtt: number }> {
  const out = Object.fromEntries(Object.keys(gws).map(name => [name, { http: 0, mqtt: 0 }]))
  for (const s of report.sensors) {
    const entry = Object.entries(gws).find(([, gw]) => gw.ready.collector?.mqtt === s.collector || gw.ready.collector?.http === s.collector)
    assert.ok(entry !== undefined, `sensor ${s.id} sent to a collector of the network (${s.collector})`)
    const [name, gw] = entry
    assert.equal(gw.ready.collector?.[s.protocol], s.collector, `sensor ${s.id} used its protocol's collector URL`)
    out[name]![s.protocol] += s.acknowledged
  }
  return out
}

/** Each gateway's accepted-readings metric now, less `before`. */
async function acceptedSince (before: Record<string, { http: number, mqtt: number }>, gws: Record<string, RunningGateway>): Promise<Record<string, { http: number, mqtt: number }>> {
  return Object.fromEntries(await Promise.all(Object.entries(gws).map(async ([name, gw]) => {
    const now = await acceptedMetric(gw)
    return [name, { http: now.http - (before[name]?.http ?? 0), mqtt: now.mqtt - (before[name]?.mqtt ?? 0) }] as const
  })))
}

/** The gateways' delivered counts once settled: nothing held, and the same on two polls in a row. */
async function settledCounts (gws: Record<string, RunningGateway>): Promise<Record<string, number>> {
  let previous = ''
  return await eventuallyValue('the gateways settled every reading', async () => {
    const now = Object.fromEntries(await Promise.all(Object.entries(gws).map(async ([name, gw]) => [name, await delivery(gw)] as const)))
    const counts = Object.fromEntries(Object.entries(now).map(([name, d]) => [name, d.delivered]))
    const key = JSON.stringify(counts)
    const stable = Object.values(now).every(d => d.held === 0) && key === previous
    previous = key
    return stable ? counts : undefined
  }, 30_000, 500)
}

/** A port nothing listens on (bound, then closed). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as { port: number }
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  return port
}

function checkConsistent (report: Report, sensors: { mqtt: number, http: number }): void {
  for (const p of ['mqtt', 'http'] as const) {
    const s = report.protocols[p]
    assert.equal(s.sensors, sensors[p], `${p} sensors`)
    assert.ok(s.sent > 0, `${p}: readings were sent`)
    assert.equal(s.acknowledged, s.sent, `${p}: every reading acknowledged`)
    assert.deepEqual(s.refused, {}, `${p}: nothing refused`)
    assert.deepEqual(s.errors, {}, `${p}: no errors`)
    assert.equal(s.pending, 0)
    assert.equal(s.n, s.acknowledged, `${p}: one time per acknowledged reading`)
    assert.ok(s.mean !== null && s.sd !== null && s.p50 !== null && s.p99 !== null && s.max !== null)
    assert.ok(s.p50 <= s.p99 && s.p99 <= s.max && s.mean <= s.max && s.mean > 0, `${p}: ordered statistics`)
    const mine = report.sensors.filter(x => x.protocol === p)
    assert.equal(mine.length, sensors[p])
    assert.equal(mine.reduce((a, x) => a + x.acknowledged, 0), s.acknowledged, `${p}: per-sensor counts add up`)
    assert.equal(mine.reduce((a, x) => a + x.sent, 0), s.sent)
  }
}

describe('gatemesh sim: arguments', () => {
  it('bad arguments exit 2 with a usage error', async () => {
    for (const args of [
      ['--mqtt', 'three', '--access', 'http://127.0.0.1:1'],
      ['--mqtt', '1', '--access', 'http://127.0.0.1:1', '--collector', 'mqtt://127.0.0.1:1', '--period', '150-20'],
      ['--mqtt', '1', '--access', 'http://127.0.0.1:1', '--collector', 'mqtt://127.0.0.1:1', '--qos', '2'],
      ['--mqtt', '1', '--access', 'http://127.0.0.1:1', '--collector', 'ftp://127.0.0.1:1'],
      ['--mqtt', '1', '--access', 'http://127.0.0.1:1', '--collector', 'mqtt://127.0.0.1:1', '--duration', 'soon'],
      ['--mqtt', '1', '--collector', 'mqtt://127.0.0.1:1'],
      ['--http', '1', '--access', 'http://127.0.0.1:1'],
      ['--collector', 'mqtt://127.0.0.1:1', '--access', 'http://127.0.0.1:1'],
      ['--mqtt', '1', '--access', 'http://127.0.0.1:1', '--collector', 'mqtt://127.0.0.1:1', '--speed', '0'],
      ['--sensors', '/nonexistent/sensors.json', '--collector', 'mqtt://127.0.0.1:1'],
      ['--mqtt', '1', '--access', 'http://127.0.0.1:1', '--no-such-flag']
    ]) {
      const r = await sim(args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, /GM_ERR_CLI_USAGE/, args.join(' '))
      assert.match(r.stderr, /usage: gatemesh sim/, args.join(' '))
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    }
  })
})

describe('gatemesh sim on a terminal', () => {
  it('rewrites its progress lines in place, then prints the table', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-sim-tty-'))
    try {
      const sensors = join(dir, 'sensors.json')
      await writeFile(sensors, JSON.stringify({ sensors: [{ id: 'tty-m', credential: 'x', protocol: 'mqtt' }, { id: 'tty-h', credential: 'y', protocol: 'http' }] }))
      const port = await closedPort()
      // python3's pty: the simulator's standard streams are a terminal
      const drive = 'import os, pty, sys\npid, fd = pty.fork()\nif pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\nout = b""\nwhile True:\n    try:\n        d = os.read(fd, 4096)\n    except OSError:\n        break\n    if not d:\n        break\n    out += d\nsys.stdout.write(out.decode())\nsys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n'
      const r = await new Promise<Result>(resolve => {
        execFile('python3', ['-c', drive, process.execPath, MAIN, 'sim', '--sensors', sensors, '--collector', `mqtt://127.0.0.1:${port},http://127.0.0.1:${port}`, '--period', '1-1', '--speed', '10', '--duration', '3s'],
          { timeout: 30_000 }, (err, stdout, stderr) => { resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }) })
      })
      assert.equal(r.code, 1, r.stderr)
      const shown = r.stdout.replaceAll(String.fromCharCode(27), '<ESC>')
      assert.match(shown, /\r<ESC>\[2K\[\s+1s\] MQTT\s+sent \d+\s+acked 0\s+errors \d+/, 'a progress line, cleared first')
      assert.match(shown, /<ESC>\[2A\r<ESC>\[2K\[\s+2s\] MQTT/, 'the next second rewrites the two lines')
      assert.match(r.stdout, /^HTTP\s+1\s+\d+\s+0\s+0\s+\d+\s+0\s/m)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('gatemesh sim against two gateways', { timeout: 240_000 }, () => {
  let dir: string
  let net: Network
  let g1: RunningGateway
  let g2: RunningGateway
  let save: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-sim-'))
    save = join(dir, 'sim-user')
    net = await startNetwork({
      dir,
      gateways: [{ name: 'g1', services: ['collector', 'access'] }, { name: 'g2', services: ['collector', 'access'] }],
      gatewayArgs: ['--admin-port', '0'],
      env: { GATEMESH_LOG_LEVEL: 'warn' }
    })
    ;[g1, g2] = net.gateways as [RunningGateway, RunningGateway]
  })

  after(async () => {
    await net?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const collectors = (): string => [g1, g2].flatMap(g => [g.ready.collector?.mqtt, g.ready.collector?.http]).join(',')

  it('registers a new user\'s sensors, acknowledges every reading, and the gateways count the same', async () => {
    const before = { g1: await delivered(g1), g2: await delivered(g2) }
    const metricsBefore = { g1: await acceptedMetric(g1), g2: await acceptedMetric(g2) }
    const json = join(dir, 'run1.json')
    const r = await sim(['--mqtt', '3', '--http', '3', '--collector', collectors(), '--access', g1.ready.access as string, '--kdf-iterations', '600000',
      '--save', save, '--prefix', 'simtest', '--period', '1-2', '--speed', '10', '--duration', '4s', '--json', json])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^protocol\s+sensors\s+sent\s+acked\s+refused\s+errors\s+pending\s+mean ms\s+sd ms\s+p50 ms\s+p99 ms\s+max ms$/m)
    assert.match(r.stdout, /^MQTT\s+3\s/m)
    assert.match(r.stdout, /^HTTP\s+3\s/m)
    assert.match(r.stderr, /new user [A-Za-z0-9_-]+; its password is in /)
    const report = JSON.parse(await readFile(json, 'utf8')) as Report
    checkConsistent(report, { mqtt: 3, http: 3 })
    assert.equal(report.interrupted, false)
    // the table prints the JSON's counts
    for (const [name, p] of [['MQTT', 'mqtt'], ['HTTP', 'http']] as const) {
      const s = report.protocols[p]
      assert.match(r.stdout, new RegExp(`^${name}\\s+3\\s+${s.sent}\\s+${s.acknowledged}\\s+0\\s+0\\s+0\\s`, 'm'))
    }
    // the new user's secrets are kept for the owner only
    for (const file of ['password', 'session.json', 'sensors.json']) assert.equal((await stat(join(save, file))).mode & 0o777, 0o600, file)
    // sensors spread over both gateways' collectors, and each gateway counted the readings of its own
    const expected = { g1: 0, g2: 0 }
    for (const s of report.sensors) {
      const on = [g1.ready.collector?.mqtt, g1.ready.collector?.http].includes(s.collector) ? 'g1' : 'g2'
      expected[on] += s.acknowledged
    }
    assert.ok(expected.g1 > 0 && expected.g2 > 0, 'both gateways took readings')
    const counts = await settledCounts({ g1, g2 })
    assert.deepEqual({ g1: (counts.g1 as number) - before.g1, g2: (counts.g2 as number) - before.g2 }, expected, 'each gateway counted the readings acknowledged to its sensors, no more')
    // and each gateway's Prometheus metrics report the same, protocol by protocol
    const byProtocol = acknowledgedByGateway(report, { g1, g2 })
    assert.ok(Object.values(byProtocol).every(c => c.http + c.mqtt > 0) && byProtocol.g1!.http + byProtocol.g2!.http > 0 && byProtocol.g1!.mqtt + byProtocol.g2!.mqtt > 0, 'readings over both protocols')
    assert.deepEqual(await acceptedSince(metricsBefore, { g1, g2 }), byProtocol, 'each gateway\'s /metrics counted the readings acknowledged to its sensors, by protocol')
  })

  it('reuses a sensors file, with HTTP keep-alive', async () => {
    const metricsBefore = { g1: await acceptedMetric(g1), g2: await acceptedMetric(g2) }
    const json = join(dir, 'run2.json')
    const r = await sim(['--sensors', join(save, 'sensors.json'), '--collector', collectors(), '--keep-alive', '--period', '1-1', '--speed', '20', '--duration', '3s', '--json', json])
    assert.equal(r.code, 0, r.stderr)
    const report = JSON.parse(await readFile(json, 'utf8')) as Report
    checkConsistent(report, { mqtt: 3, http: 3 })
    assert.equal(report.keepAlive, true)
    assert.deepEqual(await acceptedSince(metricsBefore, { g1, g2 }), acknowledgedByGateway(report, { g1, g2 }), 'each gateway\'s /metrics counted the readings acknowledged to its sensors, by protocol')
  })

  it('registers sensors as the logged-in user (--user)', async () => {
    const home = join(dir, 'home')
    const passwordFile = join(dir, 'user-password')
    await writeFile(passwordFile, 'a user of the simulator\n', { mode: 0o600 })
    const signup = await new Promise<Result>(resolve => {
      execFile(process.execPath, [MAIN, 'signup', '--gateway', g2.ready.access as string, '--home', home, '--password-file', passwordFile, '--kdf-iterations', '600000'],
        { timeout: 60_000 }, (err, stdout, stderr) => { resolve({ code: err === null ? 0 : -1, stdout, stderr }) })
    })
    assert.equal(signup.code, 0, signup.stderr)
    const pseudonym = signup.stdout.trim()
    const json = join(dir, 'user.json')
    const r = await sim(['--user', '--home', home, '--password-file', passwordFile, '--mqtt', '1', '--http', '1', '--collector', collectors(), '--save', join(dir, 'user-sensors'),
      '--period', '1-1', '--speed', '10', '--duration', '2s', '--json', json])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, new RegExp(`registering sensors as ${pseudonym} \\(logged in`))
    checkConsistent(JSON.parse(await readFile(json, 'utf8')) as Report, { mqtt: 1, http: 1 })
  })

  it('an unreachable collector shows as errors in the table, exit 1, no crash', async () => {
    const port = await closedPort()
    const json = join(dir, 'unreachable.json')
    const r = await sim(['--sensors', join(save, 'sensors.json'), '--mqtt', '2', '--http', '2', '--collector', `mqtt://127.0.0.1:${port},http://127.0.0.1:${port}`,
      '--period', '1-1', '--speed', '10', '--duration', '2s', '--json', json])
    assert.equal(r.code, 1, r.stderr)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
    assert.match(r.stdout, /^errors \(MQTT\): ECONNREFUSED \d+/m)
    assert.match(r.stdout, /^errors \(HTTP\): ECONNREFUSED \d+/m)
    const report = JSON.parse(await readFile(json, 'utf8')) as Report
    for (const p of ['mqtt', 'http'] as const) {
      const s = report.protocols[p]
      assert.ok(s.sent > 0)
      assert.equal(s.acknowledged, 0)
      assert.deepEqual(s.errors, { ECONNREFUSED: s.sent })
    }
  })

  it('Ctrl-C stops the run and still prints the table', async () => {
    const json = join(dir, 'interrupted.json')
    const child = spawn(process.execPath, [MAIN, 'sim', '--sensors', join(save, 'sensors.json'), '--collector', collectors(), '--period', '1-1', '--speed', '10', '--json', json],
      { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    const exited = new Promise<number | null>(resolve => { child.on('close', code => { resolve(code) }) })
    // the first plain progress line (not a terminal: every 5 s) says readings are flowing
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stderr })
      lines.on('line', line => { if (/^\[\s*\d+s\] MQTT\s+sent [1-9]/.test(line)) { lines.close(); resolve() } })
      void exited.then(code => { reject(new Error(`exited with ${code} before any progress`)) })
    })
    child.kill('SIGINT')
    assert.equal(await exited, 0)
    assert.match(stdout, /^MQTT\s+3\s/m)
    const report = JSON.parse(await readFile(json, 'utf8')) as Report
    assert.equal(report.interrupted, true)
    checkConsistent(report, { mqtt: 3, http: 3 })
  })
})
