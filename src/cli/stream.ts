/**
 * The stream commands [STR-46] [STR-47]: `gatemesh token [--ttl 1h]` prints a stream token (the
 * MQTT password of the logged-in user, for stock clients such as mosquitto_sub), and
 * `gatemesh watch [SENSOR...] --stream URL[,URL...] [--json]` prints live readings, verified and
 * decrypted here, until Ctrl-C. Usage errors exit with 2, other failures with 1.
 */
import { parseArgs } from 'node:util'
import { GatemeshError, MAX_STREAM_TOKEN_TTL_SECONDS, isGatemeshError, isSensorId, parseDuration, toBase64 } from '../core/index.ts'
import { createClient, isStreamUrl, type Session, type StreamReading, type Subscription } from '../client/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { reportFailure } from './report.ts'
import { homeDirectory, loadSession, readPassword } from './user-state.ts'
import { openSession } from './user.ts'

export const TOKEN_USAGE = `usage:
  gatemesh token [--ttl D]
         print a stream token: the MQTT password of your user at any stream peer (user name:
         your pseudonym). D is how long it is valid: 90s, 30m, 1h (default), up to 24h. It is
         a bearer credential: whoever holds it reads your live readings' ciphertext until it
         expires. Example:
           mosquitto_sub -h HOST -p PORT -V mqttv311 -u PSEUDONYM -P "$(gatemesh token)" -t 'sensors/+/readings'

common options:
  --home DIR            where the session is kept (default $GATEMESH_HOME or ~/.gatemesh)
  --password-file F     the password is F's first line (else $GATEMESH_PASSWORD, else a prompt)
`

export const WATCH_USAGE = `usage:
  gatemesh watch [SENSOR...] --stream URL[,URL...] [--json]
         live readings of the SENSORs (default: every sensor you may read), each verified
         (its collector certified by your network's CA) and decrypted here, until Ctrl-C.
         URL: stream peers, mqtt://HOST:PORT or ws://HOST:PORT/mqtt (else $GATEMESH_STREAM);
         when one goes away, watch moves to the next. --json prints one object per line.

common options:
  --home DIR            where the session is kept (default $GATEMESH_HOME or ~/.gatemesh)
  --password-file F     the password is F's first line (else $GATEMESH_PASSWORD, else a prompt)
  --gateway URL         an access gateway, only to pin your network's CA if your session has none
`

type Values = Record<string, string | boolean | undefined>

function usageError (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_CLI_USAGE', detail)
}

function text (values: Values, name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

function note (line: string): void {
  process.stderr.write(`${line}\n`)
}

/**
 * The saved session opened with the password, without asking any gateway when the session holds
 * the network's CA (a token needs none); an old session without one pins it first (as `read` does).
 */
async function openSaved (values: Values, needsCa: boolean): Promise<Session> {
  const home = homeDirectory(text(values, 'home'))
  const saved = await loadSession(home)
  if (saved.ca === undefined && needsCa) return await openSession(values)
  const client = createClient({ gateway: text(values, 'gateway') ?? saved.gateway, caCertificate: saved.ca, suite: createNodeCryptoSuite() })
  const password = await readPassword({ file: text(values, 'password-file') })
  return await client.resume(saved.bundle, password, saved.pseudonym)
}

/** `--ttl 1h` → seconds: a duration of whole seconds, 1 s to 24 h. */
export function parseTtl (value: string | undefined): number {
  if (value === undefined) return 3600
  const ms = parseDuration(value)
  if (ms === undefined || ms % 1000 !== 0 || ms / 1000 > MAX_STREAM_TOKEN_TTL_SECONDS) {
    throw usageError(`--ttl '${value}' is not a duration of 1s to 24h (90s, 30m, 1h).`)
  }
  return ms / 1000
}

/** [STR-46] `gatemesh token`: the token alone on stdout; what it is for on stderr. */
async function token (values: Values): Promise<number> {
  const ttlSeconds = parseTtl(text(values, 'ttl'))
  const session = await openSaved(values, false)
  const issued = await session.streamToken({ ttlSeconds })
  process.stdout.write(`${issued}\n`)
  const until = new Date(Math.floor(Date.now() / 1000) * 1000 + ttlSeconds * 1000).toISOString()
  note(`stream token for ${session.pseudonym}, valid until ${until}: MQTT user name ${session.pseudonym}, password the token`)
  return 0
}

/** [STR-47] One reading as a line: a table row, or a JSON object as `read latest --json` prints it. */
export function formatStreamReading (reading: StreamReading, json: boolean): string {
  const time = new Date(reading.ts).toISOString()
  if (json) {
    const body = reading.text === undefined ? { base64: toBase64(reading.plaintext) } : { text: reading.text }
    return JSON.stringify({ sensor: reading.sensorId, seq: reading.seq, ts: reading.ts, time, gateway: reading.gateway, gatewayPeerId: reading.gatewayPeerId, ...body })
  }
  const value = (reading.text ?? toBase64(reading.plaintext)).replace(/[\r\n]+/g, ' ')
  return `${time.padEnd(25)} ${reading.sensorId.padEnd(24)} ${String(reading.seq).padEnd(17)} ${value}`
}

/** [STR-47] The stream URLs: --stream, else $GATEMESH_STREAM; comma-separated. */
export function parseStreamUrls (option: string | undefined): string[] {
  const env = process.env.GATEMESH_STREAM
  const given = option ?? (env !== undefined && env !== '' ? env : undefined)
  if (given === undefined) throw usageError('watch needs --stream URL[,URL...] (or $GATEMESH_STREAM).')
  const urls = given.split(',').map(url => url.trim()).filter(url => url !== '')
  if (urls.length === 0) throw usageError('--stream names no URL.')
  for (const url of urls) {
    if (!isStreamUrl(url)) throw usageError(`'${url}' is not an mqtt://HOST:PORT or ws://HOST:PORT/mqtt URL.`)
  }
  return urls
}

/** The sensors of readings topics, as a person reads them. */
function sensorsOf (topics: string[]): string {
  return topics.map(topic => topic === 'sensors/+/readings' ? 'every sensor you may read' : `'${topic.split('/')[1] ?? topic}'`).join(', ')
}

/**
 * [STR-47] `gatemesh watch`: readings on stdout (the table's header before the first one) until
 * SIGINT or SIGTERM; states and problems on stderr. A subscription the stream peer refuses
 * whole (no sensor named may be read, or none exists) ends it with that error (exit 1).
 */
async function watch (values: Values, sensors: string[]): Promise<number> {
  // the arguments first: a usage error before the password is asked for
  const urls = parseStreamUrls(text(values, 'stream'))
  for (const id of sensors) if (!isSensorId(id)) throw usageError(`'${id}' is not a sensor id (1 to 128 of [A-Za-z0-9._-]).`)
  const json = values.json === true
  const session = await openSaved(values, true)
  let headed = json
  let finish: (failure?: GatemeshError) => void = () => {}
  const ended = new Promise<GatemeshError | undefined>(resolve => { finish = resolve })
  const stop = (): void => { finish() }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  const subscription: Subscription = session.subscribe(sensors.length === 0 ? 'all' : sensors, reading => {
    if (!headed) {
      headed = true
      process.stdout.write(`${'TIME'.padEnd(25)} ${'SENSOR'.padEnd(24)} ${'SEQ'.padEnd(17)} VALUE\n`)
    }
    process.stdout.write(`${formatStreamReading(reading, json)}\n`)
  }, {
    urls,
    onState: (state, info) => {
      if (state === 'reconnecting') note(`${info.wasConnected === true ? 'lost' : 'could not connect to'} ${info.previous ?? 'the stream peer'}; ${info.url === info.previous ? 'trying again' : `trying ${info.url}`} in ${((info.delayMs ?? 0) / 1000).toFixed(1)} s`)
    },
    onSubscribed: ({ url, granted, refused }) => {
      if (granted.length === 0) {
        finish(new GatemeshError('GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED', `${sensorsOf(refused)} at ${url}: nothing to watch.`))
        return
      }
      if (refused.length > 0) note(`warning: not watching ${sensorsOf(refused)}: the stream peer refused (GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED)`)
      note(`watching ${sensorsOf(granted)} at ${url} (Ctrl-C ends)`)
    },
    // [STR-41] refused topics are told once, above
    onError: err => { if (err.code !== 'GM_ERR_CLIENT_STREAM_SUBSCRIBE_REFUSED') note(`warning: ${err.message} (${err.code})`) }
  })
  const failure = await ended
  process.off('SIGINT', stop)
  process.off('SIGTERM', stop)
  await subscription.close()
  if (failure !== undefined) throw failure
  note('stopped')
  return 0
}

const OPTIONS = {
  home: { type: 'string' },
  'password-file': { type: 'string' },
  gateway: { type: 'string' },
  ttl: { type: 'string' },
  stream: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

async function dispatch (name: 'token' | 'watch', argv: string[]): Promise<number> {
  const usage = name === 'token' ? TOKEN_USAGE : WATCH_USAGE
  try {
    let parsed
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
    } catch (err) {
      throw usageError(err instanceof Error ? err.message : String(err))
    }
    const values = parsed.values as Values
    if (values.help === true) {
      process.stdout.write(usage)
      return 0
    }
    const allowed = name === 'token' ? ['home', 'password-file', 'ttl'] : ['home', 'password-file', 'gateway', 'stream', 'json']
    const extra = Object.keys(values).filter(option => values[option] !== undefined && !allowed.includes(option))
    if (extra.length > 0) throw usageError(`'${name}' does not take --${extra.join(', --')}.`)
    if (name === 'token') {
      if (parsed.positionals.length > 0) throw usageError('\'token\' takes no arguments.')
      return await token(values)
    }
    return await watch(values, parsed.positionals)
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    return reportFailure(name, err, usage)
  }
}

export async function tokenMain (argv: string[]): Promise<number> { return await dispatch('token', argv) }
export async function watchMain (argv: string[]): Promise<number> { return await dispatch('watch', argv) }
