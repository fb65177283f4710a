/**
 * `gatemesh ca` as real child processes: usage errors, init, tokens, a served CA that survives a
 * restart, and a revocation by another process that the running service's CRL reflects.
 */
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isGatemeshError } from '../../src/core/errors.ts'
import { enroll, fetchRevocationList, renew, verifyGatewayCertificate, verifyRevocationList } from '../../src/pki/index.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')

let work: string
before(async () => { work = await mkdtemp(join(tmpdir(), 'gatemesh-ca-cli-')) })
after(async () => { await rm(work, { recursive: true, force: true }) })

interface Result { code: number, stdout: string, stderr: string }

async function ca (...args: string[]): Promise<Result> {
  return await new Promise(resolve => {
    execFile(process.execPath, [MAIN, 'ca', ...args], { cwd: ROOT, env: { ...process.env, GATEMESH_CA_DIR: '' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
      resolve({ code, stdout, stderr })
    })
  })
}

interface Served { child: ChildProcess, url: string, stop: (signal?: NodeJS.Signals) => Promise<number | null> }

/** Starts `ca serve` and resolves with its URL once it prints `listening on ...`. */
async function serve (dir: string): Promise<Served> {
  const child = spawn(process.execPath, [MAIN, 'ca', 'serve', '--dir', dir, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn' } })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const lines = createInterface({ input: child.stdout! })
  const url = await new Promise<string>((resolve, reject) => {
    lines.on('line', line => {
      const match = /^listening on (http:\/\/\S+)$/.exec(line)
      if (match?.[1] !== undefined) resolve(match[1])
    })
    child.once('exit', code => { reject(new Error(`ca serve exited with ${String(code)}: ${stderr}`)) })
  })
  return {
    child,
    url,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null) return child.exitCode
      const exited = once(child, 'exit')
      child.kill(signal)
      const [code] = await exited as [number | null]
      return code
    }
  }
}

async function gateway (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, peerId: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, peerId: peerIdFromPrivateKey(key).toString() }
}

async function newCa (name: string): Promise<string> {
  const dir = join(work, name)
  const result = await ca('init', '--dir', dir)
  assert.equal(result.code, 0, result.stderr)
  return dir
}

async function token (dir: string, roles = 'access'): Promise<string> {
  const result = await ca('token', '--dir', dir, '--roles', roles)
  assert.equal(result.code, 0, result.stderr)
  assert.match(result.stdout, /^gmt_[A-Za-z0-9_-]{43}\n$/)
  return result.stdout.trim()
}

test('usage errors exit with 2 and name GM_ERR_CLI_USAGE; --help exits with 0', async () => {
  const dir = join(work, 'usage')
  const cases: string[][] = [
    [], ['bogus'], ['init'], ['init', '--dir', dir, '--port', '3'], ['token', '--dir', dir, '--roles', 'admin'],
    ['token', '--dir', dir], ['token', '--dir', dir, '--roles', 'access', '--ttl', 'soon'], ['serve', '--dir', dir, '--port', 'abc'],
    ['revoke', '--dir', dir], ['list', '--dir', dir, 'extra'], ['init', '--dir', dir, '--unknown']
  ]
  for (const args of cases) {
    const result = await ca(...args)
    assert.equal(result.code, 2, `ca ${args.join(' ')}: ${result.stderr}`)
    if (args.length > 0) assert.match(result.stderr, /GM_ERR_CLI_USAGE/)
  }
  const help = await ca('--help')
  assert.equal(help.code, 0)
  assert.match(help.stdout, /usage: gatemesh ca/)
  await assert.rejects(stat(dir), 'no usage error may create the directory')
})

test('init creates a 0600 key once; commands on a missing CA fail with GM_ERR_CA_NOT_INITIALIZED', async () => {
  const dir = await newCa('init')
  assert.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600)
  const again = await ca('init', '--dir', dir)
  assert.equal(again.code, 1)
  assert.match(again.stderr, /GM_ERR_CA_ALREADY_INITIALIZED/)
  const missing = await ca('token', '--dir', join(work, 'nothing-here'), '--roles', 'access')
  assert.equal(missing.code, 1)
  assert.match(missing.stderr, /GM_ERR_CA_NOT_INITIALIZED/)
})

test('the CA keeps its state across a crash (SIGKILL) and restart: a used token stays used, an unused one still works', async () => {
  const dir = await newCa('restart')
  const first = await token(dir, 'collector,stream')
  const second = await token(dir, 'persistence')
  const gw = await gateway()
  let served = await serve(dir)
  let certificate: Uint8Array
  let caCertificate: Uint8Array
  let crlNumber: number
  try {
    ({ certificate, caCertificate } = await enroll({ caUrl: served.url, token: first, privateKey: gw.key }))
    crlNumber = (await verifyRevocationList(await fetchRevocationList(served.url), caCertificate)).number
  } finally {
    // No graceful shutdown: what was answered must already be on disk.
    await served.stop('SIGKILL')
  }
  served = await serve(dir)
  try {
    await assert.rejects(enroll({ caUrl: served.url, token: first, privateKey: (await gateway()).key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_TOKEN_USED'))
    const other = await gateway()
    const enrolled = await enroll({ caUrl: served.url, token: second, privateKey: other.key })
    assert.deepEqual(enrolled.caCertificate, caCertificate)
    assert.deepEqual((await verifyGatewayCertificate(enrolled.certificate, { caCertificate, peerId: other.peerId })).roles, ['persistence'])
    await renew({ caUrl: served.url, certificate, privateKey: gw.key })
    const crl = await verifyRevocationList(await fetchRevocationList(served.url), caCertificate)
    assert.ok(crl.number >= crlNumber)
  } finally {
    assert.equal(await served.stop(), 0)
  }
  const list = await ca('list', '--dir', dir, '--json')
  assert.equal(list.code, 0, list.stderr)
  const listed = JSON.parse(list.stdout) as { certificates: Array<{ peerId: string, status: string }>, tokens: Array<{ status: string }> }
  assert.equal(listed.certificates.length, 3)
  assert.ok(listed.certificates.every(cert => cert.status === 'valid'))
  assert.deepEqual(listed.tokens.map(entry => entry.status.startsWith('used by ')), [true, true])
  assert.ok(!list.stdout.includes(first) && !list.stdout.includes(second), 'tokens are never listed')
})

test('a revocation by another process shows in the served CRL; the revoked peer can no longer renew', async () => {
  const dir = await newCa('revoke')
  const gw = await gateway()
  const served = await serve(dir)
  try {
    const { certificate, caCertificate } = await enroll({ caUrl: served.url, token: await token(dir), privateKey: gw.key })
    const serial = (await verifyGatewayCertificate(certificate, { caCertificate, peerId: gw.peerId })).serial
    const before = await verifyRevocationList(await fetchRevocationList(served.url), caCertificate)
    assert.ok(!before.serials.has(serial))

    const revoked = await ca('revoke', '--dir', dir, gw.peerId)
    assert.equal(revoked.code, 0, revoked.stderr)
    assert.match(revoked.stdout, new RegExp(`${gw.peerId} revoked`))

    const after = await verifyRevocationList(await fetchRevocationList(served.url), caCertificate)
    assert.ok(after.number > before.number)
    assert.ok(after.serials.has(serial))
    await assert.rejects(verifyGatewayCertificate(certificate, { caCertificate, peerId: gw.peerId, revocations: after }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CERT_REVOKED'))
    await assert.rejects(renew({ caUrl: served.url, certificate, privateKey: gw.key }), (err: unknown) => isGatemeshError(err, 'GM_ERR_CERT_REVOKED'))
  } finally {
    assert.equal(await served.stop(), 0)
  }
  const unknown = await ca('revoke', '--dir', dir, (await gateway()).peerId)
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /GM_ERR_CA_PEER_UNKNOWN/)
  const garbage = await ca('revoke', '--dir', dir, 'not-a-peer')
  assert.equal(garbage.code, 1)
  assert.match(garbage.stderr, /GM_ERR_PKI_PEER_ID_INVALID/)
  const list = await ca('list', '--dir', dir)
  assert.match(list.stdout, /revoked/)
})

test('two CA processes on one directory, one token raced through both: exactly one enrollment succeeds', async () => {
  const dir = await newCa('race')
  const shared = await token(dir)
  const [a, b] = await Promise.all([serve(dir), serve(dir)])
  try {
    const attempts = await Promise.allSettled([a, b, a, b].map(async served => await enroll({ caUrl: served.url, token: shared, privateKey: (await gateway()).key })))
    assert.equal(attempts.filter(attempt => attempt.status === 'fulfilled').length, 1)
    for (const attempt of attempts) {
      if (attempt.status === 'rejected') assert.ok(isGatemeshError(attempt.reason, 'GM_ERR_TOKEN_USED'), String(attempt.reason))
    }
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
  const list = JSON.parse((await ca('list', '--dir', dir, '--json')).stdout) as { certificates: unknown[] }
  assert.equal(list.certificates.length, 1)
})
