/**
 * `gatemesh sim`: simulated MQTT and HTTP sensors against running collectors (src/sim), with a
 * live progress display and a final table per protocol. The sensors come from a file of
 * credentials, or are registered here: as the logged-in user (`--user`) or as a new user signed
 * up for the run, whose password, session and sensors file are saved (`--save DIR`). Usage errors
 * exit 2; a run exits 0 when every reading sent was acknowledged, else 1. Ctrl-C stops the run
 * and still prints the table.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { GatemeshError, isGatemeshError, parseDuration } from '../core/index.ts'
import { createClient } from '../client/index.ts'
import type { Session } from '../client/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import {
  assignSensors, createSimulation, formatProgress, formatTable, readSensorsFile, registerSensors, sensorIds, writeSensorsFile
} from '../sim/index.ts'
import type { Protocol, SensorCredentials, SimulationReport, Simulation, TimeSummary } from '../sim/index.ts'
import { homeDirectory, loadSession, readCaCertificate, readPassword, saveSession } from './user-state.ts'

export const SIM_USAGE = `usage: gatemesh sim --mqtt N --http M --collector URL[,URL...] [options]

Simulated sensors, each reporting on its own period, and the response time of every reading
(publish to PUBACK over MQTT, request to response over HTTP).

  --mqtt N              MQTT sensors (one connection each)
  --http M              HTTP sensors (one POST per reading)
  --collector URLS      collectors, comma separated or repeated: mqtt://host:port for the MQTT
                        sensors, http://host:port for the HTTP ones; sensors spread over them
  --period MIN-MAX      seconds between a sensor's readings, drawn uniformly per sensor
                        (default 20-150, the paper's)
  --speed X             time compression: every period divided by X (default 1)
  --duration D          how long to run: 90s, 5m, 2h (default: until Ctrl-C)
  --qos 1|0             MQTT QoS (default 1; QoS 0 is never acknowledged)
  --keep-alive          HTTP sensors keep their connection (default: a new one per reading)
  --timeout D           no answer within D is an error (default 30s)
  --seed N              seed of the periods and the readings (default 1)
  --json FILE           also write the final table as JSON

the sensors, one of:
  --sensors FILE        existing sensors: {"sensors":[{"id","credential","protocol"}, ...]}
  --user                register new sensors as the logged-in user (--home DIR, --password-file F
                        or $GATEMESH_PASSWORD, as for 'gatemesh sensor add')
  (neither)             sign up a new user and register new sensors as it
  --access URL          the Data Access gateway to register through (with --user: default the
                        one logged in at)
  --save DIR            where the sensors file (and a new user's password and session) go
                        (default: a new directory under the system's temporary directory)
  --prefix P            sensor ids P-mqtt-001, P-http-001, ... (default sim-<random>)
  --kdf-iterations N    a new user's key derivation (as 'gatemesh signup')
  --ca-cert FILE        the network's CA certificate to pin (else trusted on first use)
`

const OPTIONS = {
  mqtt: { type: 'string' },
  http: { type: 'string' },
  collector: { type: 'string', multiple: true },
  period: { type: 'string' },
  speed: { type: 'string' },
  duration: { type: 'string' },
  qos: { type: 'string' },
  'keep-alive': { type: 'boolean' },
  timeout: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'string' },
  sensors: { type: 'string' },
  user: { type: 'boolean' },
  access: { type: 'string' },
  save: { type: 'string' },
  prefix: { type: 'string' },
  'kdf-iterations': { type: 'string' },
  'ca-cert': { type: 'string' },
  home: { type: 'string' },
  'password-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' }
} as const

interface Args {
  mqtt?: number
  http?: number
  collectors: Record<Protocol, string[]>
  period: { min: number, max: number }
  speed: number
  durationMs?: number
  qos: 0 | 1
  keepAlive: boolean
  timeoutMs: number
  seed: number
  json?: string
  sensors?: string
  user: boolean
  access?: string
  save?: string
  prefix: string
  kdfIterations?: number
  caCert?: string
  home?: string
  passwordFile?: string
}

function usageError (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_CLI_USAGE', detail)
}

function count (text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > 100_000) throw usageError(`--${name} takes a count of sensors (0 to 100000).`)
  return n
}

function positive (text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0) throw usageError(`--${name} takes a positive number.`)
  return n
}

function duration (text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined
  const ms = parseDuration(text)
  if (ms === undefined) throw usageError(`--${name} takes a duration: 90s, 5m, 2h.`)
  return ms
}

function collectorUrls (values: string[] | undefined): Record<Protocol, string[]> {
  const urls: Record<Protocol, string[]> = { mqtt: [], http: [] }
  for (const text of (values ?? []).flatMap(v => v.split(',')).map(v => v.trim()).filter(v => v !== '')) {
    let url: URL
    try {
      url = new URL(text)
    } catch {
      throw usageError(`--collector: '${text}' is not a URL.`)
    }
    if (url.protocol === 'mqtt:') urls.mqtt.push(text)
    else if (url.protocol === 'http:') urls.http.push(text.replace(/\/+$/, ''))
    else throw usageError(`--collector: '${text}' is neither mqtt://host:port nor http://host:port.`)
  }
  return urls
}

export function parseSimArgs (argv: string[]): Args {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false, strict: true })
  } catch (err) {
    throw usageError(err instanceof Error ? err.message : String(err))
  }
  const v = parsed.values
  const periodMatch = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(v.period ?? '20-150')
  const period = periodMatch === null ? undefined : { min: Number(periodMatch[1]), max: Number(periodMatch[2]) }
  if (period === undefined || !(period.min > 0) || period.max < period.min) throw usageError('--period takes MIN-MAX in seconds, 0 < MIN <= MAX (e.g. 20-150).')
  if (v.qos !== undefined && v.qos !== '0' && v.qos !== '1') throw usageError('--qos is 0 or 1.')
  const seed = v.seed === undefined ? 1 : Number(v.seed)
  if (!Number.isSafeInteger(seed) || seed < 0) throw usageError('--seed takes a non-negative integer.')
  const kdf = v['kdf-iterations'] === undefined ? undefined : Number(v['kdf-iterations'])
  if (kdf !== undefined && (!Number.isSafeInteger(kdf) || kdf <= 0)) throw usageError('--kdf-iterations takes a positive integer.')
  const prefix = v.prefix ?? `sim-${randomBytes(3).toString('hex')}`
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(prefix)) throw usageError('--prefix takes 1 to 100 of [A-Za-z0-9._-].')
  const args: Args = {
    mqtt: count(v.mqtt, 'mqtt'),
    http: count(v.http, 'http'),
    collectors: collectorUrls(v.collector),
    period,
    speed: positive(v.speed, 'speed', 1),
    durationMs: duration(v.duration, 'duration'),
    qos: v.qos === '0' ? 0 : 1,
    keepAlive: v['keep-alive'] === true,
    timeoutMs: duration(v.timeout, 'timeout') ?? 30_000,
    seed,
    json: v.json,
    sensors: v.sensors,
    user: v.user === true,
    access: v.access,
    save: v.save,
    prefix,
    kdfIterations: kdf,
    caCert: v['ca-cert'],
    home: v.home,
    passwordFile: v['password-file']
  }
  if (args.sensors !== undefined && args.user) throw usageError('--sensors and --user exclude each other.')
  if (args.sensors === undefined) {
    if ((args.mqtt ?? 0) + (args.http ?? 0) === 0) throw usageError('Give --mqtt N and/or --http M (at least one sensor).')
    if (!args.user && args.access === undefined) throw usageError('Registering sensors for a new user needs --access URL (or give --sensors FILE, or --user).')
  }
  return args
}

const note = (text: string): void => { process.stderr.write(`${text}\n`) }

/** Registers the run's sensors (new user or the logged-in one); resolves with them and the file they were saved in. */
async function register (args: Args): Promise<Record<Protocol, SensorCredentials[]>> {
  const suite = createNodeCryptoSuite()
  const save = resolve(args.save ?? await mkdtemp(join(tmpdir(), 'gatemesh-sim-')))
  await mkdir(save, { recursive: true, mode: 0o700 })
  let session: Session
  if (args.user) {
    const home = homeDirectory(args.home)
    const saved = await loadSession(home)
    const client = createClient({ gateway: args.access ?? saved.gateway, caCertificate: saved.ca, suite })
    session = await client.resume(saved.bundle, await readPassword({ file: args.passwordFile }), saved.pseudonym)
    await client.network()
    note(`registering sensors as ${session.pseudonym} (logged in, ${home}) at ${client.gateway}`)
  } else {
    const caCertificate = await readCaCertificate(args.caCert)
    const client = createClient({ gateway: args.access as string, caCertificate, suite, kdfIterations: args.kdfIterations })
    const password = randomBytes(18).toString('base64url')
    note(`signing up a new user at ${client.gateway} ...`)
    const signup = await client.signup(password)
    session = await client.resume(signup.bundle, password, signup.pseudonym)
    const passwordFile = join(save, 'password')
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 })
    await saveSession(save, { gateway: client.gateway, pseudonym: signup.pseudonym, bundle: signup.bundle, ca: signup.caCertificate })
    note(`new user ${signup.pseudonym}; its password is in ${passwordFile}, its session in ${save}`)
    note(`  read a sensor: gatemesh read latest ID --home ${save} --password-file ${passwordFile}`)
  }
  const ids = { mqtt: sensorIds(args.prefix, 'mqtt', args.mqtt ?? 0), http: sensorIds(args.prefix, 'http', args.http ?? 0) }
  const total = ids.mqtt.length + ids.http.length
  const bound = await registerSensors(session, [...ids.mqtt, ...ids.http], {
    onBound: done => { if (done === total || done % 25 === 0) note(`  ${done}/${total} sensors registered`) }
  })
  const sensors = { mqtt: bound.slice(0, ids.mqtt.length), http: bound.slice(ids.mqtt.length) }
  const file = join(save, 'sensors.json')
  await writeSensorsFile(file, [...sensors.mqtt.map(s => ({ ...s, protocol: 'mqtt' as const })), ...sensors.http.map(s => ({ ...s, protocol: 'http' as const }))])
  note(`sensors and their credentials: ${file} (run again with --sensors ${file})`)
  return sensors
}

interface Display { update: (elapsedMs: number) => void, end: () => void }

/** On a terminal: the progress lines rewritten in place every second; else a plain line every 5 s. */
function display (sim: Simulation): Display {
  const tty = process.stderr.isTTY === true
  const everyMs = tty ? 1000 : 5000
  let last = { at: 0, acked: { mqtt: 0, http: 0 } as Record<Protocol, number> }
  let shown = 0
  let lastPrint = 0
  return {
    update (elapsedMs) {
      if (elapsedMs - lastPrint < everyMs) return
      lastPrint = elapsedMs
      const seconds = Math.max(0.001, (elapsedMs - last.at) / 1000)
      const protocols = {} as Record<Protocol, { summary: ReturnType<Simulation['recorders']['mqtt']['summary']>, window: TimeSummary, ratePerSecond: number }>
      for (const p of ['mqtt', 'http'] as const) {
        const r = sim.recorders[p]
        protocols[p] = { summary: r.summary(), window: r.takeWindow(), ratePerSecond: (r.acknowledged - last.acked[p]) / seconds }
      }
      last = { at: elapsedMs, acked: { mqtt: sim.recorders.mqtt.acknowledged, http: sim.recorders.http.acknowledged } }
      const lines = formatProgress({ elapsedMs, protocols })
      if (tty) {
        process.stderr.write(`${shown > 0 ? `\x1b[${shown}A` : ''}${lines.map(l => `\r\x1b[2K${l}`).join('\n')}\n`)
        shown = lines.length
      } else {
        for (const line of lines) process.stderr.write(`${line}\n`)
      }
    },
    end () { shown = 0 }
  }
}

async function simulate (args: Args): Promise<number> {
  let sensors: Record<Protocol, SensorCredentials[]>
  if (args.sensors !== undefined) sensors = assignSensors(args.sensors, await readSensorsFile(args.sensors), { mqtt: args.mqtt, http: args.http })
  else sensors = { mqtt: [], http: [] }
  // the collectors before anything is registered: a usage error costs nothing
  for (const p of ['mqtt', 'http'] as const) {
    const wanted = args.sensors !== undefined ? sensors[p].length : (args[p] ?? 0)
    if (wanted > 0 && args.collectors[p].length === 0) throw usageError(`${wanted} ${p} sensors need a ${p}:// collector URL (--collector).`)
  }
  if (args.sensors === undefined) sensors = await register(args)

  const sim = createSimulation({
    sensors,
    collectors: args.collectors,
    periodSeconds: args.period,
    speed: args.speed,
    qos: args.qos,
    keepAlive: args.keepAlive,
    seed: args.seed,
    timeoutMs: args.timeoutMs
  })
  const show = display(sim)
  let interrupted = false
  let finish: () => void = () => {}
  const finished = new Promise<void>(resolve => { finish = resolve })
  const onSignal = (): void => {
    if (interrupted) process.exit(130)
    interrupted = true
    note('\nstopping (Ctrl-C again to quit at once) ...')
    finish()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  let report: SimulationReport
  try {
    note(`${sensors.mqtt.length} MQTT and ${sensors.http.length} HTTP sensors, periods ${args.period.min}-${args.period.max} s / speed ${args.speed}` +
      (args.durationMs === undefined ? ', until Ctrl-C' : `, for ${args.durationMs / 1000} s`))
    await sim.start()
    const started = performance.now()
    const ticker = setInterval(() => { show.update(performance.now() - started) }, 250)
    const timer = args.durationMs === undefined ? undefined : setTimeout(finish, args.durationMs)
    if (!interrupted) await finished
    clearInterval(ticker)
    clearTimeout(timer)
    show.end()
    report = await sim.stop(Math.min(args.timeoutMs, 5000))
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  process.stdout.write(`${formatTable(report)}\n`)
  if (args.json !== undefined) {
    await writeFile(args.json, JSON.stringify({ ...report, interrupted }, null, 2) + '\n')
    note(`written: ${args.json}`)
  }
  const all = [report.protocols.mqtt, report.protocols.http]
  const complete = all.every(s => s.acknowledged + (s.unacknowledged ?? 0) === s.sent)
  return complete ? 0 : 1
}

export async function main (argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SIM_USAGE)
    return 0
  }
  try {
    return await simulate(parseSimArgs(argv))
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    process.stderr.write(`gatemesh sim: ${err.message} (${err.code})\n`)
    if (err.code === 'GM_ERR_CLI_USAGE') {
      process.stderr.write(`\n${SIM_USAGE}`)
      return 2
    }
    return 1
  }
}
