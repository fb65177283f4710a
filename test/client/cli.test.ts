// `gatemesh signup | login | sensor | read` as real child processes against a real access
// service on 127.0.0.1 (in-memory DHT, readings put as a collector would).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MemoryDht, putReading, startService } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const KDF = ['--kdf-iterations', '600000']

interface Result { code: number, stdout: string, stderr: string }

async function gatemesh (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return await new Promise(resolve => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, GATEMESH_HOME: '', GATEMESH_PASSWORD: '', ...env }
    execFile(process.execPath, [MAIN, ...args], { env: childEnv, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

describe('gatemesh user commands', () => {
  let a: Fixture
  let b: Fixture
  let dir: string
  let aliceHome: string
  let bobHome: string
  let alicePasswordFile: string

  before(async () => {
    const dht = new MemoryDht()
    a = await startService({}, dht)
    b = await startService({}, dht)
    dir = await mkdtemp(join(tmpdir(), 'gatemesh-cli-'))
    aliceHome = join(dir, 'alice')
    bobHome = join(dir, 'bob')
    alicePasswordFile = join(dir, 'alice.pw')
    await writeFile(alicePasswordFile, 'alice: correct horse battery\n', { mode: 0o600 })
  })
  after(async () => {
    await a.service.stop()
    await b.service.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('signs up, binds, shares, reads from another gateway, lists and revokes', async () => {
    const [alice, bob] = await Promise.all([
      gatemesh(['signup', '--gateway', a.url, '--home', aliceHome, '--password-file', alicePasswordFile, ...KDF]),
      gatemesh(['signup', '--gateway', b.url, ...KDF], { GATEMESH_HOME: bobHome, GATEMESH_PASSWORD: 'bob secret' })
    ])
    assert.equal(alice.code, 0, alice.stderr)
    assert.equal(bob.code, 0, bob.stderr)
    const alicePseudonym = alice.stdout.trim()
    const bobPseudonym = bob.stdout.trim()
    assert.match(alicePseudonym, /^[a-z2-7]{52}$/)

    // Only the sealed bundle is on disk, readable by its owner only.
    const sessionFile = join(aliceHome, 'session.json')
    assert.equal((await stat(sessionFile)).mode & 0o777, 0o600)
    assert.deepEqual(Object.keys(JSON.parse(await readFile(sessionFile, 'utf8'))).sort(), ['bundle', 'gateway', 'pseudonym', 'v'])

    const common = ['--home', aliceHome, '--password-file', alicePasswordFile]
    const add = await gatemesh(['sensor', 'add', 'barn-1', ...common])
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stdout.trim(), /^gms_[A-Za-z0-9_-]{43}$/)
    const share = await gatemesh(['sensor', 'share', 'barn-1', bobPseudonym, ...common])
    assert.equal(share.code, 0, share.stderr)
    assert.equal(share.stdout.trim(), bobPseudonym)

    await putReading(a, 'barn-1', 1, 'humidity=61%')
    const bobEnv = { GATEMESH_HOME: bobHome, GATEMESH_PASSWORD: 'bob secret' }
    const read = await gatemesh(['read', 'latest', 'barn-1', '--gateway', a.url], bobEnv)
    assert.equal(read.code, 0, read.stderr)
    assert.equal(read.stdout, 'humidity=61%\n')

    const list = await gatemesh(['sensor', 'list', '--json', ...common])
    assert.equal(list.code, 0, list.stderr)
    assert.deepEqual(JSON.parse(list.stdout), { owned: [{ id: 'barn-1', seq: 2, readers: [bobPseudonym] }], shared: [] })

    const revoke = await gatemesh(['sensor', 'revoke', 'barn-1', bobPseudonym, ...common])
    assert.equal(revoke.code, 0, revoke.stderr)
    const refused = await gatemesh(['read', 'latest', 'barn-1'], bobEnv)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /\(GM_ERR_FORBIDDEN\)\n$/)

    // Log in elsewhere: a fresh home, another gateway, the same account.
    const elsewhere = join(dir, 'alice-laptop')
    const login = await gatemesh(['login', '--gateway', b.url, '--pseudonym', alicePseudonym, '--home', elsewhere, '--password-file', alicePasswordFile])
    assert.equal(login.code, 0, login.stderr)
    const again = await gatemesh(['read', 'latest', 'barn-1', '--json', '--home', elsewhere, '--password-file', alicePasswordFile])
    assert.equal(again.code, 0, again.stderr)
    assert.equal(JSON.parse(again.stdout).text, 'humidity=61%')
  })

  it('prompts for the password on a terminal without echoing it', async () => {
    const home = join(dir, 'tty')
    const drive = fileURLToPath(new URL('./fixtures/pty-drive.py', import.meta.url))
    const result = await new Promise<{ status: number, output: string }>((resolve, reject) => {
      execFile('python3', [drive, 'tty-secret-1,tty-secret-1', process.execPath, MAIN, 'signup', '--gateway', a.url, '--home', home, ...KDF],
        { env: { ...process.env, GATEMESH_PASSWORD: '', GATEMESH_HOME: '' }, timeout: 60_000 },
        (err, stdout) => { if (err !== null) reject(err); else resolve(JSON.parse(stdout) as { status: number, output: string }) })
    })
    assert.equal(result.status, 0, result.output)
    assert.match(result.output, /password: [\s\S]*again: /)
    assert.equal(result.output.includes('tty-secret-1'), false, 'the password was echoed')
    const list = await gatemesh(['sensor', 'list', '--home', home], { GATEMESH_PASSWORD: 'tty-secret-1' })
    assert.equal(list.code, 0, list.stderr)
  })

  it('explains usage errors (exit 2) and failures (exit 1) with their codes', async () => {
    const empty = join(dir, 'nobody')
    const cases: Array<[string[], Record<string, string>, number, string]> = [
      [['sensor'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'frobnicate'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['signup'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'add', 'x', '--bogus'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'list', '--home', empty], { GATEMESH_PASSWORD: 'x' }, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'list', '--home', aliceHome], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'list', '--home', aliceHome], { GATEMESH_PASSWORD: 'wrong' }, 1, 'GM_ERR_BAD_PASSWORD'],
      [['login', '--gateway', 'http://127.0.0.1:1', '--pseudonym', 'a'.repeat(52), '--home', empty], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_CLIENT_UNREACHABLE'],
      [['login', '--gateway', a.url, '--pseudonym', 'a'.repeat(52), '--home', empty], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_ACCOUNT_NOT_FOUND'],
      [['signup', '--gateway', a.url, '--home', empty, '--kdf-iterations', '1000'], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_WEAK_KDF'],
      [['sensor', 'add', 'barn-1', '--home', aliceHome, '--password-file', alicePasswordFile], {}, 1, 'GM_ERR_CLIENT_SENSOR_EXISTS']
    ]
    const results = await Promise.all(cases.map(async ([args, env]) => await gatemesh(args, env)))
    for (const [i, [args, , code, error]] of cases.entries()) {
      const result = results[i] as Result
      assert.equal(result.code, code, `${args.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr.split('\n')[0] as string, new RegExp(`\\(${error}\\)$`), args.join(' '))
    }
    // what to do next, on the line after
    const hinted = (error: string): string => (results[cases.findIndex(c => c[3] === error)] as Result).stderr.split('\n')[1] as string
    assert.match(hinted('GM_ERR_CLIENT_UNREACHABLE'), /No answer|--gateway URL/)
    assert.match(hinted('GM_ERR_CLIENT_SENSOR_EXISTS'), /sensor share\|revoke/)
  })
})
