/**
 * The user commands [ACS-15]: `gatemesh signup`, `login`, `sensor add|share|revoke|list|show|set-retention`,
 * `read latest`. Thin over src/client: every key is made and used in this process, the gateway sees
 * the sealed bundle, signed records and ciphertext only. Usage errors exit with 2, other failures
 * with 1; every error message ends with its code.
 */
import { constants } from 'node:os'
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { GatemeshError, formatRetention, isGatemeshError, isPseudonym, isSensorId, parseRetention, toBase64 } from '../core/index.ts'
import { createClient } from '../client/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { createWorkerPages } from '../platform/history-pages.ts'
import type { NetworkInfo, Session } from '../client/index.ts'
import { joinRelativeTimes, parseHistoryArgs, printHistory } from './history.ts'
import { reportFailure } from './report.ts'
import { homeDirectory, loadSession, prepareHome, readCaCertificate, readPassword, saveSession } from './user-state.ts'

export const USER_USAGE = `usage:
  gatemesh signup --gateway URL [--kdf-iterations N] [--ca-cert FILE]
         create keys and an account; prints the pseudonym
  gatemesh login  --gateway URL --pseudonym P [--ca-cert FILE]
         fetch the account's sealed bundle and open it here
         Both pin the network's CA certificate: FILE (PEM or DER; else $GATEMESH_CA_CERT), or the
         one the gateway serves (trust on first use); its SHA-256 fingerprint is shown.
  gatemesh sensor add ID [--retention R]
                                       bind a new sensor; prints its credential (shown once)
  gatemesh sensor share ID PSEUDONYM   let PSEUDONYM read the sensor
  gatemesh sensor revoke ID PSEUDONYM  stop sealing new readings for PSEUDONYM
  gatemesh sensor set-retention ID R   keep the sensor's readings for R
  gatemesh sensor show ID [--json]     the sensor's record: owner, readers, retention
  gatemesh sensor list [--json]        the sensors you own and those shared with you
         R (retention): how long persistence peers keep its readings: a duration (90m, 12h,
         30d; 1 minute to 36525d) or 'forever'; default 30d.
  gatemesh read latest ID [--json]     the latest reading, decrypted here
  gatemesh read history ID [--from T] [--to T] [--limit N] [--order asc|desc] [--format table|json|csv]
         readings in a range, each page verified (checkpoints, collector certificates) and
         decrypted here; T is ISO 8601, ms since the epoch, 'now', or -30m, -1h, -7d (default
         --from: an hour before --to; --to: a minute from now); --limit N prints at most N
         readings (default all); json prints one object per line

common options:
  --home DIR            where the session is kept (default $GATEMESH_HOME or ~/.gatemesh)
  --password-file F     the password is F's first line (else $GATEMESH_PASSWORD, else a prompt)
  --gateway URL         any access gateway (default: the one you logged in at)
`

const OPTIONS: ParseArgsConfig['options'] = {
  gateway: { type: 'string' },
  pseudonym: { type: 'string' },
  home: { type: 'string' },
  'password-file': { type: 'string' },
  'kdf-iterations': { type: 'string' },
  'ca-cert': { type: 'string' },
  retention: { type: 'string' },
  json: { type: 'boolean' },
  from: { type: 'string' },
  to: { type: 'string' },
  limit: { type: 'string' },
  order: { type: 'string' },
  format: { type: 'string' },
  help: { type: 'boolean', short: 'h' }
}

type Values = Record<string, string | boolean | undefined>

interface Command {
  /** Positional arguments after the command words. */
  args: number
  /** What the positional arguments are: a sensor id, a pseudonym; checked before the password is asked for. */
  kinds?: Array<'sensor' | 'pseudonym'>
  options: string[]
  run: (values: Values, args: string[]) => Promise<number>
}

/** A sensor id or a pseudonym on the command line: a usage error when it cannot be one, before the password is asked for. */
function checkArgument (kind: 'sensor' | 'pseudonym', value: string): void {
  if (kind === 'sensor' && !isSensorId(value)) throw usageError(`'${value}' is not a sensor id (1 to 128 of [A-Za-z0-9._-], not . or ..).`)
  if (kind === 'pseudonym' && !isPseudonym(value)) throw usageError(`'${value}' is not a pseudonym (52 characters of a-z and 2-7, as 'gatemesh signup' prints it).`)
}

const COMMON = ['home', 'password-file', 'gateway']

/**
 * The CLI runs on Node only: node:crypto's synchronous primitives (the gateways' suite, held to the
 * same known-answer vectors as WebCrypto's) make reading history several times cheaper per reading.
 */
let suite: ReturnType<typeof createNodeCryptoSuite> | undefined
function cliSuite (): ReturnType<typeof createNodeCryptoSuite> {
  suite ??= createNodeCryptoSuite()
  return suite
}

function usageError (detail: string): GatemeshError {
  return new GatemeshError('GM_ERR_CLI_USAGE', detail)
}

function out (text: string): void {
  process.stdout.write(`${text}\n`)
}

function note (text: string): void {
  process.stderr.write(`${text}\n`)
}

function text (values: Values, name: string): string | undefined {
  const value = values[name]
  return typeof value === 'string' ? value : undefined
}

/** [ACS-20] Shows the pinned CA's fingerprint, and how it came to be trusted. */
function showNetwork (network: NetworkInfo, given: boolean): void {
  const how = given ? 'as given' : network.firstUse ? 'trusted on first use: compare it with the fingerprint your network publishes' : 'as pinned before'
  note(`network CA (SHA-256): ${network.fingerprint} (${how})`)
}

/**
 * The saved session opened with the password; `--gateway` picks another gateway for this run.
 * [ACS-20] The gateway must serve the pinned CA; a session file without one pins it now.
 */
export async function openSession (values: Values): Promise<Session> {
  const home = homeDirectory(text(values, 'home'))
  const saved = await loadSession(home)
  // [PER-53] history pages verified and opened on a worker thread
  const client = createClient({ gateway: text(values, 'gateway') ?? saved.gateway, caCertificate: saved.ca, suite: cliSuite(), historyPages: createWorkerPages })
  const password = await readPassword({ file: text(values, 'password-file') })
  const opened = await client.resume(saved.bundle, password, saved.pseudonym)
  const network = await client.network()
  if (saved.ca === undefined) {
    await saveSession(home, { ...saved, ca: network.caCertificate })
    showNetwork(network, false)
  }
  return opened
}

/**
 * [ACS-16] Runs the part of `signup` or `login` that ends with the session saved in `home`. The home
 * is made first (an account is never made that cannot be saved); when the command then fails, or
 * is stopped by SIGINT or SIGTERM before the session is saved, what it made is taken away again,
 * so a failed command leaves the file system as it found it.
 */
async function intoHome<T> (home: string, work: () => Promise<T>): Promise<T> {
  const prepared = await prepareHome(home)
  const stop = (signal: NodeJS.Signals): void => {
    prepared.undo()
    process.exit(128 + constants.signals[signal])
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    return await work()
  } catch (err) {
    prepared.undo()
    throw err
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

async function signup (values: Values): Promise<number> {
  const gateway = text(values, 'gateway')
  if (gateway === undefined) throw usageError('signup needs --gateway URL.')
  const iterationsText = text(values, 'kdf-iterations')
  const kdfIterations = iterationsText === undefined ? undefined : Number(iterationsText)
  if (kdfIterations !== undefined && (!Number.isSafeInteger(kdfIterations) || kdfIterations <= 0)) throw usageError('--kdf-iterations must be a positive integer.')
  const caCertificate = await readCaCertificate(text(values, 'ca-cert'))
  const home = homeDirectory(text(values, 'home'))
  const client = createClient({ gateway, kdfIterations, caCertificate, suite: cliSuite() })
  const { network, result, path } = await intoHome(home, async () => {
    // the network first: a gateway of another network fails before the password is asked for
    const network = await client.network()
    const password = await readPassword({ file: text(values, 'password-file'), confirm: true })
    const result = await client.signup(password)
    const path = await saveSession(home, { gateway: client.gateway, pseudonym: result.pseudonym, bundle: result.bundle, ca: result.caCertificate })
    return { network, result, path }
  })
  out(result.pseudonym)
  note(`signed up at ${client.gateway}; your sealed keys are in ${path}`)
  showNetwork(network, caCertificate !== undefined)
  return 0
}

async function login (values: Values): Promise<number> {
  const gateway = text(values, 'gateway')
  const pseudonym = text(values, 'pseudonym')
  if (gateway === undefined || pseudonym === undefined) throw usageError('login needs --gateway URL and --pseudonym P.')
  const caCertificate = await readCaCertificate(text(values, 'ca-cert'))
  const home = homeDirectory(text(values, 'home'))
  const client = createClient({ gateway, caCertificate, suite: cliSuite() })
  const { network, path } = await intoHome(home, async () => {
    const network = await client.network()
    const password = await readPassword({ file: text(values, 'password-file') })
    const opened = await client.login(pseudonym, password)
    const path = await saveSession(home, { gateway: client.gateway, pseudonym, bundle: opened.bundle, ca: network.caCertificate })
    return { network, path }
  })
  out(pseudonym)
  note(`logged in at ${client.gateway}; your sealed keys are in ${path}`)
  showNetwork(network, caCertificate !== undefined)
  return 0
}

/** [SEN-2] `30d`, `12h`, `forever` → seconds; anything else is a usage error (exit 2). */
function retention (value: string, what: string): number {
  try {
    return parseRetention(value)
  } catch (err) {
    throw usageError(`${what}: ${err instanceof Error ? err.message.replace(/^The input is not well formed\. /, '') : String(err)}`)
  }
}

async function sensorAdd (values: Values, [id]: string[]): Promise<number> {
  const given = text(values, 'retention')
  const seconds = given === undefined ? undefined : retention(given, '--retention')
  const { credential } = await (await openSession(values)).addSensor(id as string, { retention: seconds })
  out(credential)
  note(`sensor ${id as string} bound, its readings kept ${seconds === undefined ? 'for 30d (the default)' : seconds === 0 ? 'forever' : `for ${formatRetention(seconds)}`}. Its credential (above) is shown once: configure the sensor with it now.`)
  return 0
}

async function sensorSetRetention (values: Values, [id, value]: string[]): Promise<number> {
  const seconds = retention(value as string, 'The retention')
  const result = await (await openSession(values)).setRetention(id as string, seconds)
  note(`${id as string}: readings kept ${seconds === 0 ? 'forever' : `for ${formatRetention(seconds)}`} (record seq ${result.seq}).`)
  out(formatRetention(result.retentionSeconds))
  return 0
}

async function sensorShow (values: Values, [id]: string[]): Promise<number> {
  const info = await (await openSession(values)).sensor(id as string)
  const shown = {
    id: info.sensorId,
    seq: info.seq,
    owner: info.owner.pseudonym,
    readers: info.readers.map(r => r.pseudonym),
    retentionSeconds: info.retentionSeconds,
    retention: formatRetention(info.retentionSeconds)
  }
  if (values.json === true) {
    out(JSON.stringify(shown))
    return 0
  }
  out(`sensor:    ${shown.id} (record seq ${shown.seq})`)
  out(`owner:     ${shown.owner}`)
  out(`readers:   ${shown.readers.length === 0 ? '-' : shown.readers.join(', ')}`)
  out(`retention: ${shown.retention}`)
  return 0
}

async function sensorShare (values: Values, [id, pseudonym]: string[]): Promise<number> {
  const result = await (await openSession(values)).share(id as string, pseudonym as string)
  note(`${pseudonym as string} may now read ${id as string} (record seq ${result.seq}); readers:`)
  for (const reader of result.readers) out(reader)
  return 0
}

async function sensorRevoke (values: Values, [id, pseudonym]: string[]): Promise<number> {
  const result = await (await openSession(values)).revoke(id as string, pseudonym as string)
  note(`${pseudonym as string} removed from ${id as string} (record seq ${result.seq}); readings from now on are not sealed for it. Readers:`)
  for (const reader of result.readers) out(reader)
  return 0
}

async function sensorList (values: Values): Promise<number> {
  const list = await (await openSession(values)).listSensors()
  if (values.json === true) {
    out(JSON.stringify(list))
    return 0
  }
  out(`owned (${list.owned.length}):`)
  for (const sensor of list.owned) out(`  ${sensor.id}  readers: ${sensor.readers.length === 0 ? '-' : sensor.readers.join(', ')}`)
  out(`shared with you (${list.shared.length}):`)
  for (const sensor of list.shared) out(`  ${sensor.id}  owner: ${sensor.owner}`)
  return 0
}

async function readLatest (values: Values, [id]: string[]): Promise<number> {
  const reading = await (await openSession(values)).readLatest(id as string)
  const when = new Date(reading.ts).toISOString()
  if (values.json === true) {
    const body = reading.text === undefined ? { base64: toBase64(reading.plaintext) } : { text: reading.text }
    out(JSON.stringify({ sensor: id, seq: reading.seq, ts: reading.ts, time: when, gateway: reading.gateway, gatewayPeerId: reading.gatewayPeerId, ...body }))
    return 0
  }
  note(`${id as string}: reading ${reading.seq} at ${when}, sealed by collector ${reading.gatewayPeerId} (certified by your network's CA)`)
  out(reading.text ?? toBase64(reading.plaintext))
  return 0
}

async function readHistory (values: Values, [id]: string[]): Promise<number> {
  // the arguments first: a usage error before the password is asked for
  const args = parseHistoryArgs(values, Date.now())
  return await printHistory(await openSession(values), id as string, args, { out, err: text => { process.stderr.write(text) }, tty: process.stderr.isTTY })
}

const COMMANDS: Record<string, Command> = {
  signup: { args: 0, options: ['kdf-iterations', 'ca-cert'], run: signup },
  login: { args: 0, options: ['pseudonym', 'ca-cert'], run: login },
  'sensor add': { args: 1, kinds: ['sensor'], options: ['retention'], run: sensorAdd },
  'sensor set-retention': { args: 2, kinds: ['sensor'], options: [], run: sensorSetRetention },
  'sensor show': { args: 1, kinds: ['sensor'], options: ['json'], run: sensorShow },
  'sensor share': { args: 2, kinds: ['sensor', 'pseudonym'], options: [], run: sensorShare },
  'sensor revoke': { args: 2, kinds: ['sensor', 'pseudonym'], options: [], run: sensorRevoke },
  'sensor list': { args: 0, options: ['json'], run: sensorList },
  'read latest': { args: 1, kinds: ['sensor'], options: ['json'], run: readLatest },
  'read history': { args: 1, kinds: ['sensor'], options: ['from', 'to', 'limit', 'order', 'format'], run: readHistory }
}

/** Runs one user command; `words` are the command words, e.g. ['sensor', 'add']. */
async function dispatch (group: string, argv: string[]): Promise<number> {
  try {
    const sub = group === 'signup' || group === 'login' ? undefined : argv[0]
    if (sub === '--help' || sub === '-h' || argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(USER_USAGE)
      return 0
    }
    const name = sub === undefined ? group : `${group} ${sub}`
    const command = COMMANDS[name]
    if (command === undefined) throw usageError(sub === undefined ? `'${group}' needs a command.` : `Unknown command '${name}'.`)
    let parsed
    try {
      parsed = parseArgs({ args: joinRelativeTimes(sub === undefined ? argv : argv.slice(1)), options: OPTIONS, allowPositionals: true, strict: true })
    } catch (err) {
      throw usageError(err instanceof Error ? err.message : String(err))
    }
    const values = parsed.values as Values
    const extra = Object.keys(values).filter(option => values[option] !== undefined && !COMMON.includes(option) && !command.options.includes(option))
    if (extra.length > 0) throw usageError(`'${name}' does not take --${extra.join(', --')}.`)
    if (parsed.positionals.length !== command.args) throw usageError(`'${name}' takes ${command.args} argument(s), got ${parsed.positionals.length}.`)
    for (const [i, kind] of (command.kinds ?? []).entries()) checkArgument(kind, parsed.positionals[i] as string)
    return await command.run(values, parsed.positionals)
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    return reportFailure(group, err, USER_USAGE)
  }
}

export async function signupMain (argv: string[]): Promise<number> { return await dispatch('signup', argv) }
export async function loginMain (argv: string[]): Promise<number> { return await dispatch('login', argv) }
export async function sensorMain (argv: string[]): Promise<number> { return await dispatch('sensor', argv) }
export async function readMain (argv: string[]): Promise<number> { return await dispatch('read', argv) }
