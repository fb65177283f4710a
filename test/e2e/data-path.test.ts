// End to end, with real processes: a CA and three gateways from `gatemesh gateway start`, users on
// the client library, sensors on stock curl and mosquitto_pub. Readings carry a random marker
// that must never appear in plaintext in any file under the network's directory (data and logs).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { generateKeyPair, privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import {
  EnvelopeOpener, EnvelopeSealer, isGatemeshError, openRecord, sensorRecipients, signRecord, signRequest, toBase64, utf8, verifySensorRecord,
  webCryptoSuite, MIN_KDF_ITERATIONS
} from '../../src/core/index.ts'
import { enroll } from '../../src/pki/index.ts'
import { startRogueGateway } from '../client/rogue-gateway.ts'
import { createClient } from '../../src/client/index.ts'
import { startNetwork } from '../../src/demo/network.ts'
import type { Identity } from '../../src/core/index.ts'
import type { Session } from '../../src/client/index.ts'
import type { Network, RunningGateway } from '../../src/demo/network.ts'

const suite = webCryptoSuite
const SENSOR = 'e2e-greenhouse'
const MARKERS: string[] = []
const marker = (): string => { const m = `mk${randomBytes(12).toString('hex')}`; MARKERS.push(m); return m }

interface Proc { code: number | null, stdout: string, stderr: string }
async function exec (file: string, args: string[]): Promise<Proc> {
  return await new Promise(resolve => {
    execFile(file, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}

async function curlReading (gw: RunningGateway, credential: string, body: unknown): Promise<{ status: number, body: Record<string, unknown> }> {
  const out = await exec('curl', ['-sS', '-w', '\n%{http_code}', '-H', 'Content-Type: application/json', '-H', `Authorization: Bearer ${credential}`,
    '-d', JSON.stringify(body), `${gw.ready.collector?.http}/v1/sensors/${SENSOR}/readings`])
  assert.equal(out.code, 0, out.stderr)
  const lines = out.stdout.trimEnd().split('\n')
  const status = Number(lines.pop())
  return { status, body: JSON.parse(lines.join('\n')) as Record<string, unknown> }
}

async function mqttReading (gw: RunningGateway, credential: string, body: unknown): Promise<Proc> {
  const { hostname, port } = new URL(gw.ready.collector?.mqtt as string)
  return await exec('mosquitto_pub', ['-h', hostname, '-p', port, '-i', `e2e-${randomBytes(4).toString('hex')}`, '-u', SENSOR, '-P', credential,
    '-t', `sensors/${SENSOR}/readings`, '-q', '1', '-m', JSON.stringify(body)])
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
async function eventually<T> (what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, 150))
  }
  throw new Error(`${what}: not within ${timeoutMs} ms (last: ${String(last)})`)
}

/** The raw latest envelope, as anyone who can query the overlay (here: the admin surface) obtains it. */
async function rawEnvelope (gw: RunningGateway): Promise<Uint8Array> {
  const res = await fetch(`${gw.ready.admin}/v1/dht/gm-latest/${SENSOR}`)
  assert.equal(res.status, 200)
  const record = await openRecord(suite, new Uint8Array(await res.arrayBuffer()))
  return record.body.envelope as Uint8Array
}

async function cannotOpen (who: Identity, envelope: Uint8Array): Promise<void> {
  await assert.rejects(new EnvelopeOpener({ suite, reader: who }).open(envelope), err => isGatemeshError(err))
}

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name))
  }
  return out
}

describe('end to end: the data path over a CA and three gateways', { timeout: 170_000 }, () => {
  let dir: string
  let net: Network
  let g1: RunningGateway, g2: RunningGateway, g3: RunningGateway
  const password = { alice: 'alice e2e password', bob: 'bob e2e password', carol: 'carol e2e password' }
  const ids: Record<'alice' | 'bob' | 'carol', { identity: Identity, pseudonym: string, bundle: Uint8Array }> = {} as never
  const at3: Partial<Record<'alice' | 'bob' | 'carol', Session>> = {}
  let credential: string
  /** Alice's signed PUT requests, as sent (to replay them). */
  const puts: Array<{ url: string, init: RequestInit }> = []
  const client = (gw: RunningGateway) => createClient({ gateway: gw.ready.access as string, kdfIterations: MIN_KDF_ITERATIONS })

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-e2e-'))
    net = await startNetwork({
      dir,
      gateways: [
        { name: 'g1', services: ['collector', 'access'] },
        { name: 'g2', services: ['collector', 'access'] },
        { name: 'g3', services: ['collector', 'access'], roles: ['collector', 'access', 'persistence', 'stream'] }
      ],
      gatewayArgs: ['--admin-port', '0', '--crl-interval', '2000', '--exchange-timeout', '3000'],
      env: { GATEMESH_LOG_LEVEL: 'debug' }
    })
    ;[g1, g2, g3] = net.gateways as [RunningGateway, RunningGateway, RunningGateway]
    for (const gw of net.gateways) {
      assert.match(gw.ready.collector?.http ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.match(gw.ready.collector?.mqtt ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+$/)
      assert.match(gw.ready.access ?? '', /^http:\/\/127\.0\.0\.1:\d+$/)
    }
  })

  after(async () => {
    await net?.stop().catch(() => {})
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('users sign up at different gateways; the owner binds a sensor and shares it', async () => {
    const [a, b, c] = await Promise.all([client(g1).signup(password.alice), client(g2).signup(password.bob), client(g3).signup(password.carol)])
    Object.assign(ids, { alice: a, bob: b, carol: c })
    const recording = createClient({
      gateway: g1.ready.access as string,
      fetch: async (input, init) => { if (init.method === 'PUT') puts.push({ url: input, init: { method: init.method, headers: init.headers, body: init.body } }); return await fetch(input, init) }
    })
    const alice = await recording.resume(a.bundle, password.alice)
    credential = (await alice.addSensor(SENSOR)).credential
    const shared = await alice.share(SENSOR, b.pseudonym)
    assert.deepEqual(shared.readers, [b.pseudonym])
    // every user logs in at a third gateway (fetch + open the bundle there)
    at3.alice = await client(g3).login(a.pseudonym, password.alice)
    at3.bob = await client(g3).login(b.pseudonym, password.bob)
    at3.carol = await client(g3).login(c.pseudonym, password.carol)
    const listed = await eventually('bob sees the shared sensor', async () => {
      const list = await (at3.bob as Session).listSensors()
      return list.shared.some(s => s.id === SENSOR) ? list : undefined
    })
    assert.equal(listed.shared.find(s => s.id === SENSOR)?.owner, a.pseudonym)
    const owned = await (at3.alice as Session).listSensors()
    assert.deepEqual(owned.owned.map(s => s.id), [SENSOR])
  })

  it('a reading sent with curl to g1 and one sent with mosquitto_pub to g2 are read and decrypted at g3 by both users', async () => {
    const m1 = marker()
    const sent = await curlReading(g1, credential, { temperature: 21.5, marker: m1 })
    assert.equal(sent.status, 202, JSON.stringify(sent.body))
    for (const who of ['alice', 'bob'] as const) {
      const reading = await eventually(`${who} reads the HTTP reading`, async () => {
        const r = await (at3[who] as Session).readLatest(SENSOR)
        return r.seq === sent.body.seq ? r : undefined
      })
      assert.deepEqual(reading.json, { temperature: 21.5, marker: m1 })
    }

    const m2 = marker()
    const pub = await mqttReading(g2, credential, { humidity: 40, marker: m2 })
    assert.equal(pub.code, 0, pub.stderr)
    for (const who of ['alice', 'bob'] as const) {
      const reading = await eventually(`${who} reads the MQTT reading`, async () => {
        const r = await (at3[who] as Session).readLatest(SENSOR)
        return (r.json as { marker?: string } | undefined)?.marker === m2 ? r : undefined
      })
      assert.deepEqual(reading.json, { humidity: 40, marker: m2 })
    }
  })

  it('a user not on the list gets 403 and cannot open the envelope they obtain', async () => {
    await assert.rejects((at3.carol as Session).readLatest(SENSOR), err => isGatemeshError(err, 'GM_ERR_FORBIDDEN') && err.status === 403)
    await cannotOpen(ids.carol.identity, await rawEnvelope(g3))
  })

  it('forged sensor credentials are refused over HTTP and MQTT', async () => {
    const forged = credential.slice(0, -2) + (credential.endsWith('AA') ? 'BB' : 'AA')
    const http = await curlReading(g2, forged, { marker: marker() })
    assert.equal(http.status, 401)
    assert.equal(http.body.code, 'GM_ERR_SENSOR_CREDENTIAL')
    const mqtt = await mqttReading(g1, forged, { marker: marker() })
    assert.notEqual(mqtt.code, 0, 'mosquitto_pub must fail on a refused CONNACK')
  })

  it('readers pinned the network\'s CA; a rogue access gateway\'s reading and a collector vouching for another key\'s envelope are refused [ENV-10] [OVL-31]', async () => {
    const caDer = Buffer.from((await readFile(join(net.caDir, 'ca.crt'), 'utf8')).replace(/-----[^-]+-----|\s/g, ''), 'base64')
    const fresh = client(g2)
    assert.equal((await fresh.network()).firstUse, true)
    assert.deepEqual(Buffer.from(fresh.caCertificate as Uint8Array), caDer)

    // a gateway key the real CA certified for access only, sealing a reading of its own for the sensor's readers
    const token = (await net.ca('token', '--roles', 'access')).trim()
    const key = await generateKeyPair('Ed25519')
    const enrolled = await enroll({ caUrl: net.caUrl, token, privateKey: key })
    const signer = await suite.importSigningKey(key.raw.subarray(0, 32))
    const sensor = await verifySensorRecord(suite, new Uint8Array(await (await fetch(`${g3.ready.admin}/v1/dht/gm-sensor/${SENSOR}`)).arrayBuffer()))
    const ts = Date.now()
    const fake = await new EnvelopeSealer({ suite, signer }).seal({ sensor: SENSOR, ts, seq: ts * 1000 }, utf8(JSON.stringify({ temperature: -40, marker: marker() })), sensorRecipients(sensor))
    const rogue = await startRogueGateway(g3.ready.access as string)
    try {
      const bob = await createClient({ gateway: rogue.url, caCertificate: caDer }).resume(ids.bob.bundle, password.bob)
      rogue.answers.latest = () => ({ envelope: toBase64(fake), seq: ts * 1000, ts, gatewayCert: toBase64(enrolled.certificate) })
      await assert.rejects(bob.readLatest(SENSOR), err => isGatemeshError(err, 'GM_ERR_CLIENT_READING_UNAUTHENTIC'))
      // the control: the genuine reading through the same patched gateway
      rogue.answers.latest = undefined
      assert.equal(typeof ((await bob.readLatest(SENSOR)).json as { marker?: unknown }).marker, 'string')
    } finally {
      await rogue.close()
    }

    // g1's own key and certificate vouching for that envelope: the overlay refuses the record
    const g1Key = privateKeyFromProtobuf(await readFile(join(g1.dir, 'peer.key')))
    const g1Signer = await suite.importSigningKey(g1Key.raw.subarray(0, 32))
    const record = await signRecord(suite, g1Signer, { type: 'latest', key: SENSOR, seq: 1, body: { envelope: fake, gatewayCert: new Uint8Array(await readFile(join(g1.dir, 'certificate.der'))) } })
    const put = await fetch(`${g2.ready.admin}/v1/dht/gm-latest/${SENSOR}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(record) })
    assert.equal((await put.json() as { code?: string }).code, 'GM_ERR_RECORD_SIGNER')
    assert.equal(put.status, 403)
  })

  it('a replayed signed request is refused', async () => {
    const path = `/v1/sensors/${SENSOR}/latest`
    const headers = await signRequest(suite, { keyId: ids.alice.pseudonym, key: ids.alice.identity.signingKey }, { method: 'GET', url: path })
    const first = await fetch(`${g3.ready.access}${path}`, { headers: { ...headers } })
    assert.equal(first.status, 200)
    const again = await fetch(`${g3.ready.access}${path}`, { headers: { ...headers } })
    assert.equal(again.status, 401)
    assert.equal((await again.json() as { code: string }).code, 'GM_ERR_REQUEST_REPLAYED')
  })

  it('after a revocation, readings collected later cannot be opened by the revoked user', async () => {
    const alice = await client(g1).resume(ids.alice.bundle, password.alice)
    const revoked = await alice.revoke(SENSOR, ids.bob.pseudonym)
    assert.deepEqual(revoked.readers, [])
    const m = marker()
    const sent = await curlReading(g1, credential, { temperature: 5, marker: m })
    assert.equal(sent.status, 202)
    const reading = await eventually('alice reads the reading sent after the revocation', async () => {
      const r = await (at3.alice as Session).readLatest(SENSOR)
      return r.seq === sent.body.seq ? r : undefined
    })
    assert.equal((reading.json as { marker: string }).marker, m)
    await assert.rejects((at3.bob as Session).readLatest(SENSOR), err => isGatemeshError(err, 'GM_ERR_FORBIDDEN'))
    await cannotOpen(ids.bob.identity, await rawEnvelope(g3))

    // replaying the signed share: at the gateway that saw it, the nonce is known; at another, the
    // record it carries is older than the revocation
    const share = puts.at(-1) as { url: string, init: RequestInit }
    const same = await fetch(share.url, share.init)
    assert.equal(same.status, 401)
    assert.equal((await same.json() as { code: string }).code, 'GM_ERR_REQUEST_REPLAYED')
    const other = await fetch(share.url.replace(g1.ready.access as string, g2.ready.access as string), share.init)
    assert.equal(other.status, 409)
    assert.equal((await other.json() as { code: string }).code, 'GM_ERR_STALE_RECORD')
    await assert.rejects((at3.bob as Session).readLatest(SENSOR), err => isGatemeshError(err, 'GM_ERR_FORBIDDEN'))
  })

  it('a share and a revocation made at another gateway take effect at a collector at once: the put reaches it [COL-10] [OVL-37]', async () => {
    // alice changes the list at g2; the readings go to g1, whose copy of the record is fresh (the
    // test before sent one there): g1 is among the k closest peers, is sent each put, drops its copy
    const alice = await client(g2).resume(ids.alice.bundle, password.alice)
    assert.deepEqual((await alice.share(SENSOR, ids.bob.pseudonym)).readers, [ids.bob.pseudonym])
    const m1 = marker()
    const shared = await curlReading(g1, credential, { temperature: 7, marker: m1 })
    assert.equal(shared.status, 202)
    const read = await eventually('bob reads the reading sent right after the share', async () => {
      const r = await (at3.bob as Session).readLatest(SENSOR)
      return r.seq === shared.body.seq ? r : undefined
    })
    assert.equal((read.json as { marker: string }).marker, m1)

    assert.deepEqual((await alice.revoke(SENSOR, ids.bob.pseudonym)).readers, [])
    const m2 = marker()
    const revoked = await curlReading(g1, credential, { temperature: 8, marker: m2 })
    assert.equal(revoked.status, 202)
    const latest = await eventually('alice reads the reading sent right after the revocation', async () => {
      const r = await (at3.alice as Session).readLatest(SENSOR)
      return r.seq === revoked.body.seq ? r : undefined
    })
    assert.equal((latest.json as { marker: string }).marker, m2)
    await cannotOpen(ids.bob.identity, await rawEnvelope(g3))
  })

  it('no marker, sensor credential or password ever appears in any file under any gateway, the CA, or any log', async () => {
    const codes = await net.stop()
    assert.deepEqual(codes, [0, 0, 0, 0], 'every gateway and the CA stop cleanly')
    const files = await filesUnder(dir)
    const logs = files.filter(f => f.startsWith(join(dir, 'logs')))
    assert.equal(logs.length, 4, 'a log per gateway and the CA')
    for (const log of logs) assert.ok((await readFile(log)).length > 0, `${log} is empty`)
    assert.ok(MARKERS.length >= 3)
    // a positive control: the scan does read what the gateways wrote (the sensor id is public)
    let seen = 0
    for (const file of files) if ((await readFile(file)).includes(SENSOR)) seen++
    assert.ok(seen >= 3, `the sensor id appears in ${seen} files`)
    const secrets = [credential, ...Object.values(password)]
    for (const file of files) {
      const bytes = await readFile(file)
      for (const secret of secrets) assert.equal(bytes.includes(secret), false, `a credential or password found in ${file}`)
      for (const m of MARKERS) {
        assert.equal(bytes.includes(m), false, `${m} found in ${file}`)
        assert.equal(bytes.includes(Buffer.from(m).toString('base64').slice(0, 16)), false, `${m} (base64) found in ${file}`)
      }
    }
  })
})
