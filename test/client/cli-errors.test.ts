// The error paths a new user of the CLI walks, as real child processes (against a real access
// service on 127.0.0.1 where a gateway is needed): each failure is one line on standard error
// ending in its code (and a line saying what to do, where there is one), the documented exit
// status (2 for a command line that is not valid, 1 otherwise), and nothing on standard output
// ([ACS-15], [ACS-16]).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { call, otherCa, startService } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

interface Result { code: number, stdout: string, stderr: string }

async function gatemesh (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return await new Promise(resolve => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, GATEMESH_HOME: '', GATEMESH_PASSWORD: '', GATEMESH_STREAM: '', GATEMESH_CA_CERT: '', ...env }
    execFile(process.execPath, [MAIN, ...args], { env: childEnv, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

/** Runs the cases two at a time (a loaded machine runs a dozen node processes slowly). */
async function runAll (cases: Array<{ args: string[], env?: Record<string, string> }>): Promise<Result[]> {
  const results: Result[] = []
  for (let i = 0; i < cases.length; i += 2) {
    results.push(...await Promise.all(cases.slice(i, i + 2).map(async c => await gatemesh(c.args, c.env))))
  }
  return results
}

/** One failure line, `gatemesh <command>: ... (<code>)`, then at most a hint line (and the usage after a usage error). */
function assertFailure (result: Result, what: string, expected: { exit: number, code: string, command: string, message?: RegExp, hint?: RegExp }): void {
  assert.equal(result.code, expected.exit, `${what}: exit ${result.code}; ${result.stderr}`)
  assert.equal(result.stdout, '', `${what}: nothing on standard output`)
  const lines = result.stderr.split('\n')
  assert.match(lines[0] as string, new RegExp(`^gatemesh ${expected.command}: .*\\(${expected.code}\\)$`), what)
  if (expected.message !== undefined) assert.match(lines[0] as string, expected.message, what)
  if (expected.exit === 2) {
    assert.match(result.stderr, /\n\nusage:\n/, `${what}: the usage follows a usage error`)
    return
  }
  assert.doesNotMatch(result.stderr, /usage:|not valid/, `${what}: no usage text after a failure that is not a usage error`)
  if (expected.hint !== undefined) {
    assert.match(lines[1] as string, expected.hint, `${what}: the next line says what to do`)
    assert.equal(lines.length, 3, `${what}: ${result.stderr}`)
  } else {
    assert.ok(lines.length === 2 || (lines.length === 3 && (lines[1] as string).startsWith('  ')), `${what}: one line (and a hint at most): ${result.stderr}`)
  }
}

const PSEUDONYM = 'a'.repeat(52)

describe('gatemesh error paths', () => {
  let fx: Fixture
  let dir: string
  let home: string
  let env: Record<string, string>
  let pseudonym: string

  before(async () => {
    fx = await startService()
    dir = await mkdtemp(join(tmpdir(), 'gatemesh-cli-errors-'))
    home = join(dir, 'user')
    env = { GATEMESH_HOME: home, GATEMESH_PASSWORD: 'error paths password' }
    const up = await gatemesh(['signup', '--gateway', fx.url, '--kdf-iterations', '600000'], env)
    assert.equal(up.code, 0, up.stderr)
    pseudonym = up.stdout.trim()
    const add = await gatemesh(['sensor', 'add', 'known-1'], env)
    assert.equal(add.code, 0, add.stderr)
  })
  after(async () => {
    await fx.service.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('every command that needs a session, run before signing up, says so alone: GM_ERR_CLI_NOT_LOGGED_IN, exit 1 [ACS-16]', async () => {
    const nobody = { GATEMESH_HOME: join(dir, 'nobody'), GATEMESH_PASSWORD: 'x' }
    const commands = [
      ['watch', '--stream', 'mqtt://127.0.0.1:1'],
      ['watch', 'greenhouse-1', '--stream', 'mqtt://127.0.0.1:1', '--json'],
      ['token'],
      ['token', '--ttl', '10m'],
      ['sensor', 'add', 'barn-1', '--retention', '30d'],
      ['sensor', 'share', 'barn-1', PSEUDONYM],
      ['sensor', 'revoke', 'barn-1', PSEUDONYM],
      ['sensor', 'set-retention', 'barn-1', 'forever'],
      ['sensor', 'show', 'barn-1'],
      ['sensor', 'list', '--json'],
      ['read', 'latest', 'barn-1'],
      ['read', 'history', 'barn-1', '--format', 'json']
    ]
    const results = await runAll(commands.map(args => ({ args, env: nobody })))
    for (const [i, args] of commands.entries()) {
      const result = results[i] as Result
      assertFailure(result, args.join(' '), { exit: 1, code: 'GM_ERR_CLI_NOT_LOGGED_IN', command: args[0] as string, message: /: Not logged in\. No session in .*session\.json: run 'gatemesh signup --gateway URL' or 'gatemesh login/ })
      assert.equal(result.stderr.split('\n').length, 2, `${args.join(' ')}: the one line: ${result.stderr}`)
    }
  })

  it('an unknown sensor: GM_ERR_SENSOR_NOT_FOUND, exit 1, what to do next, nothing on standard output', async () => {
    const commands = [
      ['sensor', 'share', 'no-such-sensor', PSEUDONYM],
      ['sensor', 'revoke', 'no-such-sensor', PSEUDONYM],
      ['sensor', 'set-retention', 'no-such-sensor', '30d'],
      ['sensor', 'show', 'no-such-sensor'],
      ['read', 'latest', 'no-such-sensor']
    ]
    // a pseudonym with an account, so that share fails on the sensor, not on the reader
    const reader = await gatemesh(['signup', '--gateway', fx.url, '--home', join(dir, 'reader'), '--kdf-iterations', '600000'], { GATEMESH_PASSWORD: 'reader password' })
    assert.equal(reader.code, 0, reader.stderr)
    const known = reader.stdout.trim()
    const results = await runAll(commands.map(args => ({ args: args.map(a => a === PSEUDONYM ? known : a), env })))
    for (const [i, args] of commands.entries()) {
      assertFailure(results[i] as Result, args.join(' '), { exit: 1, code: 'GM_ERR_SENSOR_NOT_FOUND', command: args[0] as string, hint: /gatemesh sensor list/ })
    }
  })

  it('arguments that cannot be right are usage errors (exit 2) before the password is asked for', async () => {
    // no password anywhere: a usage error about the argument, not about the password
    const noPassword = { GATEMESH_HOME: home }
    const cases: Array<[string[], RegExp]> = [
      [['sensor', 'add', 'bad/id'], /'bad\/id' is not a sensor id/],
      [['sensor', 'add', '..'], /'\.\.' is not a sensor id/],
      [['sensor', 'share', 'known-1', 'bob'], /'bob' is not a pseudonym/],
      [['sensor', 'revoke', 'known-1', PSEUDONYM.toUpperCase()], /is not a pseudonym/],
      [['read', 'latest', 'a b'], /'a b' is not a sensor id/],
      [['read', 'history', 'x'.repeat(129)], /is not a sensor id/],
      [['sensor', 'add', 'barn-2', '--retention', '10x'], /--retention/],
      [['sensor', 'add', 'barn-2', '--retention', '0d'], /--retention/],
      [['sensor', 'set-retention', 'known-1', ''], /retention/i],
      [['token', '--ttl', '0s'], /--ttl '0s'/],
      [['token', '--ttl', '25h'], /--ttl '25h'/],
      [['token', '--ttl', '-1h'], /--ttl/],
      [['token', '--ttl', '1.5h'], /--ttl '1\.5h'/]
    ]
    const results = await runAll(cases.map(([args]) => ({ args, env: noPassword })))
    for (const [i, [args, message]] of cases.entries()) {
      assertFailure(results[i] as Result, args.join(' '), { exit: 2, code: 'GM_ERR_CLI_USAGE', command: args[0] as string, message })
    }
  })

  it('a gateway that refuses connections: GM_ERR_CLIENT_UNREACHABLE, exit 1, what to do next', async () => {
    const refusing = 'http://127.0.0.1:1'
    const commands = [
      ['sensor', 'list', '--gateway', refusing],
      ['sensor', 'show', 'known-1', '--gateway', refusing],
      ['read', 'latest', 'known-1', '--gateway', refusing],
      ['read', 'history', 'known-1', '--gateway', refusing, '--format', 'csv'],
      ['login', '--gateway', refusing, '--pseudonym', PSEUDONYM, '--home', join(dir, 'elsewhere')]
    ]
    const results = await runAll(commands.map(args => ({ args, env })))
    for (const [i, args] of commands.entries()) {
      assertFailure(results[i] as Result, args.join(' '), { exit: 1, code: 'GM_ERR_CLIENT_UNREACHABLE', command: args[0] as string, hint: /Is the gateway running\?/ })
    }
  })

  it('a gateway URL that is not one: GM_ERR_CLIENT_GATEWAY_URL, exit 1, what a gateway URL looks like', async () => {
    const commands = [
      ['login', '--gateway', '127.0.0.1:8081', '--pseudonym', PSEUDONYM, '--home', join(dir, 'elsewhere')],
      ['signup', '--gateway', 'ftp://127.0.0.1:8081', '--home', join(dir, 'elsewhere'), '--kdf-iterations', '600000'],
      ['sensor', 'list', '--gateway', 'localhost']
    ]
    const results = await runAll(commands.map(args => ({ args, env })))
    for (const [i, args] of commands.entries()) {
      assertFailure(results[i] as Result, args.join(' '), { exit: 1, code: 'GM_ERR_CLIENT_GATEWAY_URL', command: args[0] as string, hint: /http:\/\/HOST:PORT/ })
    }
  })

  it('a reader of standard output that goes away (| head) ends the command quietly, not with a stack trace', async () => {
    const child = spawn(process.execPath, [MAIN, 'sensor', 'show', 'known-1'], { env: { ...process.env, ...env, GATEMESH_CA_CERT: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    // gone before the command writes anything: every write it makes fails with EPIPE
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const code = await new Promise<number | null>(resolve => child.on('close', resolve))
    assert.equal(code, 0, stderr)
    assert.equal(stderr, '')
  })

  it('a home that is not a directory: a usage error naming it, never a crash, and no account made', async () => {
    const file = join(dir, 'a-file')
    await writeFile(file, 'not a directory\n')
    const accounts = (): number => [...fx.dht.values.keys()].filter(k => k.startsWith('/gm-account/')).length
    const before = accounts()
    const results = await runAll([
      { args: ['sensor', 'list', '--home', file], env: { GATEMESH_PASSWORD: 'x' } },
      { args: ['signup', '--gateway', fx.url, '--home', join(file, 'sub'), '--kdf-iterations', '600000'], env: { GATEMESH_PASSWORD: 'x' } }
    ])
    assertFailure(results[0] as Result, 'sensor list --home FILE', { exit: 2, code: 'GM_ERR_CLI_USAGE', command: 'sensor', message: /Cannot read .*a-file\/session\.json \(ENOTDIR\)/ })
    assertFailure(results[1] as Result, 'signup --home FILE/sub', { exit: 2, code: 'GM_ERR_CLI_USAGE', command: 'signup', message: /Cannot use .*a-file\/sub/ })
    assert.equal(accounts(), before, 'no account was made that could not be saved')
  })

  it('[ACS-16] a signup or login that fails leaves no home behind where there was none, nor a parent it made', async () => {
    // a gateway that refuses sign-ups: its one sign-up (per source address) taken first
    const stingy = await startService({ allowWeakKdfForTests: true, signupLimit: { burst: 1, perHour: 0.001 } })
    const foreignCa = join(dir, 'foreign-ca.der')
    await writeFile(foreignCa, (await otherCa()).certificate)
    try {
      assert.equal((await call(stingy.url, 'POST', '/v1/accounts', { body: {} })).status, 400)
      const refusing = 'http://127.0.0.1:1'
      const kdf = ['--kdf-iterations', '600000']
      // each case's home is made under a folder of its own that did not exist either
      const cases: Array<{ top: string, args: (home: string) => string[], code: string }> = [
        { top: 'signup-unreachable', args: home => ['signup', '--gateway', refusing, '--home', home, ...kdf], code: 'GM_ERR_CLIENT_UNREACHABLE' },
        { top: 'signup-refused', args: home => ['signup', '--gateway', stingy.url, '--home', home, ...kdf], code: 'GM_ERR_SIGNUP_RATE_LIMITED' },
        { top: 'signup-other-network', args: home => ['signup', '--gateway', fx.url, '--home', home, '--ca-cert', foreignCa, ...kdf], code: 'GM_ERR_CLIENT_CA_MISMATCH' },
        { top: 'signup-weak-kdf', args: home => ['signup', '--gateway', fx.url, '--home', home, '--kdf-iterations', '1000'], code: 'GM_ERR_WEAK_KDF' },
        { top: 'login-unreachable', args: home => ['login', '--gateway', refusing, '--pseudonym', pseudonym, '--home', home], code: 'GM_ERR_CLIENT_UNREACHABLE' },
        { top: 'login-no-account', args: home => ['login', '--gateway', fx.url, '--pseudonym', PSEUDONYM, '--home', home], code: 'GM_ERR_ACCOUNT_NOT_FOUND' },
        { top: 'login-wrong-password', args: home => ['login', '--gateway', fx.url, '--pseudonym', pseudonym, '--home', home], code: 'GM_ERR_BAD_PASSWORD' },
        { top: 'login-other-network', args: home => ['login', '--gateway', fx.url, '--pseudonym', pseudonym, '--home', home, '--ca-cert', foreignCa], code: 'GM_ERR_CLIENT_CA_MISMATCH' }
      ]
      const results = await runAll(cases.map(c => ({ args: c.args(join(dir, c.top, 'nested', 'home')), env: { GATEMESH_PASSWORD: 'not the password' } })))
      const left = await readdir(dir)
      for (const [i, c] of cases.entries()) {
        const result = results[i] as Result
        assert.equal(result.code, 1, `${c.top}: ${result.stderr}`)
        assert.match(result.stderr.split('\n')[0] as string, new RegExp(`\\(${c.code}\\)$`), c.top)
        assert.ok(!left.includes(c.top), `${c.top}: the folders it made are gone`)
      }
    } finally {
      await stingy.service.stop()
    }
  })

  it('[ACS-16] a signup or login that fails leaves what was there before as it was: a home with a session and a file, an empty folder the user made, a parent', async () => {
    // a home with another session in it and a file of the user's
    const kept = join(dir, 'kept')
    await mkdir(kept, { mode: 0o700 })
    await copyFile(join(home, 'session.json'), join(kept, 'session.json'))
    await writeFile(join(kept, 'notes.txt'), 'mine\n', { mode: 0o644 })
    const made = join(dir, 'made-by-the-user')
    await mkdir(made)
    const parent = join(dir, 'a-parent')
    await mkdir(parent)
    const snapshot = async (folder: string): Promise<unknown> => {
      const entries = (await readdir(folder)).sort()
      return await Promise.all([folder, ...entries.map(e => join(folder, e))].map(async path => {
        const info = await lstat(path)
        return { path, mode: info.mode, mtimeMs: info.mtimeMs, size: info.size, text: info.isFile() ? await readFile(path, 'utf8') : undefined }
      }))
    }
    const before = await snapshot(kept)
    const results = await runAll([
      { args: ['login', '--gateway', fx.url, '--pseudonym', pseudonym, '--home', kept], env: { GATEMESH_PASSWORD: 'not the password' } },
      { args: ['signup', '--gateway', 'http://127.0.0.1:1', '--home', kept, '--kdf-iterations', '600000'], env: { GATEMESH_PASSWORD: 'x' } },
      { args: ['login', '--gateway', fx.url, '--pseudonym', PSEUDONYM, '--home', made], env: { GATEMESH_PASSWORD: 'x' } },
      { args: ['signup', '--gateway', 'http://127.0.0.1:1', '--home', join(parent, 'home'), '--kdf-iterations', '600000'], env: { GATEMESH_PASSWORD: 'x' } }
    ])
    for (const result of results) assert.equal(result.code, 1, result.stderr)
    assert.deepEqual(await snapshot(kept), before, 'the home, its session and the file are untouched')
    assert.deepEqual(await readdir(made), [], 'the folder the user made is still there')
    assert.deepEqual(await readdir(parent), [], 'the parent that was there stays; the home made in it is gone')
    // the session in the kept home still works
    const list = await gatemesh(['sensor', 'list', '--home', kept], env)
    assert.equal(list.code, 0, list.stderr)
    assert.match(list.stdout, /known-1/)
  })

  it('[ACS-16] a signup or login stopped by SIGINT or SIGTERM while it waits on the gateway leaves no home behind', async () => {
    // a gateway that takes the connection and never answers: the command is surely past making its home
    const sockets = new Set<Socket>()
    const silent = createServer(socket => { sockets.add(socket) })
    silent.listen(0, '127.0.0.1')
    await once(silent, 'listening')
    const address = silent.address()
    assert.ok(address !== null && typeof address === 'object')
    const url = `http://127.0.0.1:${address.port}`
    try {
      const runs: Array<[NodeJS.Signals, number, string[]]> = [
        ['SIGINT', 130, ['signup', '--gateway', url, '--home', join(dir, 'interrupted-signup', 'home'), '--kdf-iterations', '600000']],
        ['SIGTERM', 143, ['login', '--gateway', url, '--pseudonym', pseudonym, '--home', join(dir, 'interrupted-login', 'home')]]
      ]
      for (const [signal, status, args] of runs) {
        const child = spawn(process.execPath, [MAIN, ...args], { env: { ...process.env, GATEMESH_HOME: '', GATEMESH_CA_CERT: '', GATEMESH_PASSWORD: 'x' }, stdio: ['ignore', 'ignore', 'pipe'] })
        let stderr = ''
        child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
        const closed = once(child, 'close')
        await once(silent, 'connection')
        child.kill(signal)
        const [code] = await closed as [number | null]
        assert.ok(!(await readdir(dir)).includes(`interrupted-${args[0] as string}`), `${args[0] as string} stopped by ${signal}: the folders it made are gone`)
        assert.equal(code, status, `${args[0] as string} stopped by ${signal}: ${stderr}`)
      }
    } finally {
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  })

  it('[ACS-16] a signup into a home it makes, parents and all, makes each folder 0700 and the session 0600', async () => {
    const made = join(dir, 'fresh', 'home')
    const up = await gatemesh(['signup', '--gateway', fx.url, '--home', made, '--kdf-iterations', '600000'], { GATEMESH_PASSWORD: 'fresh password' })
    assert.equal(up.code, 0, up.stderr)
    assert.equal((await stat(join(dir, 'fresh'))).mode & 0o777, 0o700)
    assert.equal((await stat(made)).mode & 0o777, 0o700)
    assert.equal((await stat(join(made, 'session.json'))).mode & 0o777, 0o600)
    assert.deepEqual(await readdir(made), ['session.json'], 'the session alone, no file half written')
  })
})
