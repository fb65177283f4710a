// `npm start` (src/demo/start.ts): a CA and 7 gateways come up (the three full peers running
// persistence and stream too), the web application is served at the printed URL, the printed curl
// and CLI lines work as printed (the reading sent is printed live by the printed `gatemesh watch`
// line, read back as the latest reading and from history, and the printed mosquitto_sub line, with
// its token, receives it), Ctrl-C (SIGINT to the process group) leaves no process behind, and a
// second start reuses the CA, the gateways, the demo user and sensor, and history.
import assert from 'node:assert/strict'
import { exec, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ROOT } from '../../src/demo/network.ts'

interface Started { output: () => string, pid: number, exited: Promise<number | null> }

/** Starts the demo in its own process group and waits for its closing line. */
async function startDemo (dir: string): Promise<Started> {
  const child = spawn(process.execPath, ['src/demo/start.ts'], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_NETWORK_DIR: dir } })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  const deadline = Date.now() + 120_000
  while (!out.includes('Ctrl-C stops everything')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL')
      throw new Error(`the demo did not come up:\n${out}`)
    }
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return { output: () => out, pid: child.pid as number, exited }
}

function groupAlive (pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Ctrl-C: SIGINT to the whole process group, as a terminal does; then no process of it may remain. */
async function interrupt (demo: Started): Promise<void> {
  process.kill(-demo.pid, 'SIGINT')
  assert.equal(await demo.exited, 0)
  const deadline = Date.now() + 20_000
  while (groupAlive(demo.pid) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(groupAlive(demo.pid), false, 'a process of the demo outlived Ctrl-C')
  assert.match(demo.output(), /stopped \(exit codes (0 ){7}0\)/)
}

async function sh (line: string): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    exec(line, { cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) => { resolve({ code: err === null ? 0 : 1, stdout, stderr }) })
  })
}

const lineOf = (out: string, pattern: RegExp): string => {
  const line = out.split('\n').find(l => pattern.test(l))
  assert.ok(line !== undefined, `no line ${pattern} in:\n${out}`)
  return line.trim()
}

/** A printed command line running in the background (its own process group), its output kept. */
interface Background { output: () => string, pid: number }
function background (line: string): Background {
  const child = spawn('sh', ['-c', line], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  return { output: () => out, pid: child.pid as number }
}

async function outputShows (what: string, bg: Background, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pattern.test(bg.output())) {
    if (Date.now() > deadline) throw new Error(`${what}: no ${pattern} within ${timeoutMs} ms in:\n${bg.output()}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

/** Logs in and runs the printed `read history` line until its output matches (the replicas may still be storing it), within 40 s. */
async function historyShows (out: string, pattern: RegExp): Promise<{ code: number, stdout: string, stderr: string }> {
  const cli = [lineOf(out, /^\s+export GATEMESH_HOME/), lineOf(out, /gatemesh login/), lineOf(out, /gatemesh read history/)].join(' && ')
  const deadline = Date.now() + 40_000
  for (;;) {
    const read = await sh(cli)
    if ((read.code === 0 && pattern.test(read.stdout)) || Date.now() > deadline) return read
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

describe('npm start', { timeout: 300_000 }, () => {
  let dir: string | undefined
  const demos: Started[] = []
  const watchers: Background[] = []
  after(async () => {
    // a failed assertion leaves its demo running: end it, or the test run waits on its output
    for (const demo of demos) if (groupAlive(demo.pid)) process.kill(-demo.pid, 'SIGKILL')
    for (const watcher of watchers) if (groupAlive(watcher.pid)) process.kill(-watcher.pid, 'SIGKILL')
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('runs a CA and 7 gateways whose printed lines work, stops on Ctrl-C, and reuses its data', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-npm-start-'))
    const first = await startDemo(dir)
    demos.push(first)
    const out = first.output()
    assert.match(out, /first start/)
    assert.equal((out.match(/^ {2}(small|full)-\d /gm) ?? []).length, 7)
    // [ACS-23] the web application, built if it was not, at the printed URL of an access gateway
    const web = await fetch(lineOf(out.slice(out.indexOf('web application')), /^\s+http:\/\/127\.0\.0\.1:\d+\/$/))
    assert.equal(web.status, 200)
    assert.match(web.headers.get('content-security-policy') ?? '', /default-src 'self'/)
    assert.match(await web.text(), /<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js">/)
    // [STR-47] the printed watch line (after the printed login), running before the reading is sent
    const streamPeers = out.match(/^ {2}full-\d: +mqtt:\/\/127\.0\.0\.1:\d+ +ws:\/\/127\.0\.0\.1:\d+\/mqtt$/gm) ?? []
    assert.equal(streamPeers.length, 3, 'the three full peers\' MQTT and WebSocket URLs')
    const watchLine = lineOf(out, /^\s+npx gatemesh watch demo-greenhouse --stream /)
    for (const peer of streamPeers) assert.ok(watchLine.includes(peer.trim().split(/ +/)[1] as string), 'watch names every stream peer')
    const watch = background([lineOf(out, /^\s+export GATEMESH_HOME/), lineOf(out, /gatemesh login/), watchLine].join(' && '))
    watchers.push(watch)
    await outputShows('watch connects', watch, /watching 'demo-greenhouse' at mqtt:\/\//, 60_000)
    const curl = await sh(lineOf(out, /^\s+curl /))
    assert.match(curl.stdout, /"accepted":1/, curl.stderr)
    await outputShows('watch prints the reading', watch, /demo-greenhouse +\d+ +\{"temperature":21\.5\}/, 30_000)
    process.kill(-watch.pid, 'SIGINT')
    // [STR-2] the printed mosquitto_sub line, with its token: the newest reading is retained, so it comes at once
    const sub = await sh(`${lineOf(out, /^\s+mosquitto_sub /)} -C 1 -W 30`)
    assert.equal(sub.code, 0, sub.stderr)
    assert.match(sub.stdout, /^\S+ sensors\/demo-greenhouse\/readings \d+ bytes \(sealed\)$/m)
    assert.match(out, /`npx gatemesh token` prints a fresh one/)
    const cli = [lineOf(out, /^\s+export GATEMESH_HOME/), lineOf(out, /gatemesh login/), lineOf(out, /gatemesh read latest/)].join(' && ')
    const read = await sh(cli)
    assert.equal(read.code, 0, read.stderr)
    assert.match(read.stdout, /\{"temperature":21\.5\}/)
    // the full peers run persistence, and the table says so; the printed history line reads it back
    assert.equal((out.match(/^ {2}full-\d +collector,access,persistence,stream /gm) ?? []).length, 3)
    assert.equal((out.match(/^ {2}small-\d +collector,access /gm) ?? []).length, 4)
    const history = await historyShows(out, /\{"temperature":21\.5\}/)
    assert.equal(history.code, 0, history.stderr)
    assert.match(history.stdout, /\{"temperature":21\.5\}/)
    assert.match(history.stderr, /1 reading\(s\)/)
    await interrupt(first)
    assert.equal(groupAlive(watch.pid), false, 'watch ended on Ctrl-C')

    const demo = JSON.parse(await readFile(join(dir, 'demo.json'), 'utf8')) as { pseudonym: string }
    const second = await startDemo(dir)
    demos.push(second)
    assert.match(second.output(), /reusing the CA/)
    assert.match(second.output(), /reusing the demo user/)
    assert.ok(second.output().includes(demo.pseudonym))
    assert.match(lineOf(second.output(), /^\s+mosquitto_sub /), new RegExp(`-u ${demo.pseudonym} -P '[\\w-]+\\.[\\w-]+\\.[\\w-]+'`), 'a fresh token on every start')
    // history outlives the restart: the reading sent to the first network, from the replicas' disks
    const again = await historyShows(second.output(), /\{"temperature":21\.5\}/)
    assert.equal(again.code, 0, again.stderr)
    assert.match(again.stdout, /\{"temperature":21\.5\}/)
    await interrupt(second)
  })
})
