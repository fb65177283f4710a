/**
 * `npm start`: the paper's prototype on 127.0.0.1. A CA and seven gateways as child processes:
 * four small peers certified for and running collector and access, three full peers certified for
 * and running all four roles: collector, access, persistence (each sensor's history on the three,
 * SQLite in their data dirs) and stream (live readings over MQTT and WebSocket). Data under
 * `.data/network` (or $GATEMESH_NETWORK_DIR). The first start also creates a demo user and a demo
 * sensor (credential and password kept in `<dir>/demo.json`, mode 0600); later starts reuse
 * everything. Prints the URLs and ready-to-paste curl, mosquitto_pub and CLI lines (latest
 * reading, history, live readings with `gatemesh watch` and with mosquitto_sub and a stream token
 * valid one hour). Ctrl-C stops every process cleanly.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { fromBase64, toBase64 } from '../core/index.ts'
import { createClient } from '../client/index.ts'
import type { Session } from '../client/index.ts'
import { ROOT, startNetwork } from './network.ts'
import { buildWeb, webBuildStale } from './web-build.ts'
import type { Network, RunningGateway } from './network.ts'

const say = (line = ''): void => { process.stdout.write(`${line}\n`) }
const dir = resolve(process.env.GATEMESH_NETWORK_DIR ?? join(ROOT, '.data/network'))
const SENSOR = 'demo-greenhouse'
/** The printed mosquitto_sub line's token: one hour ([STR-2] allows up to 24 h). */
const TOKEN_TTL_SECONDS = 3600

/** Relative to the working directory when inside it, else absolute. */
const shown = (path: string): string => { const r = relative(process.cwd(), path); return r === '' ? '.' : r.startsWith('..') ? path : r }

interface Demo { pseudonym: string, password: string, bundle: string, sensorId: string, credential: string }

let network: Network | undefined
let stopping = false
const onSignal = (): void => {
  if (stopping) return
  stopping = true
  say('\nstopping the gateways and the CA ...')
  // the children got the terminal's Ctrl-C too; this also covers a SIGTERM sent to us alone
  void (network?.stop() ?? Promise.resolve([])).then(codes => {
    say(`stopped (exit codes ${codes.join(' ')}).`)
    process.exit(0)
  })
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

async function loadDemo (): Promise<Demo | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, 'demo.json'), 'utf8')) as Demo
  } catch {
    return undefined
  }
}

async function createDemo (gateway: RunningGateway): Promise<{ demo: Demo, session: Session }> {
  const client = createClient({ gateway: gateway.ready.access as string })
  const password = `demo-${randomBytes(6).toString('hex')}`
  say('creating the demo user (its keys are sealed under the password with 4 000 000 PBKDF2 iterations: a second or two) ...')
  const signup = await client.signup(password)
  const session = await client.resume(signup.bundle, password)
  const { credential } = await session.addSensor(SENSOR)
  const demo: Demo = { pseudonym: signup.pseudonym, password, bundle: toBase64(signup.bundle), sensorId: SENSOR, credential }
  await writeFile(join(dir, 'demo.json'), JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 })
  return { demo, session }
}

say(`gatemesh: a CA and 7 gateways on 127.0.0.1; data in ${dir}`)
// [ACS-23] every access gateway serves the web application from web/dist: built when missing or stale
if (await webBuildStale()) {
  say('building the web application (web/dist) ...')
  try {
    await buildWeb()
  } catch (err) {
    say(`${(err as Error).message}\nthe gateways start without it: / answers GM_ERR_ACCESS_WEB_NOT_BUILT until \`npm run build:web\` succeeds.`)
  }
}
// what runs: the small peers collect and serve Data Access; the full peers keep history and
// serve live readings too
const small = ['collector', 'access'] as const
const full = ['collector', 'access', 'persistence', 'stream'] as const
try {
  network = await startNetwork({
    dir,
    gateways: [
      ...[1, 2, 3, 4].map(i => ({ name: `small-${i}`, services: [...small] })),
      ...[1, 2, 3].map(i => ({ name: `full-${i}`, services: [...full] }))
    ]
  })
} catch (err) {
  if (!stopping) {
    say(`could not start the network: ${(err as Error).message}`)
    say(`logs: ${join(dir, 'logs')}`)
    process.exit(1)
  }
  await new Promise(() => {}) // onSignal exits
}
const net = network as Network
if (stopping) await new Promise(() => {})
say(net.created ? 'first start: created the CA and enrolled every gateway.' : 'reusing the CA, the gateways\' keys and certificates, and their data.')
for (const gw of net.gateways) {
  gw.child.once('exit', code => { if (!stopping) say(`warning: gateway ${gw.name} exited with ${code}; see ${gw.log}`) })
}

let demo = await loadDemo()
let session: Session
if (demo === undefined) ({ demo, session } = await createDemo(net.gateways[0] as RunningGateway))
else {
  say('reusing the demo user and sensor from demo.json; opening its keys for a stream token (a few seconds) ...')
  session = await createClient({ gateway: net.gateways[0]?.ready.access as string }).resume(fromBase64(demo.bundle), demo.password, demo.pseudonym)
}
// [STR-2] the demo's mosquitto_sub line: a token of the demo user, made here
const streamToken = await session.streamToken({ ttlSeconds: TOKEN_TTL_SECONDS })

say('\ngateways:')
say('  name     services                            collector HTTP          collector MQTT          data access')
for (const gw of net.gateways) {
  say(`  ${gw.name.padEnd(8)} ${gw.services.join(',').padEnd(35)} ${(gw.ready.collector?.http ?? '-').padEnd(23)} ${(gw.ready.collector?.mqtt ?? '-').padEnd(23)} ${gw.ready.access ?? '-'}`)
}
say('  (full-1..3 keep every sensor\'s history, each reading on all three: persistence on SQLite in their data dirs)')
say(`  CA: ${net.caUrl}   logs: ${shown(join(dir, 'logs'))}`)
const streamPeers = net.gateways.filter(gw => gw.ready.stream !== null)
say('\nstream peers (live readings, MQTT 3.1.1 over TCP, and over WebSocket for browsers; any one of them serves every reading):')
for (const gw of streamPeers) say(`  ${`${gw.name}:`.padEnd(8)} ${(gw.ready.stream?.mqtt ?? '').padEnd(23)} ${gw.ready.stream?.ws ?? ''}`)
// a full peer's (its own stream broker gives the live view); every access gateway serves the app,
// and one without stream gives the live view through another gateway's stream peer ([ACS-18])
const webAt = streamPeers.find(gw => gw.ready.access !== null) ?? net.gateways[0]
say(`\nweb application (sign up, log in, sensors, sharing, history, live readings; decrypted in your browser), at ${webAt?.name}:\n  ${webAt?.ready.access}/`)
say('  (every access gateway serves it; at a small peer the live view uses a full peer\'s stream broker)')

const [g1, , , , f1] = net.gateways as RunningGateway[]
const reader = net.gateways[2] as RunningGateway
const mqtt = new URL((f1 as RunningGateway).ready.collector?.mqtt as string)
const home = shown(join(dir, 'cli'))
say(`\ndemo user ${demo.pseudonym} (password ${demo.password}) owns sensor ${demo.sensorId}.`)
say('\nsend a reading over HTTP (to small-1):')
say(`  curl -sS -H 'Content-Type: application/json' -H 'Authorization: Bearer ${demo.credential}' -d '{"temperature":21.5}' ${(g1 as RunningGateway).ready.collector?.http}/v1/sensors/${demo.sensorId}/readings`)
say('\nor over MQTT (to full-1):')
say(`  mosquitto_pub -h ${mqtt.hostname} -p ${mqtt.port} -u ${demo.sensorId} -P '${demo.credential}' -t sensors/${demo.sensorId}/readings -q 1 -m '{"temperature":22.0}'`)
say('\nread it back, decrypted on your side, from another gateway (small-3):')
say(`  export GATEMESH_HOME=${home} GATEMESH_PASSWORD='${demo.password}'`)
// npx puts the project's Node 24 first on PATH, whatever Node the shell has
// pinning the network's CA from its file, not from the first gateway asked ([ACS-20])
say(`  npx gatemesh login --gateway ${reader.ready.access} --pseudonym ${demo.pseudonym} --ca-cert ${shown(join(net.caDir, 'ca.crt'))}`)
say(`  npx gatemesh read latest ${demo.sensorId}`)
say('\nwatch readings live, as they arrive, from the stream peers (it moves to the next one if its peer goes away):')
say(`  npx gatemesh watch ${demo.sensorId} --stream ${streamPeers.map(gw => gw.ready.stream?.mqtt).join(',')}`)
const stream = new URL(streamPeers[0]?.ready.stream?.mqtt as string)
say(`\nor with any MQTT client at a stream peer: user name the pseudonym, password a stream token (this one is valid for ${TOKEN_TTL_SECONDS / 3600} h;`)
say('`npx gatemesh token` prints a fresh one after the login above, `--ttl 24h` at most). Each message is the sealed reading (CBOR):')
say(`  mosquitto_sub -h ${stream.hostname} -p ${stream.port} -V mqttv311 -u ${demo.pseudonym} -P '${streamToken}' -t 'sensors/${demo.sensorId}/readings' -F '%I %t %l bytes (sealed)'`)
say('\nits history, from the persistence peers (full-1..3), each page verified against the collectors\' checkpoints:')
say(`  npx gatemesh read history ${demo.sensorId} --from -1h`)
say('  (`npx gatemesh --help` lists every command)')
say('\nCtrl-C stops everything.')
