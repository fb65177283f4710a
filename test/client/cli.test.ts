// `gatemesh signup | login | sensor | read` as real child processes against a real access
// service on 127.0.0.1 (in-memory DHT, readings put as a collector would).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { MemoryDht, certifiedKey, otherCa, putReading, sealFor, startService, toBase64 } from '../access/helpers.ts'
import type { Fixture } from '../access/helpers.ts'
import { startRogueGateway } from './rogue-gateway.ts'

/** As `openssl x509 -fingerprint -sha256` prints it. */
function fingerprint (der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':')
}

function pem (der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`
}

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
    const saved = JSON.parse(await readFile(sessionFile, 'utf8')) as Record<string, string>
    assert.deepEqual(Object.keys(saved).sort(), ['bundle', 'ca', 'gateway', 'pseudonym', 'v'])
    // [ACS-20] the network's CA, pinned on first use, and its fingerprint shown
    assert.deepEqual(Buffer.from(saved.ca as string, 'base64'), Buffer.from(a.ca.certificate))
    assert.match(alice.stderr, new RegExp(`network CA \\(SHA-256\\): ${fingerprint(a.ca.certificate)} \\(trusted on first use`))

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

  it('pins the CA given with --ca-cert or GATEMESH_CA_CERT, and refuses another network\'s gateway and unauthentic readings', async () => {
    const foreign = await startService({}, new MemoryDht(), { ca: await otherCa() })
    const rogue = await startRogueGateway(a.url)
    try {
      const ourCa = join(dir, 'ca.crt')
      const theirCa = join(dir, 'other-ca.der')
      await writeFile(ourCa, pem(a.ca.certificate))
      await writeFile(theirCa, foreign.ca.certificate)
      const home = join(dir, 'pinned')
      const env = { GATEMESH_PASSWORD: 'pinned secret' }
      const up = await gatemesh(['signup', '--gateway', a.url, '--home', home, '--ca-cert', ourCa, ...KDF], env)
      assert.equal(up.code, 0, up.stderr)
      assert.match(up.stderr, new RegExp(`network CA \\(SHA-256\\): ${fingerprint(a.ca.certificate)} \\(as given\\)`))
      const pseudonym = up.stdout.trim()

      // a gateway of another network: refused at sign-up (nothing stored), log-in and later commands
      const foreignUp = await gatemesh(['signup', '--gateway', foreign.url, '--home', join(dir, 'nowhere'), ...KDF], { ...env, GATEMESH_CA_CERT: ourCa })
      assert.equal(foreignUp.code, 1)
      assert.match(foreignUp.stderr.split('\n')[0] as string, /\(GM_ERR_CLIENT_CA_MISMATCH\)$/)
      assert.equal([...foreign.dht.values.keys()].some(k => k.startsWith('/gm-account/')), false)
      const wrongPin = await gatemesh(['login', '--gateway', a.url, '--pseudonym', pseudonym, '--home', join(dir, 'nowhere'), '--ca-cert', theirCa], env)
      assert.equal(wrongPin.code, 1)
      assert.match(wrongPin.stderr.split('\n')[0] as string, /\(GM_ERR_CLIENT_CA_MISMATCH\)$/)
      const elsewhere = await gatemesh(['sensor', 'list', '--home', home, '--gateway', foreign.url], env)
      assert.equal(elsewhere.code, 1)
      assert.match(elsewhere.stderr, /\(GM_ERR_CLIENT_CA_MISMATCH\)\n {2}This gateway belongs to another network/)

      // a reading the rogue made up, sealed by a gateway certified for access only: never shown
      const add = await gatemesh(['sensor', 'add', 'silo-3', '--home', home], env)
      assert.equal(add.code, 0, add.stderr)
      await putReading(a, 'silo-3', 1, 'genuine level 40%')
      const accessOnly = await certifiedKey(a.ca, ['access'])
      const ts = Date.now()
      const envelope = await sealFor(a.dht, accessOnly.signer, { sensor: 'silo-3', seq: 2, ts }, 'fabricated level 0%')
      rogue.answers.latest = () => ({ envelope: toBase64(envelope), seq: 2, ts, gatewayCert: toBase64(accessOnly.certificate) })
      const fake = await gatemesh(['read', 'latest', 'silo-3', '--home', home, '--gateway', rogue.url], env)
      assert.equal(fake.code, 1)
      assert.equal(fake.stdout, '')
      assert.match(fake.stderr.split('\n')[0] as string, /\(GM_ERR_CLIENT_READING_UNAUTHENTIC\)$/)
      assert.equal(fake.stderr.includes('fabricated'), false)
      rogue.answers.latest = undefined
      const genuine = await gatemesh(['read', 'latest', 'silo-3', '--home', home, '--gateway', rogue.url], env)
      assert.equal(genuine.code, 0, genuine.stderr)
      assert.equal(genuine.stdout, 'genuine level 40%\n')
      assert.match(genuine.stderr, /sealed by collector 12D3KooW\w+ \(certified by your network's CA\)/)

      // a session file from before pinning pins the CA at its next command, and says so
      const sessionFile = join(home, 'session.json')
      const { ca: _ca, ...older } = JSON.parse(await readFile(sessionFile, 'utf8')) as Record<string, string>
      await writeFile(sessionFile, JSON.stringify(older), { mode: 0o600 })
      const upgraded = await gatemesh(['sensor', 'list', '--home', home], env)
      assert.equal(upgraded.code, 0, upgraded.stderr)
      assert.match(upgraded.stderr, /trusted on first use/)
      assert.equal(JSON.parse(await readFile(sessionFile, 'utf8')).ca, toBase64(a.ca.certificate))
    } finally {
      await rogue.close()
      await foreign.service.stop()
    }
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
    // a home of its own for each case run at once: a failed login takes away the home it made
    // ([ACS-16]), which a signup into the same home at the same time found gone (ENOENT, exit 2)
    const empty = (name: string): string => join(dir, `nobody-${name}`)
    const cases: Array<[string[], Record<string, string>, number, string]> = [
      [['sensor'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'frobnicate'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['signup'], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'add', 'x', '--bogus'], {}, 2, 'GM_ERR_CLI_USAGE'],
      // [ACS-16] not logged in: a failure of its own, not a usage error (test/client/cli-errors.test.ts)
      [['sensor', 'list', '--home', empty('list')], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_CLI_NOT_LOGGED_IN'],
      [['sensor', 'list', '--home', aliceHome], {}, 2, 'GM_ERR_CLI_USAGE'],
      [['sensor', 'list', '--home', aliceHome], { GATEMESH_PASSWORD: 'wrong' }, 1, 'GM_ERR_BAD_PASSWORD'],
      [['login', '--gateway', 'http://127.0.0.1:1', '--pseudonym', 'a'.repeat(52), '--home', empty('unreachable')], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_CLIENT_UNREACHABLE'],
      [['login', '--gateway', a.url, '--pseudonym', 'a'.repeat(52), '--home', empty('not-found')], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_ACCOUNT_NOT_FOUND'],
      [['signup', '--gateway', a.url, '--home', empty('weak'), '--kdf-iterations', '1000'], { GATEMESH_PASSWORD: 'x' }, 1, 'GM_ERR_WEAK_KDF'],
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

  it('[SEN-2] sets a sensor\'s retention with sensor add --retention and set-retention, and shows it', async () => {
    const home = join(dir, 'retention')
    const env = { GATEMESH_HOME: home, GATEMESH_PASSWORD: 'retention secret' }
    const up = await gatemesh(['signup', '--gateway', a.url, ...KDF], env)
    assert.equal(up.code, 0, up.stderr)
    const show = async (id: string, gateway = a.url): Promise<Record<string, unknown>> => {
      const shown = await gatemesh(['sensor', 'show', id, '--json', '--gateway', gateway], env)
      assert.equal(shown.code, 0, shown.stderr)
      return JSON.parse(shown.stdout) as Record<string, unknown>
    }

    const add = await gatemesh(['sensor', 'add', 'field-9', '--retention', '12h'], env)
    assert.equal(add.code, 0, add.stderr)
    assert.match(add.stderr, /kept for 12h/)
    // read back through the other gateway: the signed record, verified by the client
    assert.deepEqual(await show('field-9', b.url), { id: 'field-9', seq: 1, owner: up.stdout.trim(), readers: [], retentionSeconds: 43_200, retention: '12h' })
    const plain = await gatemesh(['sensor', 'add', 'field-10'], env)
    assert.equal(plain.code, 0, plain.stderr)
    assert.equal((await show('field-10')).retentionSeconds, 2_592_000, 'absent: the default of 30 days')

    const forever = await gatemesh(['sensor', 'set-retention', 'field-9', 'forever'], env)
    assert.equal(forever.code, 0, forever.stderr)
    assert.equal(forever.stdout, 'forever\n')
    assert.deepEqual(await show('field-9'), { id: 'field-9', seq: 2, owner: up.stdout.trim(), readers: [], retentionSeconds: 0, retention: 'forever' })
    const quarter = await gatemesh(['sensor', 'set-retention', 'field-9', '90d'], env)
    assert.equal(quarter.code, 0, quarter.stderr)
    // sharing keeps the retention (not the default)
    const reader = await gatemesh(['signup', '--gateway', b.url, '--home', join(dir, 'retention-reader'), ...KDF], { GATEMESH_PASSWORD: 'reader secret' })
    assert.equal(reader.code, 0, reader.stderr)
    const share = await gatemesh(['sensor', 'share', 'field-9', reader.stdout.trim()], env)
    assert.equal(share.code, 0, share.stderr)
    const shown = await show('field-9', b.url)
    assert.equal(shown.seq, 4)
    assert.equal(shown.retentionSeconds, 7_776_000)
    assert.equal(shown.retention, '90d')
    const table = await gatemesh(['sensor', 'show', 'field-9'], env)
    assert.match(table.stdout, /^retention: 90d$/m)

    // bad retentions: usage errors (exit 2), nothing stored
    for (const args of [['sensor', 'add', 'field-11', '--retention', '10x'], ['sensor', 'add', 'field-11', '--retention', '30s'], ['sensor', 'set-retention', 'field-9', 'never'], ['sensor', 'set-retention', 'field-9', '36526d']]) {
      const refused = await gatemesh(args, env)
      assert.equal(refused.code, 2, `${args.join(' ')}: ${refused.stderr}`)
      assert.match(refused.stderr.split('\n')[0] as string, /retention.*\(GM_ERR_CLI_USAGE\)$/i, args.join(' '))
    }
    assert.equal((await show('field-9')).seq, 4)
    assert.equal([...a.dht.values.keys()].some(k => k.endsWith('/field-11')), false)
  })
})
