// `gatemesh token` and `gatemesh watch` as real child processes: a token that verifies for the
// saved user; usage errors exit 2; watch prints readings a real MQTT broker (plain Aedes on
// 127.0.0.1, standing in for a stream peer) delivers, and ends cleanly on SIGINT; a real stream
// broker (test/stream/helpers.ts) refusing the sensors watch names ends it with one line.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Aedes } from 'aedes'
import { EnvelopeSealer, createAccountBundle, encodeStreamPayload, generateIdentity, utf8, verifyStreamToken, type Identity } from '../../src/core/index.ts'
import { saveSession } from '../../src/cli/user-state.ts'
import { certifiedKey, networkCa, suite } from '../access/helpers.ts'
import { startBroker } from './helpers.ts'

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))
const PASSWORD = 'stream cli password'

interface Result { code: number, stdout: string, stderr: string }

function childEnv (env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, GATEMESH_HOME: '', GATEMESH_PASSWORD: '', GATEMESH_STREAM: '', ...env }
}

async function gatemesh (args: string[], env: Record<string, string> = {}): Promise<Result> {
  return await new Promise(resolve => {
    execFile(process.execPath, [MAIN, ...args], { env: childEnv(env), timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

describe('gatemesh token and watch', () => {
  let dir: string
  let home: string
  let identity: Identity
  let env: Record<string, string>

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatemesh-stream-cli-'))
    home = join(dir, 'home')
    identity = await generateIdentity(suite)
    // the CLI opens only bundles of full strength
    const bundle = await createAccountBundle(suite, identity, PASSWORD, { iterations: 600_000 })
    await saveSession(home, { gateway: 'http://127.0.0.1:9', pseudonym: identity.pseudonym, bundle, ca: (await networkCa()).certificate })
    env = { GATEMESH_HOME: home, GATEMESH_PASSWORD: PASSWORD }
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('token prints a token that verifies for the user, valid for --ttl (default 1 h), offline', async () => {
    const [byDefault, short] = await Promise.all([gatemesh(['token'], env), gatemesh(['token', '--ttl', '10m'], env)])
    for (const [result, ttl] of [[byDefault, 3600], [short, 600]] as const) {
      assert.equal(result.code, 0, result.stderr)
      const lines = result.stdout.split('\n').filter(line => line !== '')
      assert.equal(lines.length, 1)
      const claims = await verifyStreamToken(suite, lines[0] as string, { sigPub: identity.sigPub, pseudonym: identity.pseudonym })
      assert.equal(claims.exp - claims.iat, ttl)
      assert.match(result.stderr, new RegExp(`user name ${identity.pseudonym}`))
      // the token is printed once, on stdout only
      assert.ok(!result.stderr.includes(lines[0] as string))
    }
  })

  it('bad arguments exit 2 with a usage error', async () => {
    const cases: Array<[string[], Record<string, string>]> = [
      [['token', '--ttl', '2d'], env],
      [['token', '--ttl', 'soon'], env],
      [['token', '--ttl', '1500ms'], env],
      [['token', 'extra'], env],
      [['token', '--stream', 'mqtt://127.0.0.1:1'], env],
      [['watch'], env],
      [['watch', 'greenhouse-1'], env],
      [['watch', '--stream', 'http://127.0.0.1:1'], env],
      [['watch', '--stream', ','], env],
      [['watch', 'bad/id', '--stream', 'mqtt://127.0.0.1:1'], env],
      [['watch', '--stream', 'mqtt://127.0.0.1:1', '--bogus'], env],
      [['watch', '--ttl', '1h', '--stream', 'mqtt://127.0.0.1:1'], env],
      [['watch'], { ...env, GATEMESH_STREAM: 'ftp://127.0.0.1:1' }]
    ]
    // two at a time: a loaded machine runs a dozen node processes slowly
    for (let i = 0; i < cases.length; i += 2) {
      const batch = cases.slice(i, i + 2)
      const results = await Promise.all(batch.map(async ([args, e]) => await gatemesh(args, e)))
      for (const [j, result] of results.entries()) {
        assert.equal(result.code, 2, `${batch[j]![0].join(' ')}: ${result.stderr}`)
        assert.match(result.stderr, /GM_ERR_CLI_USAGE/)
      }
    }
  })

  it('watch of sensors a real stream peer refuses: all of them, exit 1 with one line and what to do; some, a warning [STR-47]', { timeout: 90_000 }, async () => {
    const peer = await startBroker()
    try {
      peer.accounts.set(identity.pseudonym, identity.sigPub)
      peer.sensors.set('greenhouse-1', { owner: identity, readers: [] })
      const refused = await gatemesh(['watch', 'no-such-sensor', '--stream', peer.mqtt], env)
      assert.equal(refused.code, 1, refused.stderr)
      assert.equal(refused.stdout, '')
      const lines = refused.stderr.split('\n')
      assert.match(lines[0] as string, /^gatemesh watch: .*'no-such-sensor' at mqtt:\/\/127\.0\.0\.1:\d+: nothing to watch\. \(GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED\)$/)
      assert.match(lines[1] as string, /^ {2}'gatemesh sensor list' shows the sensors you may read/)
      assert.equal(lines.length, 3, refused.stderr)

      const child = spawn(process.execPath, [MAIN, 'watch', 'greenhouse-1', 'no-such-sensor', '--stream', peer.mqtt], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
      const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
      try {
        const watching = new Promise<void>(resolve => {
          child.stderr.on('data', (chunk: Buffer) => {
            stderr += chunk.toString()
            if (/^watching /m.test(stderr)) resolve()
          })
        })
        await Promise.race([watching, exited.then(code => { throw new Error(`watch exited ${code}: ${stderr}`) })])
        assert.match(stderr, /^warning: not watching 'no-such-sensor': the stream peer refused \(GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED\)$/m)
        assert.match(stderr, /^watching 'greenhouse-1' at mqtt:\/\/127\.0\.0\.1:\d+ \(Ctrl-C ends\)$/m)
        child.kill('SIGINT')
        assert.equal(await exited, 0, stderr)
        // no reading came: not even the table's header
        assert.equal(stdout, '')
      } finally {
        child.kill('SIGKILL')
      }
    } finally {
      await peer.close()
    }
  })

  it('watch prints live readings, verified and decrypted, and ends cleanly on SIGINT', { timeout: 90_000 }, async () => {
    const aedes = await Aedes.createBroker({})
    const server: Server = createServer(socket => { aedes.handle(socket) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
    const child = spawn(process.execPath, [MAIN, 'watch', 'greenhouse-1', '--json'], { env: childEnv({ ...env, GATEMESH_STREAM: `mqtt://127.0.0.1:1,${url}` }), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
    try {
      const subscribed = new Promise<void>(resolve => aedes.once('subscribe', () => { resolve() }))
      const firstLine = new Promise<string>(resolve => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString()
          if (stdout.includes('\n')) resolve(stdout.split('\n')[0] as string)
        })
      })
      const watching = new Promise<void>(resolve => {
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString()
          if (stderr.includes('watching')) resolve()
        })
      })
      // the first URL refuses connections: watch says so and moves on to the broker
      await Promise.race([Promise.all([subscribed, watching]), exited.then(code => { throw new Error(`watch exited ${code}: ${stderr}`) })])
      assert.match(stderr, /could not connect to mqtt:\/\/127\.0\.0\.1:1; trying mqtt:\/\/127\.0\.0\.1:\d+ in/)
      assert.doesNotMatch(stderr, /lost /, 'a peer never reached was not lost')
      const collector = await certifiedKey(await networkCa(), ['collector'])
      const ts = Date.now()
      const sealed = await new EnvelopeSealer({ suite, signer: collector.signer }).seal({ sensor: 'greenhouse-1', ts, seq: 7 }, utf8('{"t":19.25}'), [{ id: identity.pseudonym, publicKey: identity.encPub }])
      await new Promise<void>((resolve, reject) => aedes.publish({ cmd: 'publish', topic: 'sensors/greenhouse-1/readings', payload: Buffer.from(encodeStreamPayload({ env: sealed, cert: collector.certificate })), qos: 1, retain: false, dup: false }, err => { if (err) reject(err); else resolve() }))
      // a warning instead of the reading fails at once, with what watch said
      const seenBefore = stderr.length
      const warned = new Promise<never>((_resolve, reject) => child.stderr.on('data', () => { if (stderr.slice(seenBefore).includes('warning')) reject(new Error(stderr)) }))
      const line = JSON.parse(await Promise.race([firstLine, warned])) as Record<string, unknown>
      assert.deepEqual(line, { sensor: 'greenhouse-1', seq: 7, ts, time: new Date(ts).toISOString(), gateway: Buffer.from(collector.signer.publicKey).toString('hex'), gatewayPeerId: collector.peerId, text: '{"t":19.25}' })
      child.kill('SIGINT')
      assert.equal(await exited, 0, stderr)
      assert.match(stderr, /stopped/)
    } finally {
      child.kill('SIGKILL')
      await new Promise<void>(resolve => server.close(() => { resolve() }))
      await new Promise<void>(resolve => aedes.close(() => { resolve() }))
    }
  })
})
